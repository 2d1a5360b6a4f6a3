package hssclient

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// ErrInvalidRequest is matched (errors.Is) by every validation failure, of
// every API's request: the request itself is wrong, so sending it again
// cannot help. Classify puts it in ClassPermanent.
var ErrInvalidRequest = errors.New("invalid HSS request")

// FieldError says which field breaks which rule. Validate joins one per
// broken field (errors.Join), so errors.As finds the first and
// InvalidItems lists every item at fault.
type FieldError struct {
	// Field is the JSON path, e.g. image_info_list[3].namespace or
	// target.region.
	Field string
	// Item is the index into image_info_list of the item at fault, or -1
	// when the field is not an item's. The queue uses it to set the bad
	// item aside without asking HSS.
	Item int
	// Rule names the broken rule (validator tag style: required, min, max,
	// oneof, ...). For min and max, Param is a length for text and a value
	// for numbers and lists, as in the reference.
	Rule string
	// Param is the rule's parameter, e.g. the limit of max.
	Param string
	// Value is the offending value, cut to 80 characters. Requests carry no
	// secrets, so it is safe to log.
	Value string
}

func (e *FieldError) Error() string {
	switch e.Rule {
	case "required":
		return e.Field + " is required"
	case "min":
		return fmt.Sprintf("%s %q is under the HSS minimum of %s", e.Field, e.Value, e.Param)
	case "max":
		return fmt.Sprintf("%s %q is over the HSS maximum of %s", e.Field, e.Value, e.Param)
	case "oneof":
		return fmt.Sprintf("%s %q is not one of %s", e.Field, e.Value, strings.ReplaceAll(e.Param, " ", ", "))
	default:
		// Rules written out below carry their sentence in Param.
		return e.Field + ": " + e.Param
	}
}

// Unwrap makes every FieldError match ErrInvalidRequest.
func (e *FieldError) Unwrap() error { return ErrInvalidRequest }

// InvalidItems returns the sorted, distinct indexes of the image_info_list
// items that err blames (nil when err blames no item, or is no validation
// error).
func InvalidItems(err error) []int {
	var items []int
	walk(err, func(e error) {
		if fe, ok := e.(*FieldError); ok && fe.Item >= 0 {
			items = append(items, fe.Item)
		}
	})
	slices.Sort(items)
	return slices.Compact(items)
}

// walk visits every error of the tree under err, through Unwrap() error and
// Unwrap() []error, as errors.Is does.
func walk(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, visit)
		}
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), visit)
	}
}

// validate is shared: a validator caches struct metadata and is safe for
// concurrent use. Field names are the JSON names users see in the API
// reference.
var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return v
}()

// Validate checks the request against every limit and rule of the API
// reference, plus the project's rule that a scan is either targeted or
// full, never both:
//
//   - image_type is required and one of private_image, shared_image,
//     instance_image;
//   - image_info_list holds at most MaxImages items; each item's names obey
//     the item limits, and instance_image items carry an instance_id;
//   - an empty image_info_list needs operate_all true ("mandatory when
//     image_info_list is empty"; the list "is mandatory when operate_all is
//     false");
//   - operate_all true with a non-empty list is refused, and so are filters
//     on a targeted scan: the reference does not say which one HSS would
//     obey, and the design sends the list only for targeted scans and the
//     filters only for full scans;
//   - filters obey their lengths, enumerations and 0..MaxNumber ranges.
//
// It returns nil or an error joining one *FieldError per broken rule.
func (r BatchScanRequest) Validate() error {
	errs := structErrors(r)
	full := r.IsFullScan()
	switch {
	case len(r.ImageInfoList) == 0 && !full:
		errs = append(errs, &FieldError{Field: "operate_all", Item: -1, Rule: "required_without",
			Param: "must be true when image_info_list is empty (a full scan), or list the images to scan"})
	case len(r.ImageInfoList) > 0 && full:
		errs = append(errs, &FieldError{Field: "image_info_list", Item: -1, Rule: "excluded_with",
			Param: "a full scan (operate_all true) must not also list images"})
	case !full && r.hasFilters():
		errs = append(errs, &FieldError{Field: "operate_all", Item: -1, Rule: "required_with",
			Param: "filters (namespace, image_name, image_version, scan_status, latest_version, image_size, *_time) apply to full scans only"})
	}
	if r.ImageType == InstanceImage {
		for i, it := range r.ImageInfoList {
			if it.InstanceID == "" {
				errs = append(errs, &FieldError{Field: fmt.Sprintf("image_info_list[%d].instance_id", i), Item: i,
					Rule: "required_if", Param: "is required for instance_image (SWR Enterprise Edition) items"})
			}
		}
	}
	return errors.Join(errs...)
}

// Validate checks the target: the region names the endpoint host and the
// region header, so it must be a plain region id (lower-case letters,
// digits and dashes, at most MaxRegionLen); the project id is one path
// segment of 1..MaxProjectIDLen characters; the enterprise project id, when
// set, has at most MaxEnterpriseProjectIDLen characters.
func (t Target) Validate() error {
	var errs []error
	add := func(field, rule, param, value string) {
		errs = append(errs, &FieldError{Field: "target." + field, Item: -1, Rule: rule, Param: param, Value: shorten(value)})
	}
	switch {
	case t.Region == "":
		add("region", "required", "", "")
	case utf8.RuneCountInString(t.Region) > MaxRegionLen:
		add("region", "max", strconv.Itoa(MaxRegionLen), t.Region)
	case strings.Trim(t.Region, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || t.Region[0] == '-':
		add("region", "region_id", "must hold only lower-case letters, digits and dashes, like cn-north-4", t.Region)
	}
	switch {
	case t.ProjectID == "":
		add("project_id", "required", "", "")
	case utf8.RuneCountInString(t.ProjectID) > MaxProjectIDLen:
		add("project_id", "max", strconv.Itoa(MaxProjectIDLen), t.ProjectID)
	case strings.ContainsAny(t.ProjectID, "/\\") || t.ProjectID == "." || t.ProjectID == "..":
		add("project_id", "path_segment", "must be one path segment", t.ProjectID)
	}
	if utf8.RuneCountInString(t.EnterpriseProjectID) > MaxEnterpriseProjectIDLen {
		add("enterprise_project_id", "max", strconv.Itoa(MaxEnterpriseProjectIDLen), t.EnterpriseProjectID)
	}
	return errors.Join(errs...)
}

// structErrors checks v's validate tags and returns one *FieldError per
// broken rule, its Field the JSON path.
func structErrors(v any) []error {
	err := validate.Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return []error{fmt.Errorf("validate request: %w: %w", ErrInvalidRequest, err)}
	}
	errs := make([]error, 0, len(verrs))
	for _, fe := range verrs {
		field := fe.Namespace()
		if _, rest, ok := strings.Cut(field, "."); ok {
			field = rest
		}
		errs = append(errs, &FieldError{
			Field: field, Item: itemIndex(field), Rule: fe.Tag(), Param: fe.Param(),
			Value: shorten(fmt.Sprint(fe.Value())),
		})
	}
	return errs
}

// itemIndex reads N from a field path starting with image_info_list[N]
// (batch scan) or image_info[N] (scan task).
func itemIndex(field string) int {
	rest, ok := strings.CutPrefix(field, "image_info_list[")
	if !ok {
		rest, ok = strings.CutPrefix(field, "image_info[")
	}
	if !ok {
		return -1
	}
	n, _, ok := strings.Cut(rest, "]")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return i
}

func shorten(v string) string {
	if utf8.RuneCountInString(v) > 80 {
		return string([]rune(v)[:77]) + "..."
	}
	return v
}

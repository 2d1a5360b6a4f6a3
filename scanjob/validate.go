package scanjob

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// validate is shared: a validator caches struct metadata and is safe for
// concurrent use.
var validate = validator.New(validator.WithRequiredStructEnabled())

// FieldError says which field of a job breaks which limit, in words a
// registry administrator can act on.
type FieldError struct {
	Field string // JSON name, e.g. image_name or target.region
	Rule  string // validator tag, e.g. max, or RuleGrammar for the OCI name grammar
	Param string // the limit, e.g. 64, or for RuleGrammar what the grammar allows
	// Value is the offending value, clipped to maxValueBytes: the value is
	// sender-controlled and ends up in answers and logs, so a body of a
	// megabyte must not be echoed back.
	Value string
	// Length is the length of the whole value in characters, before
	// clipping.
	Length int
}

// maxValueBytes bounds FieldError.Value.
const maxValueBytes = 80

func newFieldError(field, rule, param, value string) *FieldError {
	return &FieldError{Field: field, Rule: rule, Param: param, Value: clip(value, maxValueBytes), Length: utf8.RuneCountInString(value)}
}

// Error quotes the value with %q, so control characters, bidi marks and
// invalid UTF-8 show escaped instead of acting on the reader's terminal.
func (e *FieldError) Error() string {
	switch e.Rule {
	case "required", "required_if":
		return fmt.Sprintf("%s is required", e.Field)
	case "min":
		return fmt.Sprintf("%s must be at least %s characters", e.Field, e.Param)
	case "max":
		return fmt.Sprintf("%s %q is %d characters, the HSS limit is %s", e.Field, e.Value, e.Length, e.Param)
	case "oneof":
		return fmt.Sprintf("%s %q is not one of %s", e.Field, e.Value, strings.ReplaceAll(e.Param, " ", ", "))
	case RuleGrammar:
		return fmt.Sprintf("%s %q: not a valid %s", e.Field, e.Value, e.Param)
	default:
		return fmt.Sprintf("%s %q fails %s %s", e.Field, e.Value, e.Rule, e.Param)
	}
}

// clip cuts s to at most n bytes, ending in "..." when cut. It cuts on a
// rune boundary but keeps invalid UTF-8 bytes as they are, so %q still
// shows them as \xNN.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return s[:cut] + "..."
}

// Validate checks a job against the HSS field limits and its names
// (namespace, image name, tag, digest, registry host) against the OCI
// distribution grammar (names.go). It returns nil or an error joining one
// *FieldError per broken field.
//
// A job that is plainly valid is passed without the validator, whose
// reflection costs more per job than the rest of the intake's own work;
// any other job is checked, and refused, by the validator and the
// grammar as before.
func (j Job) Validate() error {
	if j.plainlyValid() {
		return nil
	}
	return j.validate()
}

// validate is Validate without the fast path.
func (j Job) validate() error {
	fes, err := fieldErrors(validate.Struct(j))
	if err != nil {
		return err
	}
	failed := make(map[string]bool, len(fes))
	errs := make([]error, 0, len(fes))
	for _, fe := range fes {
		failed[fe.Field] = true
		errs = append(errs, fe)
	}
	errs = append(errs, j.nameErrors(failed)...)
	return errors.Join(errs...)
}

// plainlyValid reports whether j certainly passes validate: every rule of
// the validate tags on Job and Target, written out, and the name fast
// paths (names_fast.go). It may say false for a valid job (an IPv6 host,
// a sha512 digest), never true for an invalid one; FuzzValidateFastPath
// holds it to validate. Keep it in step with the tags: TestPlainlyValid…
// names every rule.
func (j *Job) plainlyValid() bool {
	t := &j.Target
	return j.Receiver != "" && within(j.Receiver, 64) &&
		j.Registry != "" && within(j.Registry, 64) &&
		within(j.RegistryHost, 256) && (j.RegistryHost == "" || isDomainHost(j.RegistryHost)) &&
		within(j.Namespace, 64) && isPathComponent(j.Namespace) &&
		within(j.Image, 128) && isImageName(j.Image) &&
		isTag(j.Tag) && // at most 128 bytes
		within(j.Digest, 256) && (j.Digest == "" || isSHA256Digest(j.Digest)) &&
		within(j.InstanceID, 128) && (j.InstanceID != "" || t.ImageType != InstanceImage) &&
		within(j.InstanceURL, 256) &&
		within(j.EventID, 256) &&
		within(j.RequestID, 128) &&
		t.Region != "" && within(t.Region, 128) &&
		t.ProjectID != "" && within(t.ProjectID, 256) &&
		within(t.EnterpriseProjectID, 256) &&
		(t.ImageType == PrivateImage || t.ImageType == SharedImage || t.ImageType == InstanceImage) &&
		(j.Lane == "" || j.Lane == LanePush || j.Lane == LaneSweep || j.Lane == LaneSchedule || j.Lane == LaneRedrive)
}

// within reports whether s has at most n characters, as the validator's
// max counts them (runes).
func within(s string, n int) bool {
	return len(s) <= n || utf8.RuneCountInString(s) <= n
}

// Validate checks a target on its own (receivers check theirs at start).
func (t Target) Validate() error {
	fes, err := fieldErrors(validate.Struct(t))
	if err != nil {
		return err
	}
	errs := make([]error, 0, len(fes))
	for _, fe := range fes {
		errs = append(errs, fe)
	}
	return errors.Join(errs...)
}

// fieldErrors turns the validator's errors into FieldErrors. The error is
// for anything else the validator returns (a programming error).
func fieldErrors(err error) ([]*FieldError, error) {
	if err == nil {
		return nil, nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return nil, fmt.Errorf("validate job: %w", err)
	}
	fes := make([]*FieldError, 0, len(verrs))
	for _, fe := range verrs {
		fes = append(fes, newFieldError(jsonPath(fe.StructNamespace()), fe.Tag(), fe.Param(), fmt.Sprint(fe.Value())))
	}
	return fes, nil
}

// jsonNames maps Go field names to the JSON names users see in answers.
var jsonNames = map[string]string{
	"Receiver": "receiver", "Registry": "registry", "RegistryHost": "registry_host",
	"Namespace": "namespace", "Image": "image_name", "Tag": "image_version",
	"Digest": "digest", "InstanceID": "instance_id", "InstanceURL": "instance_url",
	"Target": "target", "EventID": "event_id", "RequestID": "request_id", "Region": "region", "ProjectID": "project_id",
	"EnterpriseProjectID": "enterprise_project_id", "ImageType": "image_type", "Lane": "lane",
}

// jsonPath turns "Job.Target.Region" into "target.region".
func jsonPath(ns string) string {
	parts := strings.Split(ns, ".")[1:]
	for i, p := range parts {
		if n, ok := jsonNames[p]; ok {
			parts[i] = n
		}
	}
	return strings.Join(parts, ".")
}

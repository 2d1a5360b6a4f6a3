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
	Rule  string // validator tag, e.g. max
	Param string // the limit, e.g. 64
	Value string // the offending value, cut to 80 characters
}

func (e *FieldError) Error() string {
	n := utf8.RuneCountInString(e.Value)
	switch e.Rule {
	case "required", "required_if":
		return fmt.Sprintf("%s is required", e.Field)
	case "min":
		return fmt.Sprintf("%s must be at least %s characters", e.Field, e.Param)
	case "max":
		return fmt.Sprintf("%s %q is %d characters, the HSS limit is %s", e.Field, e.Value, n, e.Param)
	case "oneof":
		return fmt.Sprintf("%s %q is not one of %s", e.Field, e.Value, strings.ReplaceAll(e.Param, " ", ", "))
	default:
		return fmt.Sprintf("%s %q fails %s %s", e.Field, e.Value, e.Rule, e.Param)
	}
}

// Validate checks a job against the HSS field limits. It returns nil or an
// error joining one *FieldError per broken field.
func (j Job) Validate() error {
	return structErrors(validate.Struct(j))
}

// Validate checks a target on its own (receivers check theirs at start).
func (t Target) Validate() error {
	return structErrors(validate.Struct(t))
}

func structErrors(err error) error {
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("validate job: %w", err)
	}
	errs := make([]error, 0, len(verrs))
	for _, fe := range verrs {
		v := fmt.Sprint(fe.Value())
		if utf8.RuneCountInString(v) > 80 {
			v = string([]rune(v)[:77]) + "..."
		}
		errs = append(errs, &FieldError{Field: jsonPath(fe.StructNamespace()), Rule: fe.Tag(), Param: fe.Param(), Value: v})
	}
	return errors.Join(errs...)
}

// jsonNames maps Go field names to the JSON names users see in answers.
var jsonNames = map[string]string{
	"Receiver": "receiver", "Registry": "registry", "RegistryHost": "registry_host",
	"Namespace": "namespace", "Image": "image_name", "Tag": "image_version",
	"Digest": "digest", "InstanceID": "instance_id", "InstanceURL": "instance_url",
	"Target": "target", "EventID": "event_id", "Region": "region", "ProjectID": "project_id",
	"EnterpriseProjectID": "enterprise_project_id", "ImageType": "image_type",
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

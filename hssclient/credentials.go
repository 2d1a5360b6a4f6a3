package hssclient

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret holds a credential (secret key, security token, password, IAM
// token) so that it cannot leak by accident: every fmt verb, slog and JSON
// print "[REDACTED]". Only Reveal gives the value, at the one place that
// signs or sends it. The zero Secret is empty.
type Secret struct{ v string }

const redacted = "[REDACTED]"

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the value. Call it only where the value goes on the wire.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String redacts.
func (s Secret) String() string { return redacted }

// GoString redacts %#v.
func (s Secret) GoString() string { return redacted }

// Format redacts every verb, including %x and %q, which would otherwise
// print the bytes of a string field.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts in JSON (a config dump, a JSON log handler).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts in text encoders (YAML, flags).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credentials is an AK/SK pair, with a security token when the pair is
// temporary (STS). The access key is an identifier, sent in clear in every
// Authorization header; the secret key and the token are Secrets.
type Credentials struct {
	AccessKey     string
	SecretKey     Secret
	SecurityToken Secret
	// ProjectID is the default project (HUAWEICLOUD_SDK_PROJECT_ID) for the
	// caller to put in its Targets; the client itself always uses the
	// Target's project.
	ProjectID string
}

// ErrNoCredentials is returned by CredentialsFromEnv when no access key is
// configured at all, so the caller can tell "not configured" from "badly
// configured" and name the settings.
var ErrNoCredentials = errors.New("no AK/SK credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or CLOUD_SDK_AK and CLOUD_SDK_SK, or their *_FILE variants)")

// Validate checks that the pair is complete.
func (c Credentials) Validate() error {
	switch {
	case c.AccessKey == "":
		return errors.New("credentials: access key is empty")
	case c.SecretKey.IsZero():
		return fmt.Errorf("credentials: secret key for access key %s is empty", c.AccessKey)
	}
	return nil
}

// envNames lists, per setting, the variables read in order of preference:
// the Huawei Cloud SDK's own names (core/auth/provider/env_provider.go) and
// the names of the API reference's samples (CLOUD_SDK_AK/SK).
var envNames = struct{ ak, sk, token, project []string }{
	ak:      []string{"HUAWEICLOUD_SDK_AK", "CLOUD_SDK_AK"},
	sk:      []string{"HUAWEICLOUD_SDK_SK", "CLOUD_SDK_SK"},
	token:   []string{"HUAWEICLOUD_SDK_SECURITY_TOKEN"},
	project: []string{"HUAWEICLOUD_SDK_PROJECT_ID"},
}

// CredentialsFromEnv reads AK/SK credentials from the environment. Each
// setting X may instead be given as X_FILE, the path of a file holding the
// value (a mounted Kubernetes or Docker secret); surrounding white space is
// trimmed. Setting both X and X_FILE, or two names of one setting with
// different values, is an error rather than a silent choice.
//
// It never consults the SDK's default provider chain: that chain falls
// back to the ECS metadata service at 169.254.169.254, which a bridge must
// not call behind the operator's back. Errors name variables and files,
// never values.
func CredentialsFromEnv() (Credentials, error) {
	ak, err := lookupSetting(envNames.ak)
	if err != nil {
		return Credentials{}, err
	}
	sk, err := lookupSetting(envNames.sk)
	if err != nil {
		return Credentials{}, err
	}
	token, err := lookupSetting(envNames.token)
	if err != nil {
		return Credentials{}, err
	}
	project, err := lookupSetting(envNames.project)
	if err != nil {
		return Credentials{}, err
	}
	switch {
	case ak == "" && sk == "":
		return Credentials{}, ErrNoCredentials
	case ak == "":
		return Credentials{}, fmt.Errorf("credentials: %s is set but %s is not", envNames.sk[0], envNames.ak[0])
	case sk == "":
		return Credentials{}, fmt.Errorf("credentials: %s is set but %s is not", envNames.ak[0], envNames.sk[0])
	}
	return Credentials{AccessKey: ak, SecretKey: NewSecret(sk), SecurityToken: NewSecret(token), ProjectID: project}, nil
}

// lookupSetting returns the one value given by any of names (or their
// _FILE variants), "" when none is set.
func lookupSetting(names []string) (string, error) {
	var value, from string
	for _, name := range names {
		v, ok := os.LookupEnv(name)
		path, fok := os.LookupEnv(name + "_FILE")
		if ok && fok {
			return "", fmt.Errorf("credentials: both %s and %s_FILE are set; set one", name, name)
		}
		if fok {
			s, err := ReadSecretFile(path)
			if err != nil {
				return "", fmt.Errorf("credentials: %s_FILE: %w", name, err)
			}
			v, ok = s.Reveal(), true
		}
		if !ok || v == "" {
			continue
		}
		if from != "" && v != value {
			return "", fmt.Errorf("credentials: %s and %s are both set and differ; set one", from, name)
		}
		if from == "" {
			value, from = v, name
		}
	}
	return value, nil
}

// ReadSecretFile reads a secret from a file, trimming surrounding white
// space (files written by editors and echo end in a newline). The error
// names the file, never its content.
func ReadSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return Secret{}, fmt.Errorf("read secret file %s: file is empty", path)
	}
	return NewSecret(v), nil
}

package hssclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clearCredentialEnv unsets every variable CredentialsFromEnv reads, for
// the test's duration (t.Setenv restores them).
func clearCredentialEnv(t *testing.T) {
	t.Helper()
	for _, names := range [][]string{envNames.ak, envNames.sk, envNames.token, envNames.project} {
		for _, n := range names {
			for _, v := range []string{n, n + "_FILE"} {
				t.Setenv(v, "")
				os.Unsetenv(v)
			}
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCredentialsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Credentials
		wantErr string // substring; ErrNoCredentials checked with errors.Is
	}{
		{name: "the SDK's variables", env: map[string]string{"HUAWEICLOUD_SDK_AK": "ak1", "HUAWEICLOUD_SDK_SK": "sk1",
			"HUAWEICLOUD_SDK_SECURITY_TOKEN": "tok", "HUAWEICLOUD_SDK_PROJECT_ID": "p1"},
			want: Credentials{AccessKey: "ak1", SecretKey: NewSecret("sk1"), SecurityToken: NewSecret("tok"), ProjectID: "p1"}},
		{name: "the reference samples' variables", env: map[string]string{"CLOUD_SDK_AK": "ak2", "CLOUD_SDK_SK": "sk2"},
			want: Credentials{AccessKey: "ak2", SecretKey: NewSecret("sk2")}},
		{name: "both names with the same value are fine", env: map[string]string{"HUAWEICLOUD_SDK_AK": "ak", "CLOUD_SDK_AK": "ak", "CLOUD_SDK_SK": "sk"},
			want: Credentials{AccessKey: "ak", SecretKey: NewSecret("sk")}},
		{name: "a secret key from a file, trailing newline trimmed", env: map[string]string{"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK_FILE": "@sk-from-file\n"},
			want: Credentials{AccessKey: "ak", SecretKey: NewSecret("sk-from-file")}},
		{name: "nothing set is ErrNoCredentials", env: map[string]string{}, wantErr: "no AK/SK credentials"},
		{name: "a key without its secret names the missing variable", env: map[string]string{"HUAWEICLOUD_SDK_AK": "ak"}, wantErr: "HUAWEICLOUD_SDK_SK is not"},
		{name: "a secret without its key names the missing variable", env: map[string]string{"CLOUD_SDK_SK": "sk"}, wantErr: "HUAWEICLOUD_SDK_AK is not"},
		{name: "two names with different values are refused", env: map[string]string{"HUAWEICLOUD_SDK_AK": "a", "CLOUD_SDK_AK": "b", "CLOUD_SDK_SK": "sk"},
			wantErr: "differ"},
		{name: "a value and its file together are refused", env: map[string]string{"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk", "HUAWEICLOUD_SDK_SK_FILE": "@x"},
			wantErr: "both HUAWEICLOUD_SDK_SK and HUAWEICLOUD_SDK_SK_FILE"},
		{name: "a missing file is an error naming the variable", env: map[string]string{"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK_FILE": "/nonexistent/sk"},
			wantErr: "HUAWEICLOUD_SDK_SK_FILE"},
		{name: "an empty file is an error", env: map[string]string{"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK_FILE": "@\n"}, wantErr: "file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearCredentialEnv(t)
			for k, v := range tt.env {
				if content, ok := strings.CutPrefix(v, "@"); ok { // "@content": a file holding content
					v = writeFile(t, content)
				}
				t.Setenv(k, v)
			}
			got, err := CredentialsFromEnv()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CredentialsFromEnv() = %v, want an error containing %q", err, tt.wantErr)
				}
				if tt.wantErr == "no AK/SK credentials" && !errors.Is(err, ErrNoCredentials) {
					t.Fatal("the error does not match ErrNoCredentials")
				}
				for _, v := range tt.env {
					if len(v) > 2 && !strings.HasPrefix(v, "@") && !strings.HasPrefix(v, "/") && strings.Contains(err.Error(), v) {
						t.Fatalf("error %q shows the value %q", err, v)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("CredentialsFromEnv() = %#v, want %#v (secrets compared by value)", got, tt.want)
			}
		})
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	const sk, tok, pw = "sk-VERY-SECRET", "sts-VERY-SECRET", "pw-VERY-SECRET"
	creds := Credentials{AccessKey: "AK", SecretKey: NewSecret(sk), SecurityToken: NewSecret(tok)}
	pc := PasswordConfig{DomainName: "d", UserName: "u", Password: NewSecret(pw)}

	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	logger.Info("creds", "creds", creds, "secret", creds.SecretKey, "password", pc.Password, "config", pc)
	var textBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&textBuf, nil)).Info("creds", "secret", creds.SecretKey, "creds", creds)
	js, err := json.Marshal(struct {
		C Credentials
		P PasswordConfig
	}{creds, pc})
	if err != nil {
		t.Fatal(err)
	}

	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", creds), "%+v": fmt.Sprintf("%+v", creds), "%#v": fmt.Sprintf("%#v", creds),
		"%s": fmt.Sprintf("%s", creds.SecretKey), "%q": fmt.Sprintf("%q", creds.SecretKey), "%x": fmt.Sprintf("%x", creds.SecretKey),
		"config %+v": fmt.Sprintf("%+v", pc), "slog JSON": logBuf.String(), "slog text": textBuf.String(), "json.Marshal": string(js),
		"error": fmt.Errorf("wrap: %v", creds).Error(),
	}
	for name, out := range outputs {
		for _, secret := range []string{sk, tok, pw, "VERY-SECRET"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s prints a secret: %s", name, out)
			}
		}
		if !strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s does not say the value is redacted: %s", name, out)
		}
	}
	if creds.SecretKey.Reveal() != sk {
		t.Fatal("Reveal lost the value")
	}
}

func TestReadSecretFile(t *testing.T) {
	s, err := ReadSecretFile(writeFile(t, "  value\n"))
	if err != nil || s.Reveal() != "value" {
		t.Fatalf("ReadSecretFile = %q, %v", s.Reveal(), err)
	}
	if _, err := ReadSecretFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want os.ErrNotExist", err)
	}
}

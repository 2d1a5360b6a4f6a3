package sources

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

func TestDockerConfig(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("robot:s3cret-pass"))
	tests := []struct {
		name, body, host string
		user, pw         string
		err              string
	}{
		{"by host", `{"auths":{"reg.example.com":{"auth":"` + auth + `"}}}`, "reg.example.com", "robot", "s3cret-pass", ""},
		{"by url", `{"auths":{"https://reg.example.com/v1/":{"username":"u","password":"p"}}}`, "reg.example.com", "u", "p", ""},
		{"other host", `{"auths":{"other":{"auth":"` + auth + `"}}}`, "reg.example.com", "", "", "no entry under auths for reg.example.com"},
		{"bad auth", `{"auths":{"reg.example.com":{"auth":"!!"}}}`, "reg.example.com", "", "", "not base64 of user:password"},
		{"not json", `{"auths": s3cret`, "reg.example.com", "", "", "invalid JSON at byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseDockerConfig([]byte(tt.body), "config.json", tt.host)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("err = %v, want %q without the secret", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := authn.Authorization(t.Context(), a)
			if err != nil || cfg.Username != tt.user || cfg.Password != tt.pw {
				t.Fatalf("login %+v, %v", cfg, err)
			}
		})
	}
}

func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"r":{"auth":"dTpw"}}}`), "r")
	f.Add([]byte(`{"auths":{"https://r/v1/":{"identitytoken":"t"}}}`), "r")
	f.Add([]byte(`[]`), "r")
	f.Fuzz(func(t *testing.T, b []byte, host string) {
		a, err := parseDockerConfig(b, "config.json", host)
		if err == nil && a == nil {
			t.Fatal("nil authenticator without an error")
		}
	})
}

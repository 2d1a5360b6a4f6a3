package sources

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// registry is where a source polls: the host as go-containerregistry
// names it, and the scheme the configuration allows.
type registry struct {
	host  string
	https bool
	opts  []name.Option
}

func newRegistry(c Config) (registry, error) {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return registry{}, fmt.Errorf("url %q: not scheme://host[:port]", c.URL)
	}
	r := registry{host: u.Host, https: u.Scheme == "https"}
	if !r.https {
		r.opts = append(r.opts, name.Insecure)
	}
	if _, err := name.NewRegistry(r.host, r.opts...); err != nil {
		return registry{}, fmt.Errorf("url %q: %w", c.URL, err)
	}
	return r, nil
}

func (r registry) repository(repo string) (name.Repository, error) {
	return name.NewRepository(r.host+"/"+repo, r.opts...)
}

// httpsOnly refuses any request that is not https. go-containerregistry
// falls back to http for hosts it deems local (RFC 1918 addresses,
// localhost) even when https was meant; an https URL must never send the
// credentials in clear, so that fallback is cut here.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("refused %s request to %s: the source's url is https", req.URL.Scheme, req.URL.Host)
	}
	return h.next.RoundTrip(req)
}

// httpTransport is the HTTP transport of a source: base (tests) or a clone
// of http.DefaultTransport with ca_file's roots, https only for an https
// URL.
func httpTransport(c Config, base http.RoundTripper, https bool) (http.RoundTripper, error) {
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", c.CAFile)
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		base = t
	}
	if https {
		return httpsOnly{base}, nil
	}
	return base, nil
}

// authenticator reads the source's credentials now: files are read at
// each round, so a rotated secret takes effect at the next one. Errors
// name the setting and file, never the secret.
func (a Auth) authenticator(host string) (authn.Authenticator, error) {
	switch a.Method {
	case "", AuthNone:
		return authn.Anonymous, nil
	case AuthBasic:
		pw, err := secret(a.Password, a.PasswordFile, "password_file")
		if err != nil {
			return nil, err
		}
		return &authn.Basic{Username: a.User, Password: pw}, nil
	case AuthBearer:
		tok, err := secret(a.Token, a.TokenFile, "token_file")
		if err != nil {
			return nil, err
		}
		return &authn.Bearer{Token: tok}, nil
	case AuthDockerConfig:
		return dockerConfigAuth(a.DockerConfigFile, host)
	}
	return nil, fmt.Errorf("auth.method %q: unknown", a.Method)
}

func secret(inline, file, setting string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("auth.%s: %w", setting, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("auth.%s: %s is empty", setting, file)
	}
	return s, nil
}

// dockerConfig is the part of a docker config.json a login needs.
// Credential helpers (credsStore, credHelpers) are not run: a mounted
// secret has the credentials in it.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	} `json:"auths"`
}

// dockerConfigAuth finds host's entry in a docker config.json: keyed by
// the host, or by a URL of the host (docker writes
// "https://index.docker.io/v1/" for Docker Hub).
func dockerConfigAuth(file, host string) (authn.Authenticator, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("auth.docker_config_file: %w", err)
	}
	return parseDockerConfig(b, file, host)
}

// parseDockerConfig reads host's login from a config.json's bytes.
func parseDockerConfig(b []byte, file, host string) (authn.Authenticator, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("auth.docker_config_file %s: not a docker config.json: %v", file, syntaxOnly(err))
	}
	for key, e := range cfg.Auths {
		k := key
		if u, err := url.Parse(key); err == nil && u.Host != "" {
			k = u.Host
		}
		if k != host {
			continue
		}
		ac := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if e.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			user, pw, ok := strings.Cut(string(raw), ":")
			if err != nil || !ok {
				return nil, fmt.Errorf("auth.docker_config_file %s: the auth of %s is not base64 of user:password", file, key)
			}
			ac.Username, ac.Password = user, pw
		}
		return authn.FromConfig(ac), nil
	}
	return nil, fmt.Errorf("auth.docker_config_file %s: no entry under auths for %s", file, host)
}

// syntaxOnly keeps a JSON error's position and drops any quoted value,
// which could be part of a secret.
func syntaxOnly(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "unexpected JSON shape"
}

func (r registry) registryName() (name.Registry, error) { return name.NewRegistry(r.host, r.opts...) }

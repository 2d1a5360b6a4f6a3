package notify

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// Bounds and defaults of the settings. Every webhook is a JetStream
// consumer, an HTTP client and up to MaxInFlight goroutines: MaxWebhooks
// bounds what one configuration can make a replica hold.
const (
	MaxWebhooks        = 16
	MaxHeaders         = 16
	DefaultTimeout     = 10 * time.Second
	MinTimeout         = time.Second
	MaxTimeout         = time.Minute
	DefaultMaxAge      = 24 * time.Hour
	MinMaxAge          = time.Minute
	MaxMaxAge          = 7 * 24 * time.Hour
	DefaultMaxInFlight = 4
	MaxMaxInFlight     = 16
	MaxMaxAttempts     = 10000
	// MinSecretBytes and MaxSecretBytes bound a decoded secret: the
	// Standard Webhooks spec says secrets SHOULD be 24 to 64 bytes.
	MinSecretBytes = 24
	MaxSecretBytes = 64
	// MaxSecrets bounds the secrets of one webhook (secret_file lines):
	// two are a rotation, a few more are a mistake.
	MaxSecrets = 4
	// SecretPrefix starts every secret, as the spec's libraries write it.
	SecretPrefix = "whsec_"
)

// Config is the notify section: the result webhooks.
type Config struct {
	// Webhooks receive the result events they match, each on its own
	// durable consumer. None: no notifier runs.
	Webhooks []WebhookConfig `koanf:"webhooks"`
}

// WebhookConfig is one outbound result webhook.
type WebhookConfig struct {
	// Name names the webhook in logs, metrics and its JetStream consumer
	// (scanbridge-notify-<name>): letters, digits, '-' and '_', unique.
	Name string `koanf:"name"`
	// URL receives a POST per matching event. https, unless AllowHTTP.
	// It is shown redacted: a chat webhook's URL is its credential.
	URL string `koanf:"url"`
	// AllowHTTP permits an http:// URL, for a receiver on loopback or in
	// a development setup: the body and its signature cross the network
	// in the clear.
	AllowHTTP bool `koanf:"allow_http"`
	// Secret is the signing secret, "whsec_" + base64 of 24 to 64 random
	// bytes. Exactly one of Secret and SecretFile.
	Secret string `koanf:"secret"`
	// SecretFile holds the secret, or several, one per line (blank lines
	// and # comments ignored): each signs every request, so a receiver
	// can move to a new secret while the old one still verifies.
	SecretFile string `koanf:"secret_file"`
	// Match selects the events; empty fields match everything.
	Match Match `koanf:"match"`
	// Timeout bounds one delivery, connection to response. Default 10s.
	Timeout time.Duration `koanf:"timeout"`
	// MaxAge: a delivery that keeps failing is retried until the event
	// is this old, then given up. Default 24h.
	MaxAge time.Duration `koanf:"max_age"`
	// MaxAttempts gives up after this many attempts even within MaxAge;
	// 0 (the default) leaves MaxAge alone to decide.
	MaxAttempts int `koanf:"max_attempts"`
	// MaxInFlight bounds the deliveries of this webhook at one time (per
	// replica). Default 4.
	MaxInFlight int `koanf:"max_in_flight"`
	// Headers are static headers added to every request (a routing key,
	// an API gateway's tenant). They cannot replace the content type or
	// the webhook-* headers.
	Headers []Header `koanf:"headers"`
}

// Header is one static request header.
type Header struct {
	Name  string `koanf:"name"`
	Value string `koanf:"value"`
}

// Match selects the events a webhook receives. An empty list matches
// everything; several lists must all match.
type Match struct {
	// Receivers are receiver names (data.receiver).
	Receivers []string `koanf:"receivers"`
	// Namespaces are globs (Go's path.Match: *, ?, [a-z]) on
	// data.namespace: "team-*".
	Namespaces []string `koanf:"namespaces"`
	// Results are among scanned, scan_failed and given_up (data.status).
	Results []string `koanf:"results"`
}

// WithDefaults fills each webhook's zero fields.
func (c Config) WithDefaults() Config {
	out := Config{Webhooks: make([]WebhookConfig, len(c.Webhooks))}
	for i, w := range c.Webhooks {
		if w.Timeout == 0 {
			w.Timeout = DefaultTimeout
		}
		if w.MaxAge == 0 {
			w.MaxAge = DefaultMaxAge
		}
		if w.MaxInFlight == 0 {
			w.MaxInFlight = DefaultMaxInFlight
		}
		out.Webhooks[i] = w
	}
	return out
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// validHeader is an HTTP token (RFC 9110 section 5.6.2).
var validHeader = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")

// reservedHeaders are set by the notifier; a static header must not
// replace them.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "Transfer-Encoding": true, "Connection": true,
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
}

var results = map[string]bool{string(lifecycle.Scanned): true, string(lifecycle.ScanFailed): true, string(lifecycle.GivenUp): true}

// Validate reports every problem of c (defaults filled first), one error
// each, starting with the setting as written: "notify.webhooks[0].url:
// ...". It reads the secret files; no error quotes a secret or a URL.
func (c Config) Validate() error {
	var errs []error
	if len(c.Webhooks) > MaxWebhooks {
		errs = append(errs, fmt.Errorf("notify.webhooks: has %d items, above the maximum %d", len(c.Webhooks), MaxWebhooks))
	}
	names := map[string]int{}
	for i, w := range c.WithDefaults().Webhooks {
		at := fmt.Sprintf("notify.webhooks[%d]", i)
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s.%s: %s", at, field, fmt.Sprintf(format, args...)))
		}
		switch j, dup := names[w.Name]; {
		case !validName.MatchString(w.Name):
			bad("name", "%q: 1 to 32 letters, digits, '-' or '_'", w.Name)
		case dup:
			bad("name", "%q is the name of notify.webhooks[%d] too; names must be unique", w.Name, j)
		default:
			names[w.Name] = i
		}
		if err := checkURL(w.URL, w.AllowHTTP); err != nil {
			bad("url", "%v", err)
		}
		if _, err := w.Secrets(); err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", at, err))
		}
		if w.Timeout < MinTimeout || w.Timeout > MaxTimeout {
			bad("timeout", "%s: must be %s to %s", w.Timeout, MinTimeout, MaxTimeout)
		}
		if w.MaxAge < MinMaxAge || w.MaxAge > MaxMaxAge {
			bad("max_age", "%s: must be %s to %s (the results stream keeps events 7 days)", w.MaxAge, MinMaxAge, "168h")
		}
		if w.MaxAttempts < 0 || w.MaxAttempts > MaxMaxAttempts {
			bad("max_attempts", "%d: must be 0 (no limit but max_age) to %d", w.MaxAttempts, MaxMaxAttempts)
		}
		if w.MaxInFlight < 1 || w.MaxInFlight > MaxMaxInFlight {
			bad("max_in_flight", "%d: must be 1 to %d", w.MaxInFlight, MaxMaxInFlight)
		}
		if len(w.Headers) > MaxHeaders {
			bad("headers", "has %d items, above the maximum %d", len(w.Headers), MaxHeaders)
		}
		for _, hd := range w.Headers {
			k, v := hd.Name, hd.Value
			switch {
			case !validHeader.MatchString(k):
				bad("headers", "%q is no header name", k)
			case reservedHeaders[http.CanonicalHeaderKey(k)]:
				bad("headers", "%s is set by the bridge and cannot be replaced", k)
			case strings.ContainsAny(v, "\r\n\x00") || len(v) > 1024:
				bad("headers", "the value of %s must be one line of at most 1024 bytes", k)
			}
		}
		for j, r := range w.Match.Receivers {
			if r == "" {
				bad(fmt.Sprintf("match.receivers[%d]", j), "is empty")
			}
		}
		for j, g := range w.Match.Namespaces {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				bad(fmt.Sprintf("match.namespaces[%d]", j), "%q is no glob (*, ?, [a-z])", g)
			}
		}
		for j, r := range w.Match.Results {
			if !results[r] {
				bad(fmt.Sprintf("match.results[%d]", j), "%q is not one of scanned, scan_failed, given_up", r)
			}
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL (http with allowHTTP), with a
// host and no fragment. Its error never quotes the URL: its path or query
// may be the credential.
func checkURL(raw string, allowHTTP bool) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	switch {
	case u.Scheme == "http" && !allowHTTP:
		return errors.New("http:// sends the events and their signatures in the clear: use https://, or set allow_http: true for a receiver on loopback or in development")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("scheme %q: must be https", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return errors.New("has no host")
	case u.Fragment != "":
		return errors.New("has a #fragment, which is never sent")
	}
	return nil
}

// Secrets decodes the webhook's secrets: Secret, or each line of
// SecretFile. Its errors name the setting (and the file's line), never
// the secret.
func (w WebhookConfig) Secrets() ([][]byte, error) {
	switch {
	case w.Secret != "" && w.SecretFile != "":
		return nil, errors.New("secret: set secret or secret_file, not both")
	case w.Secret != "":
		k, err := decodeSecret(strings.TrimSpace(w.Secret))
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		return [][]byte{k}, nil
	case w.SecretFile == "":
		return nil, errors.New("secret: required (or secret_file); generate one with: echo \"whsec_$(openssl rand -base64 32)\"")
	}
	b, err := os.ReadFile(w.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("secret_file: %w", err)
	}
	var out [][]byte
	lineNo := 0
	for line := range strings.Lines(string(b)) {
		lineNo++
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := decodeSecret(line)
		if err != nil {
			return nil, fmt.Errorf("secret_file %s line %d: %w", w.SecretFile, lineNo, err)
		}
		out = append(out, k)
	}
	switch {
	case len(out) == 0:
		return nil, fmt.Errorf("secret_file %s holds no secret", w.SecretFile)
	case len(out) > MaxSecrets:
		return nil, fmt.Errorf("secret_file %s holds %d secrets; at most %d", w.SecretFile, len(out), MaxSecrets)
	}
	return out, nil
}

// decodeSecret decodes "whsec_" + base64. Its errors say what is wrong
// with the shape, never the value.
func decodeSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("must start with %s (the Standard Webhooks form: %s + base64 of 24 to 64 random bytes)", SecretPrefix, SecretPrefix)
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("the part after %s is not standard base64", SecretPrefix)
	}
	if len(k) < MinSecretBytes || len(k) > MaxSecretBytes {
		return nil, fmt.Errorf("%d bytes once decoded; must be %d to %d", len(k), MinSecretBytes, MaxSecretBytes)
	}
	return k, nil
}

// loopback reports whether rawURL's host is a loopback address or
// localhost, for the warning about a plain-http webhook elsewhere.
func loopback(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// matches reports whether the event's data passes m.
func (m Match) matches(d lifecycle.ResultData) bool {
	if len(m.Receivers) > 0 && !slices.Contains(m.Receivers, d.Receiver) {
		return false
	}
	if len(m.Results) > 0 && !slices.Contains(m.Results, string(d.Status)) {
		return false
	}
	if len(m.Namespaces) == 0 {
		return true
	}
	for _, g := range m.Namespaces {
		if ok, _ := path.Match(g, d.Namespace); ok {
			return true
		}
	}
	return false
}

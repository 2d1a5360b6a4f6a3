package handlers

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
)

// Auth methods a receiver can require. Each matches what a kind of sender
// can prove; docs/auth.md has the registry → method table.
const (
	// AuthToken: a shared secret in a named header, compared whole
	// (Harbor's "Auth Header", SWR Enterprise's auth_header, distribution's
	// endpoint headers, ACR custom headers, Artifactory X-JFrog-Event-Auth,
	// an EventBridge API-key connection). Prefix, if set, is part of the
	// expected value ("Bearer ").
	AuthToken = "token"
	// AuthBasic: HTTP Basic (RFC 7617) with User and one of the secrets as
	// password (an EventBridge API destination with a Basic connection).
	AuthBasic = "basic"
	// AuthHMAC: an HMAC of the raw body (or of a signed-payload template
	// over a timestamp, a delivery id and the body) in a named header,
	// optionally behind a prefix ("sha256="), hex or base64.
	AuthHMAC = "hmac"
	// AuthStandardWebhooks: the Standard Webhooks scheme (Svix and the
	// gateways built on it): HMAC-SHA256 of "{id}.{timestamp}.{body}" in
	// webhook-signature as space-separated "v1,<base64>" entries.
	AuthStandardWebhooks = "standard-webhooks"
	// AuthJWT: an RS256 bearer JWT checked against a JWKS (Google Pub/Sub
	// push with an OIDC token, for Artifact Registry / Container Registry).
	AuthJWT = "jwt"
	// AuthPathToken: the secret is the last path segment,
	// POST /webhooks/{name}/{token}. Only for senders that can neither sign
	// nor add a header (Docker Hub, Quay); the bridge warns at start.
	AuthPathToken = "path-token"
	// AuthNone accepts every request. Only for receivers on a trusted
	// network; the bridge warns at start about each one.
	AuthNone = "none"
)

// AuthConfig says how a receiver authenticates its sender. Fields that the
// chosen method does not use are refused, so a typo'd method or a field
// meant for another method is a start-up error instead of a silently
// weaker check. docs/auth.md has a snippet per method.
type AuthConfig struct {
	// Method is one of the Auth* constants.
	Method string `koanf:"method" json:"method" validate:"required,oneof=token basic hmac standard-webhooks jwt path-token none"`
	// Header carries the token or the signature (token, hmac). Default:
	// Authorization for token, X-Signature-256 for hmac.
	Header string `koanf:"header" json:"header"`
	// Prefix precedes the token or signature in the header, e.g.
	// "Bearer " or "sha256=" (token, hmac).
	Prefix string `koanf:"prefix" json:"prefix"`
	// Algorithm of the HMAC: sha256 (default), sha1 or sha512 (hmac).
	Algorithm string `koanf:"algorithm" json:"algorithm" validate:"omitempty,oneof=sha256 sha1 sha512"`
	// Encoding of the HMAC: hex (default) or base64 (hmac).
	Encoding string `koanf:"encoding" json:"encoding" validate:"omitempty,oneof=hex base64"`
	// Secrets are accepted values; more than one allows rotation without
	// downtime (add the new one, switch the sender, remove the old one).
	// token: the header values; basic: passwords of User; hmac: keys;
	// standard-webhooks: "whsec_<base64>" keys; path-token: the path
	// segments (32+ characters of A-Z a-z 0-9 . _ ~ -).
	Secrets []string `koanf:"secrets" json:"-"`
	// SecretFiles name files whose trimmed content is a secret each, so
	// secrets can come from mounted Kubernetes secrets instead of config.
	SecretFiles []string `koanf:"secret_files" json:"secret_files,omitempty"`

	// User is the Basic user name (basic, required); the secrets are its
	// accepted passwords, so a password rotates without touching the user.
	User string `koanf:"user" json:"user,omitempty"`

	// TimestampHeader names the header with the sender's Unix time in
	// seconds (hmac). It must be covered by the signature ({timestamp} in
	// SignedPayload): an unsigned timestamp proves nothing. Requests
	// further than Replay.Tolerance from now are refused.
	TimestampHeader string `koanf:"timestamp_header" json:"timestamp_header,omitempty"`
	// SignedPayload is what the sender signs (hmac), default "{body}".
	// Placeholders: {body} (the raw body, exactly once), {timestamp} (the
	// TimestampHeader value), {id} (the Replay.IDHeader value); anything
	// else is literal, e.g. "v0:{timestamp}:{body}" or "{timestamp}.{body}".
	SignedPayload string `koanf:"signed_payload" json:"signed_payload,omitempty"`

	// JWKSFile is a JSON Web Key Set file with the signer's RSA keys (jwt;
	// this or JWKSURL).
	JWKSFile string `koanf:"jwks_file" json:"jwks_file,omitempty"`
	// JWKSURL is fetched on first use and cached; it is fetched again when
	// a token names an unknown key id (at most once a minute) and when the
	// cache is an hour old (jwt). https, or http to a loopback address.
	JWKSURL string `koanf:"jwks_url" json:"jwks_url,omitempty"`
	// Issuer is the required iss claim (jwt). Default
	// https://accounts.google.com, which also accepts the
	// "accounts.google.com" form Google documents for its ID tokens.
	Issuer string `koanf:"issuer" json:"issuer,omitempty"`
	// Audience is the required aud claim (jwt, required): the audience
	// set on the Pub/Sub push subscription.
	Audience string `koanf:"audience" json:"audience,omitempty"`
	// Email, when set, is the required email claim (the push
	// subscription's service account), which must also be email_verified
	// (jwt).
	Email string `koanf:"email" json:"email,omitempty"`

	// Replay bounds how old a signed timestamp may be and remembers
	// delivery ids; see ReplayConfig.
	Replay ReplayConfig `koanf:"replay" json:"replay"`
}

// ReplayConfig is the replay protection a sender makes possible.
//
// A signed timestamp outside Tolerance is refused with 401: it is either a
// captured request played again or a clock that is badly off.
//
// A delivery id already answered 2xx within Window is answered
// 200 {"status":"ignored"} without decoding or storing it again, NOT 401:
// senders retry with the same id (a lost answer, a "redeliver" button, a
// retry after our own 503), and a 401 would turn each of those into a
// failed delivery or an endless retry loop, while a replayed request gains
// nothing from a 200 that stores nothing. An id is remembered only after a
// 2xx answer, so a retry after a 503 (the store failed) is processed in
// full. The memory is per process: replicas do not share it, and two
// copies of one delivery in flight at once are both processed; the queue's
// Nats-Msg-Id deduplication (by job content) is the guarantee across
// replicas, this is a cheaper answer on top of it.
type ReplayConfig struct {
	// IDHeader names the sender's delivery id header (X-GitHub-Delivery,
	// X-Nexus-Webhook-Delivery, Ce-Id, ...). standard-webhooks always
	// uses webhook-id. An unsigned id only saves work: it is no security
	// boundary, since whoever replays a request can change it.
	IDHeader string `koanf:"id_header" json:"id_header,omitempty"`
	// Tolerance is the largest accepted distance between a signed
	// timestamp and now, either way. Default 5m.
	Tolerance time.Duration `koanf:"tolerance" json:"tolerance,omitempty"`
	// Window is how long an accepted delivery id is remembered. Default
	// 10m (the queue's duplicate window); at least 2 × Tolerance when
	// timestamps are checked, so an id cannot be forgotten while its
	// timestamp is still accepted.
	Window time.Duration `koanf:"window" json:"window,omitempty"`
}

const (
	defaultReplayTolerance = 5 * time.Minute
	defaultReplayWindow    = 10 * time.Minute
	// maxRememberedIDs bounds the memory of one receiver's delivery ids
	// (about 100 bytes each). Past it the oldest are forgotten first, and
	// the queue's content deduplication still holds.
	maxRememberedIDs = 65536
)

// errUnauthorized is what every failed check wraps: the answer must not
// tell an attacker which part was wrong; the log line says it.
var errUnauthorized = errors.New("missing or invalid credentials")

// errAuthUnavailable means the bridge could not check the credentials (a
// JWKS that cannot be fetched): the sender is answered 503 and retries,
// since a 401 would blame it for the bridge's problem.
var errAuthUnavailable = errors.New("credentials cannot be checked now")

// authRequest is what a check may look at.
type authRequest struct {
	header http.Header
	body   []byte
	// pathToken is the {token} segment of /webhooks/{name}/{token}, empty
	// on /webhooks/{name}.
	pathToken string
}

// verifier checks one request's credentials.
type verifier interface {
	// verify returns nil when the request proves its sender, an error
	// wrapping errUnauthorized or errAuthUnavailable otherwise. The
	// delivery says whether the request repeats one already accepted.
	verify(ctx context.Context, r authRequest) (delivery, error)
	// readsBody reports whether verify looks at r.body. When it does
	// not, verify is called before the body is read, with r.body nil.
	readsBody() bool
}

// checker is one method's credential check.
type checker interface {
	check(ctx context.Context, r authRequest) (proof, error)
}

// proof is what a passed check vouches for besides the sender.
type proof struct {
	// id is a delivery id covered by the signature, if any.
	id string
	// timestamp is a sending time covered by the signature, if any.
	timestamp time.Time
}

// delivery is an authenticated request's place among the sender's
// deliveries.
type delivery struct {
	id       string
	replayed bool
	ids      *seenIDs
}

// done remembers the delivery id once the request was answered 2xx, so
// that only final answers make a later copy a duplicate.
func (d delivery) done(status int) {
	if d.ids != nil && d.id != "" && status >= 200 && status < 300 {
		d.ids.remember(d.id)
	}
}

// clock is shared by the parts of one verifier, so that tests move time
// for all of them at once.
type clock struct{ now func() time.Time }

// authenticator runs a method's check, then the replay rules.
type authenticator struct {
	method    string
	check     checker
	clock     *clock
	tolerance time.Duration
	// idHeader, when set, is where unsigned delivery ids come from.
	idHeader string
	// ids remembers accepted delivery ids; nil when the sender gives none.
	ids *seenIDs
	// secrets is a digest of the accepted secrets, so that a reload can
	// tell a rotated secret file from an unchanged one (reload.go).
	secrets [sha256.Size]byte
}

// readsBody is true for the methods that sign the body.
func (a *authenticator) readsBody() bool {
	return a.method == AuthHMAC || a.method == AuthStandardWebhooks
}

func (a *authenticator) verify(ctx context.Context, r authRequest) (delivery, error) {
	if r.pathToken != "" && a.method != AuthPathToken {
		// A secret in the URL of a receiver that expects it elsewhere is
		// a misconfigured sender; accepting it would teach it a bad habit.
		return delivery{}, fmt.Errorf("%w: a token in the path, but the receiver's auth method is %s", errUnauthorized, a.method)
	}
	p, err := a.check.check(ctx, r)
	if err != nil {
		return delivery{}, err
	}
	if !p.timestamp.IsZero() {
		if off := a.clock.now().Sub(p.timestamp); off > a.tolerance || off < -a.tolerance {
			return delivery{}, fmt.Errorf("%w: signed timestamp is %s from now, over the tolerance of %s", errUnauthorized, off.Round(time.Second), a.tolerance)
		}
	}
	d := delivery{id: p.id, ids: a.ids}
	if d.id == "" && a.idHeader != "" {
		d.id = r.header.Get(a.idHeader)
	}
	if a.ids != nil && d.id != "" {
		d.replayed = a.ids.seen(d.id)
	}
	return d, nil
}

func newVerifier(c AuthConfig) (verifier, error) {
	if err := checkFieldsUsed(c); err != nil {
		return nil, err
	}
	secrets, err := loadSecrets(c)
	if err != nil {
		return nil, err
	}
	clk := &clock{now: time.Now}
	a := &authenticator{method: c.Method, clock: clk, idHeader: c.Replay.IDHeader,
		tolerance: cmp.Or(c.Replay.Tolerance, defaultReplayTolerance), secrets: secretsDigest(secrets)}
	if c.Replay.Tolerance < 0 || c.Replay.Window < 0 {
		return nil, errors.New("replay.tolerance and replay.window must not be negative")
	}
	timestamps := false
	switch c.Method {
	case AuthNone:
		a.check = noAuth{}
	case AuthToken:
		a.check, err = newTokenAuth(c, values(secrets))
	case AuthBasic:
		a.check, err = newBasicAuth(c, values(secrets))
	case AuthPathToken:
		a.check, err = newPathTokenAuth(secrets)
	case AuthHMAC:
		a.check, err = newHMACAuth(c, values(secrets))
		timestamps = c.TimestampHeader != ""
	case AuthStandardWebhooks:
		a.check, err = newStandardWebhooks(secrets)
		timestamps, a.idHeader = true, ""
	case AuthJWT:
		a.check, err = newJWTAuth(c, clk)
	default:
		return nil, fmt.Errorf("unknown auth method %q", c.Method)
	}
	if err != nil {
		return nil, err
	}
	if c.Replay.Tolerance != 0 && !timestamps {
		return nil, fmt.Errorf("replay.tolerance: method %s checks no signed timestamp (hmac needs timestamp_header)", c.Method)
	}
	if a.idHeader != "" || c.Method == AuthStandardWebhooks {
		window := c.Replay.Window
		if window == 0 {
			window = defaultReplayWindow
			if timestamps {
				window = max(window, 2*a.tolerance)
			}
		}
		if timestamps && window < 2*a.tolerance {
			return nil, fmt.Errorf("replay.window %s is under 2 × replay.tolerance (%s): a replayed id could be forgotten while its timestamp is still accepted", window, 2*a.tolerance)
		}
		a.ids = newSeenIDs(window, maxRememberedIDs, clk)
	} else if c.Replay.Window != 0 {
		return nil, errors.New("replay.window: no delivery id to remember (set replay.id_header)")
	}
	return a, nil
}

// secret is one accepted credential and the setting it came from, so a
// start-up error can name the setting without quoting the secret.
type secret struct {
	setting string // "secrets[0]", or "secret_files[1] (/run/secrets/hook)"
	value   []byte
}

// secretsDigest is a digest of the secrets in order, each prefixed by its
// length so that no two lists share one.
func secretsDigest(secrets []secret) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range secrets {
		fmt.Fprintf(h, "%d:", len(s.value))
		h.Write(s.value)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// minSecretBytes is the shortest shared secret the token, basic and hmac
// methods accept, and the shortest standard-webhooks key once decoded. A
// one-character secret falls to a few hundred guesses, and any short HMAC
// key to an offline search from one captured signed body. 16 bytes is a
// floor, not a target: RFC 2104 §3 advises HMAC keys at least as long as
// the hash output (32 bytes for SHA-256, e.g. openssl rand -hex 32).
// path-token has its own, higher floor (minPathToken).
const minSecretBytes = 16

// loadSecrets returns the configured secrets and the trimmed content of
// each secret file. Errors name the setting (and the file), never a secret.
func loadSecrets(c AuthConfig) ([]secret, error) {
	secrets := make([]secret, 0, len(c.Secrets)+len(c.SecretFiles))
	for i, s := range c.Secrets {
		secrets = append(secrets, secret{setting: fmt.Sprintf("secrets[%d]", i), value: []byte(s)})
	}
	for i, f := range c.SecretFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("secret_files[%d]: %w", i, err)
		}
		secrets = append(secrets, secret{setting: fmt.Sprintf("secret_files[%d] (%s)", i, f), value: []byte(strings.TrimSpace(string(b)))})
	}
	for _, s := range secrets {
		if len(s.value) == 0 {
			return nil, fmt.Errorf("%s: an empty secret is not allowed", s.setting)
		}
	}
	switch c.Method {
	case AuthToken, AuthBasic, AuthHMAC, AuthStandardWebhooks, AuthPathToken:
		if len(secrets) == 0 {
			return nil, fmt.Errorf("%s auth needs at least one secret", c.Method)
		}
	default:
		if len(secrets) > 0 {
			return nil, fmt.Errorf("secrets: method %s uses none", c.Method)
		}
	}
	switch c.Method {
	case AuthToken, AuthBasic, AuthHMAC:
		var errs []error
		for _, s := range secrets {
			if len(s.value) < minSecretBytes {
				errs = append(errs, fmt.Errorf("%s: %d bytes; at least %d are required", s.setting, len(s.value), minSecretBytes))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return secrets, nil
}

// values returns the secrets' bytes.
func values(secrets []secret) [][]byte {
	out := make([][]byte, len(secrets))
	for i, s := range secrets {
		out[i] = s.value
	}
	return out
}

// fieldMethods says which methods use each optional field; the rest refuse
// it. Secrets are checked by loadSecrets.
var fieldMethods = []struct {
	name    string
	set     func(AuthConfig) bool
	methods []string
}{
	{"header", func(c AuthConfig) bool { return c.Header != "" }, []string{AuthToken, AuthHMAC}},
	{"prefix", func(c AuthConfig) bool { return c.Prefix != "" }, []string{AuthToken, AuthHMAC}},
	{"algorithm", func(c AuthConfig) bool { return c.Algorithm != "" }, []string{AuthHMAC}},
	{"encoding", func(c AuthConfig) bool { return c.Encoding != "" }, []string{AuthHMAC}},
	{"user", func(c AuthConfig) bool { return c.User != "" }, []string{AuthBasic}},
	{"timestamp_header", func(c AuthConfig) bool { return c.TimestampHeader != "" }, []string{AuthHMAC}},
	{"signed_payload", func(c AuthConfig) bool { return c.SignedPayload != "" }, []string{AuthHMAC}},
	{"jwks_file", func(c AuthConfig) bool { return c.JWKSFile != "" }, []string{AuthJWT}},
	{"jwks_url", func(c AuthConfig) bool { return c.JWKSURL != "" }, []string{AuthJWT}},
	{"issuer", func(c AuthConfig) bool { return c.Issuer != "" }, []string{AuthJWT}},
	{"audience", func(c AuthConfig) bool { return c.Audience != "" }, []string{AuthJWT}},
	{"email", func(c AuthConfig) bool { return c.Email != "" }, []string{AuthJWT}},
	{"replay.id_header", func(c AuthConfig) bool { return c.Replay.IDHeader != "" },
		[]string{AuthToken, AuthBasic, AuthHMAC, AuthJWT, AuthPathToken, AuthNone}},
}

func checkFieldsUsed(c AuthConfig) error {
	var errs []error
	for _, f := range fieldMethods {
		if !f.set(c) {
			continue
		}
		used := false
		for _, m := range f.methods {
			used = used || m == c.Method
		}
		if !used {
			errs = append(errs, fmt.Errorf("%s: not used by method %s (only by %s)", f.name, c.Method, strings.Join(f.methods, ", ")))
		}
	}
	return errors.Join(errs...)
}

// warnWeakAuth logs at start each receiver whose method proves little, so
// the choice is visible to whoever runs the bridge, not only to whoever
// wrote the config.
func warnWeakAuth(log *slog.Logger, rc ReceiverConfig) {
	switch rc.Auth.Method {
	case AuthNone:
		log.Warn("receiver accepts unauthenticated webhooks; expose it only on a trusted network", "receiver", rc.Name)
	case AuthPathToken:
		log.Warn("receiver is protected only by an unguessable URL; keep it out of logs and rotate it", "receiver", rc.Name)
	}
}

// refuseAuth answers a request whose credentials did not pass: 401, or 503
// when they could not be checked. The answer names no cause; the log line
// does (causes never quote a credential).
func (s *Server) refuseAuth(c echo.Context, name, reqID string, err error) error {
	if errors.Is(err, errAuthUnavailable) {
		s.in.metrics.webhook(name, "auth_unavailable")
		s.in.log.Warn("webhook credentials could not be checked", "receiver", name, "request_id", reqID, "error", err)
		return writeAnswer(c, http.StatusServiceUnavailable, &Answer{Status: "error", Receiver: name, RequestID: reqID,
			Reason: errAuthUnavailable.Error() + "; retry later"})
	}
	s.in.metrics.webhook(name, "unauthorized")
	s.in.log.Info("webhook refused", "receiver", name, "request_id", reqID, "reason", "unauthorized", "error", err, "remote", formats.Clip(c.RealIP(), 64))
	return unauthorized(c, reqID)
}

// refuseUnknown answers a request for a receiver that does not exist
// exactly as a failed credential check (status, body and reason), after a
// credential check of the same cost against a secret nobody knows: a
// different answer, or a faster one, would let anyone list the receiver
// names by probing. The metrics and the debug log still tell them apart.
func (s *Server) refuseUnknown(c echo.Context, name, reqID string) error {
	_, _ = s.decoy.check(c.Request().Context(), authRequest{header: c.Request().Header})
	s.in.metrics.webhook("", "unknown_receiver")
	s.in.log.Debug("webhook refused", "request_id", reqID, "reason", "unknown_receiver", "receiver_asked", formats.Clip(name, 64))
	return unauthorized(c, reqID)
}

// unauthorized is the one 401 answer, for wrong credentials and unknown
// receivers alike. It names no receiver: the sender knows which URL it
// called, and a name in the answer would differ between the two cases.
func unauthorized(c echo.Context, reqID string) error {
	closeAfter(c)
	return writeAnswer(c, http.StatusUnauthorized, &Answer{Status: "error", RequestID: reqID, Reason: errUnauthorized.Error()})
}

// newDecoy is the check run for unknown receivers: a token check against
// a random secret made at start, which no request can match.
func newDecoy() tokenAuth {
	return tokenAuth{header: "Authorization", expected: []digest{sha256.Sum256([]byte(rand.Text()))}}
}

// answerReplayed answers a delivery id already answered 2xx: 200, nothing
// decoded or stored again (see ReplayConfig for why this is not a 401).
func (s *Server) answerReplayed(c echo.Context, name, reqID string, d delivery) error {
	s.in.metrics.webhook(name, "duplicate_delivery")
	s.in.log.Info("webhook duplicate delivery", "receiver", name, "request_id", reqID, "delivery_id", formats.Clip(d.id, 128))
	return writeAnswer(c, http.StatusOK, &Answer{Status: "ignored", Receiver: name, RequestID: reqID,
		Reason: "duplicate delivery: this delivery id was already accepted; nothing was stored again"})
}

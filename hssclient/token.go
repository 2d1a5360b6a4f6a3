package hssclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of IAM token authentication.
const (
	// DefaultRefreshBefore: a token (valid 24 h) is replaced when less
	// than this is left, so no call starts with a token about to expire.
	// IAM asks for a token valid while it is used, without a number
	// (https://support.huaweicloud.com/intl/en-us/api-iam/iam_30_0001.html);
	// an hour is far longer than any call and costs 1/24 of a token's life.
	DefaultRefreshBefore = time.Hour
	// DefaultTokenTimeout bounds one IAM token request.
	DefaultTokenTimeout = 30 * time.Second
)

// PasswordConfig configures IAM password authentication: the bridge logs
// in as an IAM user and sends the token it gets in X-Auth-Token.
type PasswordConfig struct {
	// DomainName is the account name the IAM user belongs to.
	DomainName string
	// UserName is the IAM user's name.
	UserName string
	// Password is the IAM user's password.
	Password Secret
	// IAMEndpoint is the IAM base URL; "{region}" in it is replaced by
	// the target's region. Empty means DefaultIAMEndpoint(region). Tests
	// and the simulator point it at the fake.
	IAMEndpoint string
	// RefreshBefore is how long before expiry a token is replaced
	// (default DefaultRefreshBefore).
	RefreshBefore time.Duration
	// Timeout bounds one token request (default DefaultTokenTimeout).
	Timeout time.Duration
	// HTTPClient sends the token requests (default: a client that does not
	// follow redirects).
	HTTPClient *http.Client
	// Logger receives a warning when a refresh fails while the old token
	// is still valid and in use (default: discard).
	Logger *slog.Logger
}

// PasswordAuth is the IAM token Authenticator. It gets one token per
// (region, project) from POST /v3/auth/tokens
// (https://support.huaweicloud.com/intl/en-us/api-iam/iam_30_0001.html),
// caches it, replaces it RefreshBefore its expiry (in the background: calls
// keep using the old token while it is valid, so a slow or failing IAM
// does not delay scans), and drops it when HSS refuses it (Refused), so
// that BatchScan fetches a new one and retries once. Callers without a
// valid token wait for one shared fetch; a waiter whose ctx ends stops
// waiting without cancelling the fetch for the others.
type PasswordAuth struct {
	cfg     PasswordConfig
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

type tokenEntry struct {
	token    string
	expires  time.Time
	inflight chan struct{} // closed when the running fetch ends; nil when none runs
	err      error         // the last fetch's error
}

// NewPasswordAuth checks cfg and fills its defaults.
func NewPasswordAuth(cfg PasswordConfig) (*PasswordAuth, error) {
	switch {
	case cfg.DomainName == "":
		return nil, errors.New("IAM password auth: domain (account) name is empty")
	case cfg.UserName == "":
		return nil, errors.New("IAM password auth: user name is empty")
	case cfg.Password.IsZero():
		return nil, fmt.Errorf("IAM password auth: password of user %s is empty", cfg.UserName)
	case cfg.RefreshBefore < 0 || cfg.Timeout < 0:
		return nil, errors.New("IAM password auth: negative RefreshBefore or Timeout")
	}
	if cfg.RefreshBefore == 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTokenTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &PasswordAuth{cfg: cfg, entries: map[string]*tokenEntry{}}, nil
}

// Authorize sets X-Auth-Token to a valid token for t, fetching one when
// the cache has none fresh enough.
func (a *PasswordAuth) Authorize(ctx context.Context, req *http.Request, t Target, _ []byte) error {
	tok, err := a.token(ctx, t.Region, t.ProjectID)
	if err != nil {
		return err
	}
	req.Header.Set(headerAuthToken, tok)
	return nil
}

// Refused drops the token req carried, unless a newer one already
// replaced it, and reports that a retry with a fresh token is worthwhile.
func (a *PasswordAuth) Refused(req *http.Request) bool {
	tok := req.Header.Get(headerAuthToken)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.entries {
		if e.token == tok {
			e.token, e.expires = "", time.Time{}
		}
	}
	return true
}

func (a *PasswordAuth) token(ctx context.Context, region, project string) (string, error) {
	key := region + "\x00" + project
	a.mu.Lock()
	e := a.entries[key]
	if e == nil {
		e = &tokenEntry{}
		a.entries[key] = e
	}
	if e.token != "" && time.Now().Before(e.expires.Add(-a.cfg.RefreshBefore)) {
		tok := e.token
		a.mu.Unlock()
		return tok, nil
	}
	done := e.inflight
	if done == nil {
		done = make(chan struct{})
		e.inflight = done
		go a.refresh(context.WithoutCancel(ctx), region, project, e, done)
	}
	if e.token != "" && time.Now().Before(e.expires) {
		// Due for refresh but still valid: the refresh runs in the
		// background and this call does not wait for IAM.
		tok := e.token
		a.mu.Unlock()
		return tok, nil
	}
	a.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		return "", fmt.Errorf("wait for IAM token of project %s: %w", project, ctx.Err())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.token != "" && time.Now().Before(e.expires) {
		return e.token, nil
	}
	if e.err == nil {
		// Dropped by Refused between the fetch and now: rare; the caller
		// retries later.
		return "", fmt.Errorf("IAM token of project %s: %w: refused right after it was issued", project, errCredentials)
	}
	return "", e.err
}

// refresh runs one fetch for all waiters of e, detached from the ctx of
// the caller that started it (its values are kept) and bounded by Timeout.
func (a *PasswordAuth) refresh(ctx context.Context, region, project string, e *tokenEntry, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	tok, expires, err := a.fetch(ctx, region, project)

	a.mu.Lock()
	defer a.mu.Unlock()
	defer close(done)
	e.inflight = nil
	e.err = err
	if err == nil {
		e.token, e.expires = tok, expires
		return
	}
	if e.token != "" && time.Now().Before(e.expires) {
		a.cfg.Logger.Warn("IAM token refresh failed, using the current token until it expires",
			"project_id", project, "region", region, "expires_at", e.expires, "error", err)
	}
}

// tokenRequest is the password-method body of POST /v3/auth/tokens,
// scoped to a project by id (HSS is a project-level service).
type tokenRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password struct {
				User struct {
					Domain struct {
						Name string `json:"name"`
					} `json:"domain"`
					Name     string `json:"name"`
					Password string `json:"password"`
				} `json:"user"`
			} `json:"password"`
		} `json:"identity"`
		Scope struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

// fetch asks IAM for a token. The password is only ever in the request
// body; errors carry the IAM answer, never the body sent.
func (a *PasswordAuth) fetch(ctx context.Context, region, project string) (string, time.Time, error) {
	op := fmt.Sprintf("fetch IAM token for project %s in %s", project, region)
	var body tokenRequest
	body.Auth.Identity.Methods = []string{"password"}
	body.Auth.Identity.Password.User.Domain.Name = a.cfg.DomainName
	body.Auth.Identity.Password.User.Name = a.cfg.UserName
	body.Auth.Identity.Password.User.Password = a.cfg.Password.Reveal()
	body.Auth.Scope.Project.ID = project
	data, err := json.Marshal(body)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: encode: %w", op, err)
	}

	base := a.cfg.IAMEndpoint
	if base == "" {
		base = DefaultIAMEndpoint(region)
	}
	u := strings.TrimRight(strings.ReplaceAll(base, "{region}", region), "/") + "/v3/auth/tokens?nocatalog=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", time.Time{}, fmt.Errorf("%s: %w", op, parseAPIError(resp.StatusCode, resp.Header, answer))
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: read answer: %w", op, err)
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" || len(tok) > MaxTokenLen {
		return "", time.Time{}, fmt.Errorf("%s: %w: answer has no usable X-Subject-Token (length %d)", op, errCredentials, len(tok))
	}
	var doc struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	if err := json.Unmarshal(answer, &doc); err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w: decode answer: %w", op, errCredentials, err)
	}
	// IAM writes e.g. 2020-01-05T06:46:03.193000Z.
	expires, err := time.Parse(time.RFC3339Nano, doc.Token.ExpiresAt)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w: token.expires_at %q: %w", op, errCredentials, doc.Token.ExpiresAt, err)
	}
	return tok, expires, nil
}

// StaticToken returns an Authenticator that sends a fixed IAM token, for
// operators who obtain tokens themselves (and for the simulator). A
// refused static token cannot be refreshed: the call fails in ClassAuth.
func StaticToken(token Secret) (Authenticator, error) {
	if token.IsZero() || len(token.Reveal()) > MaxTokenLen {
		return nil, fmt.Errorf("static IAM token: length must be 1..%d", MaxTokenLen)
	}
	return staticToken{token}, nil
}

type staticToken struct{ tok Secret }

func (s staticToken) Authorize(_ context.Context, req *http.Request, _ Target, _ []byte) error {
	req.Header.Set(headerAuthToken, s.tok.Reveal())
	return nil
}

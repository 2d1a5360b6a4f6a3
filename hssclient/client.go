package hssclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Authenticator adds the credentials of one call to a request. Authorize
// gets the request with every other header set and the exact body bytes
// (a signature covers them); it may do I/O under ctx (fetch a token) and
// must be safe for concurrent use. NewSigner, NewPasswordAuth and
// StaticToken return the three kinds HSS accepts.
type Authenticator interface {
	Authorize(ctx context.Context, req *http.Request, t Target, body []byte) error
}

// Refresher is implemented by authenticators whose credential can go
// stale. After a 401, every call (BatchScan, ListSwrImageRepository, ...)
// calls Refused with the refused request; when it returns true the call is
// authorized and sent once more.
type Refresher interface {
	Refused(req *http.Request) bool
}

// Defaults of Config.
const (
	DefaultCallTimeout = 30 * time.Second
	DefaultUserAgent   = "scan-bridge-hssclient"
)

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 64 << 10

// Config configures a Client. The zero value of every field but Auth
// selects the default.
type Config struct {
	// Auth authenticates each call: required.
	Auth Authenticator
	// Endpoint overrides the HSS base URL (scheme and host, no path), for
	// tests and the simulator, e.g. http://127.0.0.1:8080. "{region}" in
	// it is replaced by the target's region. Empty means
	// DefaultEndpoint(region).
	Endpoint string
	// UserAgent is the User-Agent header (signed, as in the SDK).
	UserAgent string
	// CallTimeout bounds one HTTP exchange with HSS, token fetch included
	// (not the Pacer's wait, which the caller's ctx bounds). Default
	// DefaultCallTimeout.
	CallTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
}

// Validate checks a Config after defaults are applied.
func (c Config) Validate() error {
	var errs []error
	if c.Auth == nil {
		errs = append(errs, errors.New("Auth is required (AK/SK, IAM password or static token)"))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(strings.ReplaceAll(c.Endpoint, "{region}", "region"))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("Endpoint: %w", err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs = append(errs, fmt.Errorf("Endpoint %q: want http(s)://host[:port]", c.Endpoint))
		case u.Path != "" && u.Path != "/", u.RawQuery != "":
			// The SDK drops a path prefix; refusing it is clearer.
			errs = append(errs, fmt.Errorf("Endpoint %q: must not hold a path or query", c.Endpoint))
		}
	}
	if c.CallTimeout < 0 {
		errs = append(errs, errors.New("CallTimeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hssclient config: %w", err)
	}
	return nil
}

// Option sets an optional dependency of New.
type Option func(*Client)

// WithHTTPClient sends requests through hc (a custom transport, the
// simulator's in-process transport). The default client does not follow
// redirects, as the SDK does not.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithPacer makes every HTTP request wait for p first (see Pacer). nil,
// the default, sends without waiting.
func WithPacer(p Pacer) Option { return func(c *Client) { c.pacer = p } }

// WithObserver receives one Call per call of any API (metrics; Call.API
// tells them apart).
func WithObserver(o Observer) Option { return func(c *Client) { c.observer = o } }

// WithLogger sets the logger for debug lines about calls.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// Client calls the HSS image APIs. It is safe for concurrent use.
type Client struct {
	cfg      Config
	http     *http.Client
	pacer    Pacer
	observer Observer
	log      *slog.Logger
}

// New returns a Client.
func New(cfg Config, opts ...Option) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if c.pacer == nil {
		c.pacer = noPacer{}
	}
	if c.observer == nil {
		c.observer = noopObserver{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "hssclient")
	return c, nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// DefaultEndpoint is the HSS endpoint of a region, as in the SDK's region
// table (services/hss/v5/region): https://hss.{region}.myhuaweicloud.com,
// except the EU sovereign region on .myhuaweicloud.eu.
func DefaultEndpoint(region string) string {
	if region == "eu-west-101" {
		return "https://hss.eu-west-101.myhuaweicloud.eu"
	}
	return "https://hss." + region + ".myhuaweicloud.com"
}

// DefaultIAMEndpoint is the IAM endpoint of a region (services/iam/v3/region).
func DefaultIAMEndpoint(region string) string {
	if region == "eu-west-101" {
		return "https://iam.eu-west-101.myhuaweicloud.eu"
	}
	return "https://iam." + region + ".myhuaweicloud.com"
}

// BatchScan asks HSS to scan the images of r in target t:
// POST /v5/{project_id}/image/batch-scan. It validates t and r, waits for
// the Pacer if there is one (under ctx), and sends the request with its
// own CallTimeout. After a 401 with a refreshable token it refreshes the
// token and sends once more (after another wait for the Pacer).
//
// It returns nil when HSS accepted the request (the API answers 200 with
// no body; results are read from the image list later). Any error wraps
// what failed with the target; pass it to Classify, and read *APIError
// (errors.As) for HSS's code and request id, or InvalidItems for the
// items that broke a limit.
func (c *Client) BatchScan(ctx context.Context, t Target, r BatchScanRequest) error {
	op := fmt.Sprintf("batch scan %s %s (%d images)", t, r.ImageType, len(r.ImageInfoList))
	if err := errors.Join(t.Validate(), r.Validate()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	body, err := r.encode()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return c.do(ctx, t, op, apiCall{
		api: APIBatchScan, method: http.MethodPost, path: "/image/batch-scan", region: true, body: body,
		imageType: r.ImageType, images: len(r.ImageInfoList),
	})
}

// apiCall is one HSS request as a method built it: everything do needs
// to send it and to describe it to the Observer.
type apiCall struct {
	api    string // the operation, Call.API
	method string
	// path follows /v5/{project_id}.
	path string
	// query holds the parameters other than enterprise_project_id, which
	// do adds from the Target.
	query url.Values
	// region sends the region header: the SDK's request model for the
	// operation has it (not every one does).
	region bool
	// body is nil for a GET: the SDK sends none.
	body      []byte
	imageType ImageType
	images    int
	// decode, when set, reads a 2xx answer's body (up to maxListAnswer)
	// and returns the rows it held, which replace images in the Call; an
	// error fails the call. nil discards the answer.
	decode func(answer []byte) (rows int, err error)
}

// do sends one call: pacer, request, one retry after a refused token,
// decoding of the answer, Observer and debug log. Errors are wrapped with
// op.
func (c *Client) do(ctx context.Context, t Target, op string, ac apiCall) error {
	u, err := c.url(t, ac.path, ac.query)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	call := Call{API: ac.api, Target: t, ImageType: ac.imageType, Images: ac.images}
	answer, err := c.exchange(ctx, t, u, ac, &call)
	if err == nil && ac.decode != nil {
		call.Images, err = ac.decode(answer)
	}
	call.Class = Classify(err)
	if call.RequestID == "" {
		var ae *APIError
		if errors.As(err, &ae) {
			call.RequestID = ae.RequestID
		}
	}
	recordAnswer(ctx, call)
	c.observer.ObserveCall(call)
	if err != nil {
		c.log.DebugContext(ctx, "hss call failed", "api", ac.api, "target", t.String(), "images", call.Images,
			"status", call.Status, "class", call.Class.String(), "error", err)
		return fmt.Errorf("%s: %w", op, err)
	}
	c.log.DebugContext(ctx, "hss call accepted", "api", ac.api, "target", t.String(), "images", call.Images,
		"duration", call.Duration, "wait", call.Wait)
	return nil
}

func (c *Client) exchange(ctx context.Context, t Target, u string, ac apiCall, call *Call) ([]byte, error) {
	for {
		waitStart := time.Now()
		err := wait(ctx, c.pacer, ac.api)
		call.Wait += time.Since(waitStart)
		if err != nil {
			return nil, err
		}
		call.Attempts++
		sendStart := time.Now()
		req, status, answer, reqID, err := c.send(ctx, t, u, ac)
		call.Duration += time.Since(sendStart)
		call.Status, call.RequestID = status, reqID
		if status == http.StatusUnauthorized && call.Attempts == 1 {
			if rf, ok := c.cfg.Auth.(Refresher); ok && rf.Refused(req) {
				c.log.DebugContext(ctx, "hss refused the token, refreshing", "api", ac.api, "target", t.String(), "error", err)
				continue
			}
		}
		return answer, err
	}
}

// maxListAnswer bounds a 2xx answer that is read: 200 image rows with
// every field at its longest are under 1 MiB.
const maxListAnswer = 4 << 20

// send makes one HTTP exchange under CallTimeout and returns the request
// (for Refused), the status (0 without an answer), the 2xx answer's body
// when ac.decode is set, the answer's X-Request-Id and the error.
func (c *Client) send(ctx context.Context, t Target, u string, ac apiCall) (*http.Request, int, []byte, string, error) {
	req, status, answer, header, err := c.sendHTTP(ctx, t, u, ac)
	reqID := ""
	if header != nil {
		reqID = header.Get(headerRequestID)
	}
	return req, status, answer, reqID, err
}

// headerRequestID is the answer header that names the request at HSS.
const headerRequestID = "X-Request-Id"

func (c *Client) sendHTTP(ctx context.Context, t Target, u string, ac apiCall) (*http.Request, int, []byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	var body io.Reader
	if ac.body != nil {
		body = bytes.NewReader(ac.body)
	}
	req, err := http.NewRequestWithContext(ctx, ac.method, u, body)
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	// The headers the SDK sends (sdk_test.go compares them with the SDK's own
	// request): Content-Type even on a GET without a body, region only where
	// the operation's model has it; the Authenticator adds its own.
	req.Header.Set("Content-Type", "application/json")
	if ac.region {
		req.Header.Set(headerRegion, t.Region)
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if err := c.cfg.Auth.Authorize(ctx, req, t, ac.body); err != nil {
		return req, 0, nil, nil, fmt.Errorf("authorize: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return req, 0, nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if ac.decode == nil {
			// Drain so the connection is reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
			return req, resp.StatusCode, nil, resp.Header, nil
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, maxListAnswer+1))
		switch {
		case err != nil:
			return req, resp.StatusCode, nil, resp.Header, fmt.Errorf("read answer: %w", err)
		case len(answer) > maxListAnswer:
			return req, resp.StatusCode, nil, resp.Header, fmt.Errorf("answer is over %d bytes", maxListAnswer)
		}
		return req, resp.StatusCode, answer, resp.Header, nil
	}
	// A failed read leaves a partial body: still the best error to report.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return req, resp.StatusCode, nil, resp.Header, parseAPIError(resp.StatusCode, resp.Header, answer)
}

// url builds the request URL as the SDK does: the project id in the path,
// the query parameters with enterprise_project_id (only when set), keys
// sorted, "%20" for spaces (encodeQuery).
func (c *Client) url(t Target, path string, query url.Values) (string, error) {
	base := c.cfg.Endpoint
	if base == "" {
		base = DefaultEndpoint(t.Region)
	}
	u, err := url.Parse(strings.ReplaceAll(base, "{region}", t.Region))
	if err != nil {
		return "", fmt.Errorf("endpoint: %w", err)
	}
	u.Path = "/v5/" + t.ProjectID + path
	u.RawPath = ""
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if t.EnterpriseProjectID != "" {
		q.Set("enterprise_project_id", t.EnterpriseProjectID)
	}
	u.RawQuery = encodeQuery(q)
	return u.String(), nil
}

// encodeQuery encodes as the SDK's DefaultHttpRequest.fillQueryParams
// (core/request/default_http_request.go): url.Values.Encode, keys sorted,
// with "+" written "%20". Callers add no empty values (the SDK would drop
// their "=").
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

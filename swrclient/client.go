package swrclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/scan-bridge/scan-bridge/hssclient"
)

// Credentials are the AK/SK pair (and token, when temporary) requests are
// signed with: HSS's, the same scheme for every Huawei Cloud API.
type Credentials = hssclient.Credentials

// NewSecret wraps a secret value (hssclient.NewSecret).
func NewSecret(v string) hssclient.Secret { return hssclient.NewSecret(v) }

// CredentialsFromEnv reads HUAWEICLOUD_SDK_AK / _SK / _SECURITY_TOKEN (or
// CLOUD_SDK_AK / _SK, or their *_FILE variants), as hssclient does.
func CredentialsFromEnv() (Credentials, error) { return hssclient.CredentialsFromEnv() }

// ErrNoCredentials: the environment holds no access key at all.
var ErrNoCredentials = hssclient.ErrNoCredentials

// Paging and size bounds.
const (
	// MaxPageSize is the most the API returns in one page ("最多返回1000条"
	// in the SDK models of both calls).
	MaxPageSize = 1000
	// DefaultPageSize is the API's own default (100).
	DefaultPageSize = 100
	// MaxBody bounds one response body. A tag row carries its manifest
	// (a few KiB; a manifest list some tens), so a page of 1000 tags fits.
	MaxBody = 32 << 20
	// DefaultMaxPages bounds the pages of one listing.
	DefaultMaxPages = 1000
)

// DefaultCallsPerMinute paces every SWR call of one client. SWR's API
// reference documents no rate for these calls (its pages say
// "Constraints: None", e.g.
// https://support.huaweicloud.com/intl/en-us/api-swr/swr_02_0035.html);
// the Huawei API gateway's user limit seen in a real 429 is "policy user
// over ratelimit,limit:200,time:5 minute" (40 a minute,
// https://github.com/huaweicloud/terraform-provider-huaweicloud/issues/1335),
// and HSS documents 5 a minute per API and user
// (https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html). 30 a minute stays under the gateway's
// figure with a quarter of it left for the console and other tools of
// the same account, and lets a round list 1,000 repositories (one page)
// and the tags of 29 changed ones within a minute. A 429 is waited out
// (RetryAfter429) and the call retried.
const DefaultCallsPerMinute = 30

// Retry429 is how many times a throttled call is retried, and
// RetryAfter429 the wait before the first retry (doubled after each):
// the gateway's advice is to retry after 2-5 s
// (https://support.huaweicloud.com/intl/en-us/ocr_faq/ocr_01_0041.html).
const (
	Retry429      = 3
	RetryAfter429 = 3 * time.Second
)

// DefaultUserAgent is sent unless Config.UserAgent says otherwise.
const DefaultUserAgent = "scan-bridge"

// Config says how to reach SWR.
type Config struct {
	// Region is the SWR region, e.g. cn-north-4.
	Region string
	// Endpoint overrides https://swr-api.{region}.myhuaweicloud.com.
	Endpoint string
	// Credentials sign every request.
	Credentials Credentials
	// ProjectID, when set, is sent as X-Project-Id, as the SDK sends its
	// credentials' project; the /v2/manage APIs do not need it.
	ProjectID string
	// CallsPerMinute paces the calls; 0 means DefaultCallsPerMinute.
	CallsPerMinute float64
	// Limiter, when set, paces the calls instead (CallsPerMinute is
	// then unused): clients of one account built one after another (a
	// client per round, for credentials read afresh) share one pace.
	Limiter *rate.Limiter
	// Transport replaces the HTTP transport (tests, the dry run's fake).
	Transport http.RoundTripper
	// Timeout bounds one call; default 30s.
	Timeout time.Duration
	// UserAgent replaces DefaultUserAgent.
	UserAgent string
	// Sleep waits before a retry (tests); default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewLimiter paces callsPerMinute calls a minute, one at a time (burst
// 1, so no sliding minute holds more).
func NewLimiter(callsPerMinute float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(cmp.Or(callsPerMinute, DefaultCallsPerMinute)/60), 1)
}

// RegistryHost is the pull host of a region's SWR, the host its images
// are named by: swr.{region}.myhuaweicloud.com.
func RegistryHost(region string) string { return "swr." + region + ".myhuaweicloud.com" }

// Endpoint returns the SWR endpoint of a region.
func Endpoint(region string) string { return "https://swr-api." + region + ".myhuaweicloud.com" }

// Client calls SWR. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	creds   Credentials
	signer  *hssclient.Signer
	project string
	hc      *http.Client
	limit   *rate.Limiter
	ua      string
	sleep   func(ctx context.Context, d time.Duration) error
	// date pins X-Sdk-Date (tests comparing with the SDK).
	date string
}

// New checks cfg and returns its client.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" && cfg.Region == "" {
		return nil, errors.New("swr: a region (or an endpoint) is required")
	}
	ep := cmp.Or(cfg.Endpoint, Endpoint(cfg.Region))
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("swr: endpoint %q: use https://host[:port]", ep)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	signer, err := hssclient.NewSigner(cfg.Credentials)
	if err != nil {
		return nil, fmt.Errorf("swr: %w", err)
	}
	cpm := cmp.Or(cfg.CallsPerMinute, DefaultCallsPerMinute)
	if cpm < 0 {
		return nil, fmt.Errorf("swr: calls per minute %v: must be positive", cpm)
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c := &Client{base: u, creds: cfg.Credentials, signer: signer, project: cfg.ProjectID,
		hc:    &http.Client{Transport: rt, Timeout: cmp.Or(cfg.Timeout, 30*time.Second), CheckRedirect: noRedirect},
		limit: cfg.Limiter, ua: cmp.Or(cfg.UserAgent, DefaultUserAgent), sleep: cfg.Sleep}
	if c.sleep == nil {
		c.sleep = sleep
	}
	if c.limit == nil {
		c.limit = NewLimiter(cpm)
	}
	return c, nil
}

// noRedirect: a signed request is not replayed to another place.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// API names, as the SDK names the calls.
const (
	APIListReposDetails   = "ListReposDetails"
	APIListRepositoryTags = "ListRepositoryTags"
)

// Error is a refused or failed call.
type Error struct {
	// API is the call (APIListReposDetails, APIListRepositoryTags).
	API string
	// What names its subject: a namespace, a repository, a page.
	What string
	// Status is the HTTP status (0: no answer).
	Status int
	// Code and Message are the error body's (SWR's errorCode and
	// errorMessage, or the gateway's error_code and error_msg).
	Code, Message string
	// RequestID is the X-Request-Id header, for Huawei's support.
	RequestID string
	// Err is the transport's or the decoder's error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "swr %s %s", e.API, e.What)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" || e.Message != "" {
		fmt.Fprintf(&b, " %s %s", e.Code, e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// NotFound reports whether the call's subject does not exist (a
// repository deleted since it was listed).
func (e *Error) NotFound() bool { return e.Status == http.StatusNotFound }

// Throttled reports a 429 that outlasted the retries.
func (e *Error) Throttled() bool { return e.Status == http.StatusTooManyRequests }

// IsNotFound reports whether err is an Error whose subject is gone.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NotFound()
}

// page is one answer of a listing: the raw body and the total from
// Content-Range (-1 when absent).
type page struct {
	body  []byte
	total int
}

// get sends one signed GET, paced, retrying a 429.
func (c *Client) get(ctx context.Context, api, what, path string, q url.Values) (page, error) {
	fail := func(status int, err error) (page, error) {
		return page{}, &Error{API: api, What: what, Status: status, Err: err}
	}
	wait := RetryAfter429
	for attempt := 0; ; attempt++ {
		if err := c.limit.Wait(ctx); err != nil {
			return fail(0, fmt.Errorf("wait for the rate limit: %w", err))
		}
		req, err := c.request(ctx, path, q)
		if err != nil {
			return fail(0, err)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return fail(0, redactURL(err))
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
		_ = resp.Body.Close()
		if rerr != nil {
			return fail(resp.StatusCode, fmt.Errorf("read the answer: %w", rerr))
		}
		if len(body) > MaxBody {
			return fail(resp.StatusCode, fmt.Errorf("answer over %d bytes", MaxBody))
		}
		if resp.StatusCode == http.StatusOK {
			total, err := parseContentRange(resp.Header.Get("Content-Range"))
			if err != nil {
				return fail(resp.StatusCode, err)
			}
			return page{body: body, total: total}, nil
		}
		e := decodeError(body)
		e.API, e.What, e.Status, e.RequestID = api, what, resp.StatusCode, resp.Header.Get("X-Request-Id")
		if resp.StatusCode == http.StatusTooManyRequests && attempt < Retry429 {
			if err := c.sleep(ctx, wait); err != nil {
				return page{}, e
			}
			wait *= 2
			continue
		}
		return page{}, e
	}
}

// redactURL keeps a transport error's cause and drops the URL, which
// holds nothing secret but makes the message long; the signature is in a
// header and never in an error.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// request builds and signs a GET as the SDK builds it: the path's
// segments escaped, the query in the SDK's order (sorted by name, which
// is what url.Values.Encode writes), Content-Type application/json
// (the models' default), User-Agent, X-Project-Id when given, then the
// SDK-HMAC-SHA256 signature.
func (c *Client) request(ctx context.Context, path string, q url.Values) (*http.Request, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if c.project != "" {
		req.Header.Set("X-Project-Id", c.project)
	}
	if !c.creds.SecurityToken.IsZero() {
		req.Header.Set("X-Security-Token", c.creds.SecurityToken.Reveal())
	}
	if c.date != "" {
		req.Header.Set("X-Sdk-Date", c.date)
	}
	c.signer.Sign(req, nil)
	return req, nil
}

// Repo is one repository of the account.
type Repo struct {
	// Namespace is the organization, Name the repository in it (it may
	// hold '/').
	Namespace, Name string
	// UpdatedAt is when SWR last changed it: a push moves it.
	UpdatedAt time.Time
	// NumImages is its tag count.
	NumImages int64
	// Path is its pull address, swr.{region}.myhuaweicloud.com/ns/name.
	Path string
}

// FullName is namespace/name, the repository as a push names it.
func (r Repo) FullName() string { return r.Namespace + "/" + r.Name }

// Tag is one tag of a repository.
type Tag struct {
	Name   string
	Digest string
	// Updated is when the tag last moved.
	Updated time.Time
	// MediaType is the manifest's, read from the manifest SWR returns
	// ("" when it says none).
	MediaType string
	// ConfigMediaType and ArtifactType are read from the same manifest:
	// they tell an artifact (a Helm chart, an SBOM) from an image without
	// another call ("" when the manifest has none, as an index has not).
	ConfigMediaType, ArtifactType string
	// List: the tag is a manifest list or an index (tag_type 1).
	List bool
}

// ListOptions bound one listing.
type ListOptions struct {
	// PageSize is the limit of each call, 1-1000; default 100.
	PageSize int
	// MaxItems stops the listing once it holds that many; 0: no bound
	// but MaxPages.
	MaxItems int
	// MaxPages bounds the calls; default DefaultMaxPages.
	MaxPages int
}

func (o ListOptions) norm() (ListOptions, error) {
	o.PageSize = cmp.Or(o.PageSize, DefaultPageSize)
	o.MaxPages = cmp.Or(o.MaxPages, DefaultMaxPages)
	if o.PageSize < 1 || o.PageSize > MaxPageSize {
		return o, fmt.Errorf("page size %d: use 1-%d", o.PageSize, MaxPageSize)
	}
	if o.MaxPages < 1 || o.MaxItems < 0 {
		return o, errors.New("max pages must be positive and max items not negative")
	}
	return o, nil
}

// ListRepos lists the account's repositories, in namespace when it is
// not empty, newest update first (order_column=updated_at,
// order_type=desc), page after page until the total, a short page,
// MaxItems or MaxPages. A repository updated while the listing runs may
// move between pages and be missed; the caller's next listing sees it.
func (c *Client) ListRepos(ctx context.Context, namespace string, o ListOptions) ([]Repo, error) {
	o, err := o.norm()
	if err != nil {
		return nil, &Error{API: APIListReposDetails, What: "of " + orAll(namespace), Err: err}
	}
	var out []Repo
	for p := 0; p < o.MaxPages; p++ {
		offset := p * o.PageSize
		q := url.Values{"limit": {strconv.Itoa(o.PageSize)}, "offset": {strconv.Itoa(offset)},
			"order_column": {"updated_at"}, "order_type": {"desc"}}
		if namespace != "" {
			q.Set("namespace", namespace)
		}
		what := fmt.Sprintf("of %s at offset %d", orAll(namespace), offset)
		pg, err := c.get(ctx, APIListReposDetails, what, "/v2/manage/repos", q)
		if err != nil {
			return nil, err
		}
		repos, err := decodeRepos(pg.body)
		if err != nil {
			return nil, &Error{API: APIListReposDetails, What: what, Status: http.StatusOK, Err: err}
		}
		out = append(out, repos...)
		if o.MaxItems > 0 && len(out) >= o.MaxItems {
			return out[:o.MaxItems], nil
		}
		if len(repos) < o.PageSize || (pg.total >= 0 && offset+len(repos) >= pg.total) {
			return out, nil
		}
	}
	return out, nil
}

func orAll(ns string) string {
	if ns == "" {
		return "every namespace"
	}
	return "namespace " + ns
}

// RepoPathSegment is a repository name as the path of the tags call
// takes it: SWR's v2 manage APIs want each '/' of a name as '$'
// (https://support.huaweicloud.com/intl/en-us/api-swr/swr_02_0123.html:
// "Replace a slash (/) with a dollar sign ($) before you send the
// request").
func RepoPathSegment(name string) string { return strings.ReplaceAll(name, "/", "$") }

// ListTags lists a repository's tags, newest update first
// (order_column=updated_at, order_type=desc), so a bound keeps the
// newest.
func (c *Client) ListTags(ctx context.Context, namespace, repo string, o ListOptions) ([]Tag, error) {
	o, err := o.norm()
	what := "of " + namespace + "/" + repo
	if err != nil {
		return nil, &Error{API: APIListRepositoryTags, What: what, Err: err}
	}
	if namespace == "" || repo == "" {
		return nil, &Error{API: APIListRepositoryTags, What: what, Err: errors.New("namespace and repository are required")}
	}
	path := "/v2/manage/namespaces/" + namespace + "/repos/" + RepoPathSegment(repo) + "/tags"
	var out []Tag
	for p := 0; p < o.MaxPages; p++ {
		offset := p * o.PageSize
		q := url.Values{"limit": {strconv.Itoa(o.PageSize)}, "offset": {strconv.Itoa(offset)},
			"order_column": {"updated_at"}, "order_type": {"desc"}}
		pwhat := fmt.Sprintf("%s at offset %d", what, offset)
		pg, err := c.get(ctx, APIListRepositoryTags, pwhat, path, q)
		if err != nil {
			return nil, err
		}
		tags, err := decodeTags(pg.body)
		if err != nil {
			return nil, &Error{API: APIListRepositoryTags, What: pwhat, Status: http.StatusOK, Err: err}
		}
		out = append(out, tags...)
		if o.MaxItems > 0 && len(out) >= o.MaxItems {
			return out[:o.MaxItems], nil
		}
		if len(tags) < o.PageSize || (pg.total >= 0 && offset+len(tags) >= pg.total) {
			return out, nil
		}
	}
	return out, nil
}

package swrtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/aksk"
)

// API names, as the SDK names the calls.
const (
	APIListReposDetails   = "ListReposDetails"
	APIListRepositoryTags = "ListRepositoryTags"
)

// Key is the secret side of an access key the fake accepts.
type Key = aksk.Key

// Options configure a Fake.
type Options struct {
	// AccessKeys maps access key to secret: the AK/SK pairs accepted.
	AccessKeys map[string]Key
	// Now is the fake's clock (default time.Now).
	Now func() time.Time
	// MaxSkew is the clock skew a signature may have; default 15 minutes,
	// the API gateway's.
	MaxSkew time.Duration
	// CallsPerMinute, when positive, throttles each API per access key in
	// a sliding minute: the call over it is answered 429.
	CallsPerMinute int
}

// Fake is the fake SWR API. Its zero value is not usable; call New.
type Fake struct {
	opts Options

	mu        sync.Mutex
	repos     map[string]*repo // by namespace/name
	calls     map[string]int
	throttled map[string]int
	recent    map[string][]time.Time // api+ak → accepted call times
	throttleN int
	requests  []Request
	refusals  []Refusal
}

// Request is one accepted call.
type Request struct {
	API   string
	Path  string
	Query url.Values
}

// Refusal is one refused call and why.
type Refusal struct {
	API, Path string
	Status    int
	Code      string
	Reason    string
}

type repo struct {
	namespace, name  string
	created, updated time.Time
	tags             map[string]*tag
}

type tag struct {
	name, digest, mediaType string
	// manifest is the manifest the tag row carries; "" for one made of
	// mediaType alone.
	manifest         string
	list             bool
	created, updated time.Time
}

// New returns a fake with no repositories.
func New(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.MaxSkew = cmp.Or(opts.MaxSkew, 15*time.Minute)
	return &Fake{opts: opts, repos: map[string]*repo{}, calls: map[string]int{}, throttled: map[string]int{}, recent: map[string][]time.Time{}}
}

// Server is a Fake on a loopback socket.
type Server struct {
	*Fake
	*httptest.Server
}

// NewServer starts a fake on 127.0.0.1; Close stops it.
func NewServer(opts Options) *Server {
	f := New(opts)
	return &Server{Fake: f, Server: httptest.NewServer(f)}
}

// Push makes namespace/name:tag exist with digest from at (a re-push
// moves it), and moves the repository's update time, as a docker push
// does. mediaType "" is the Docker v2 manifest's.
func (f *Fake) Push(namespace, name, tagName, digest string, at time.Time) {
	f.PushManifest(namespace, name, tagName, digest, "", at)
}

// PushManifest is Push with the manifest's media type; an index or
// manifest list is tag_type 1.
func (f *Fake) PushManifest(namespace, name, tagName, digest, mediaType string, at time.Time) {
	f.push(namespace, name, tagName, digest, mediaType, "", at)
}

// PushRaw is Push with the whole manifest the tag row is to carry (an
// artifact's, whose config media type or artifactType says what it is);
// its media type is read from it.
func (f *Fake) PushRaw(namespace, name, tagName, digest string, manifest []byte, at time.Time) {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(manifest, &m)
	f.push(namespace, name, tagName, digest, m.MediaType, string(manifest), at)
}

func (f *Fake) push(namespace, name, tagName, digest, mediaType, manifest string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := namespace + "/" + name
	r := f.repos[key]
	if r == nil {
		r = &repo{namespace: namespace, name: name, created: at, tags: map[string]*tag{}}
		f.repos[key] = r
	}
	r.updated = at
	mt := cmp.Or(mediaType, "application/vnd.docker.distribution.manifest.v2+json")
	t := r.tags[tagName]
	if t == nil {
		t = &tag{name: tagName, created: at}
		r.tags[tagName] = t
	}
	t.digest, t.mediaType, t.manifest, t.updated = digest, mt, manifest, at
	t.list = strings.Contains(mt, "index") || strings.Contains(mt, "list")
}

// DeleteTag removes a tag (the repository's update time moves).
func (f *Fake) DeleteTag(namespace, name, tagName string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.repos[namespace+"/"+name]; r != nil {
		delete(r.tags, tagName)
		r.updated = at
	}
}

// Throttle answers the next n calls 429, whatever the rate.
func (f *Fake) Throttle(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttleN = n
}

// Calls counts the accepted calls of an API.
func (f *Fake) Calls(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[api]
}

// Throttled counts the 429s of an API.
func (f *Fake) Throttled(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.throttled[api]
}

// Requests returns the accepted calls, in order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Refusals returns the refused calls, in order.
func (f *Fake) Refusals() []Refusal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.refusals)
}

// Transport hands requests to the fake in process, without a socket.
func (f *Fake) Transport() http.RoundTripper { return transport{f} }

type transport struct{ f *Fake }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("swrtest transport: read body: %w", err)
		}
		body = b
	}
	sreq := req.Clone(req.Context())
	sreq.Body = io.NopCloser(strings.NewReader(string(body)))
	sreq.ContentLength = int64(len(body))
	sreq.RequestURI = req.URL.RequestURI()
	sreq.Host = cmp.Or(req.Host, req.URL.Host)
	rec := httptest.NewRecorder()
	t.f.ServeHTTP(rec, sreq)
	if err := req.Context().Err(); err != nil {
		return nil, fmt.Errorf("swrtest transport: %w", err)
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// namespaceRE is an organization name as the SDK model describes it:
// a lower-case letter first, lower-case letters, digits, '.', '_' or '-'
// after, a letter or digit last, 1-64 characters.
var namespaceRE = regexp.MustCompile(`^[a-z]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// param is one query parameter of a model and the values it takes.
type param struct {
	name  string
	check func(string) string // "" when valid, else why not
}

func intIn(lo, hi int) func(string) string {
	return func(v string) string {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Sprintf("must be an integer in %d-%d", lo, hi)
		}
		return ""
	}
}

func oneOf(vals ...string) func(string) string {
	return func(v string) string {
		if !slices.Contains(vals, v) {
			return "must be one of " + strings.Join(vals, ", ")
		}
		return ""
	}
}

func anyString(max int) func(string) string {
	return func(v string) string {
		if v == "" || len(v) > max {
			return fmt.Sprintf("must be 1-%d bytes", max)
		}
		return ""
	}
}

var (
	pLimit  = param{"limit", intIn(1, 1000)}
	pOffset = param{"offset", intIn(0, 1<<31-1)}
	pOrderC = param{"order_column", oneOf("updated_at")}
	pOrderT = param{"order_type", oneOf("desc", "asc")}
	// The query parameters of each model (ListReposDetailsRequest,
	// ListRepositoryTagsRequest), with the ranges their comments give.
	reposParams = []param{
		{"namespace", func(v string) string {
			if !namespaceRE.MatchString(v) {
				return "is not an organization name"
			}
			return ""
		}},
		{"name", anyString(128)},
		{"category", oneOf("app_server", "linux", "framework_app", "database", "lang", "other", "windows", "arm")},
		pLimit, pOffset, pOrderC, pOrderT,
		{"filter", anyString(1024)},
	}
	tagsParams = []param{pLimit, pOffset, pOrderC, pOrderT, {"tag", anyString(128)}, {"filter", anyString(1024)}}
)

// badRequest is a 400 with SWR's body.
type badRequest struct{ reason string }

func bad(format string, args ...any) *badRequest { return &badRequest{fmt.Sprintf(format, args...)} }

// checkQuery checks the raw query against a model's parameters: known,
// once each, valid; offset with limit and order_column with order_type,
// as the models ask. filter ("k::v|k::v") is read into the same values
// and wins over them, as the models say.
func checkQuery(raw string, params []param) (url.Values, *badRequest) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, bad("query is not URL-encoded")
	}
	byName := map[string]param{}
	for _, p := range params {
		byName[p.name] = p
	}
	for k, vs := range q {
		p, ok := byName[k]
		if !ok {
			return nil, bad("query parameter %q is not one of the API's", k)
		}
		if len(vs) != 1 {
			return nil, bad("query parameter %s given %d times", k, len(vs))
		}
		if why := p.check(vs[0]); why != "" {
			return nil, bad("query parameter %s %q: %s", k, vs[0], why)
		}
	}
	if f := q.Get("filter"); f != "" {
		q.Del("filter")
		for part := range strings.SplitSeq(f, "|") {
			k, v, ok := strings.Cut(part, "::")
			p, known := byName[k]
			if !ok || !known || k == "filter" {
				return nil, bad("filter part %q is not key::value of the API's keys", part)
			}
			if why := p.check(v); why != "" {
				return nil, bad("filter %s %q: %s", k, v, why)
			}
			q.Set(k, v)
		}
	}
	if q.Has("limit") != q.Has("offset") {
		return nil, bad("offset and limit go together")
	}
	if q.Has("order_column") != q.Has("order_type") {
		return nil, bad("order_column and order_type go together")
	}
	return q, nil
}

// ServeHTTP answers one call.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api, ns, name, ok := route(r.URL.EscapedPath())
	if !ok || r.Method != http.MethodGet {
		f.refuse(w, api, r.URL.Path, http.StatusNotFound, "APIG.0101", "The API does not exist or has not been published in the environment", false)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || len(body) > 0 {
		f.refuse(w, api, r.URL.Path, http.StatusBadRequest, "SVCSTG.SWR.4000014", "a GET carries no body", true)
		return
	}
	now := f.opts.Now()
	ak, fail := f.verifyAKSK(r, body, now)
	if fail != nil {
		f.refuse(w, api, r.URL.Path, http.StatusUnauthorized, fail.code, fail.msg, false)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && ct != "application/json;charset=utf-8" {
		f.refuse(w, api, r.URL.Path, http.StatusBadRequest, "SVCSTG.SWR.4000014", fmt.Sprintf("Content-Type %q: the API takes application/json", ct), true)
		return
	}
	params := reposParams
	if api == APIListRepositoryTags {
		params = tagsParams
	}
	q, br := checkQuery(r.URL.RawQuery, params)
	if br == nil && api == APIListRepositoryTags && q.Has("limit") {
		// "The value can be 0 or a positive integer multiple of the
		// limit value" (the API reference of ListRepositoryTags).
		l, _ := strconv.Atoi(q.Get("limit"))
		o, _ := strconv.Atoi(q.Get("offset"))
		if o%l != 0 {
			br = bad("offset %d is not a multiple of limit %d", o, l)
		}
	}
	if br != nil {
		f.refuse(w, api, r.URL.Path, http.StatusBadRequest, "SVCSTG.SWR.4000014", "Invalid parameter: "+br.reason, true)
		return
	}
	if f.throttle(api, ak, now) {
		f.mu.Lock()
		f.throttled[api]++
		f.mu.Unlock()
		f.refuse(w, api, r.URL.Path, http.StatusTooManyRequests, "APIG.0308",
			fmt.Sprintf("The throttling threshold has been reached: policy user over ratelimit,limit:%d,time:1 minute", f.opts.CallsPerMinute), false)
		return
	}
	f.mu.Lock()
	f.calls[api]++
	f.requests = append(f.requests, Request{API: api, Path: r.URL.Path, Query: q})
	f.mu.Unlock()
	switch api {
	case APIListReposDetails:
		f.serveRepos(w, q)
	default:
		f.serveTags(w, ns, name, q)
	}
}

// route names the API of an escaped path, with the tags call's namespace
// and repository ('$' read as '/').
func route(p string) (api, ns, name string, ok bool) {
	if p == "/v2/manage/repos" {
		return APIListReposDetails, "", "", true
	}
	rest, ok := strings.CutPrefix(p, "/v2/manage/namespaces/")
	if !ok {
		return "", "", "", false
	}
	segs := strings.Split(rest, "/")
	if len(segs) != 4 || segs[1] != "repos" || segs[3] != "tags" || segs[0] == "" || segs[2] == "" {
		return "", "", "", false
	}
	ns, err1 := url.PathUnescape(segs[0])
	repo, err2 := url.PathUnescape(segs[2])
	if err1 != nil || err2 != nil || strings.Contains(repo, "/") {
		// A '/' in a name goes as '$'; an escaped one is a wrong path.
		return APIListRepositoryTags, "", "", false
	}
	return APIListRepositoryTags, ns, strings.ReplaceAll(repo, "$", "/"), true
}

// throttle counts a call against the sliding minute of its API and key.
func (f *Fake) throttle(api, ak string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.throttleN > 0 {
		f.throttleN--
		return true
	}
	if f.opts.CallsPerMinute <= 0 {
		return false
	}
	k := api + " " + ak
	times := f.recent[k]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= time.Minute {
		i++
	}
	times = times[i:]
	if len(times) >= f.opts.CallsPerMinute {
		f.recent[k] = times
		return true
	}
	f.recent[k] = append(times, now)
	return false
}

// refuse answers an error: SWR's list body for the service's own
// refusals, the gateway's object for the gateway's (401, 404, 429).
func (f *Fake) refuse(w http.ResponseWriter, api, path string, status int, code, msg string, service bool) {
	f.mu.Lock()
	f.refusals = append(f.refusals, Refusal{API: api, Path: path, Status: status, Code: code, Reason: msg})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "swrtest-"+strconv.Itoa(len(f.refusals)))
	w.WriteHeader(status)
	if service {
		_ = json.NewEncoder(w).Encode([]map[string]string{{"errorCode": code, "errorMessage": msg, "detail": ""}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": code, "error_msg": msg, "request_id": "swrtest"})
}

// page cuts rows by offset and limit and sets Content-Range, which the
// API adds only when both are sent.
func page[T any](w http.ResponseWriter, q url.Values, rows []T) []T {
	if !q.Has("limit") {
		return rows
	}
	l, _ := strconv.Atoi(q.Get("limit"))
	o, _ := strconv.Atoi(q.Get("offset"))
	total := len(rows)
	o = min(o, total)
	rows = rows[o:min(o+l, total)]
	w.Header().Set("Content-Range", fmt.Sprintf("%d-%d/%d", o, len(rows), total))
	return rows
}

const timeLayout = "2006-01-02T15:04:05.999999Z"

// ordered compares two rows as the listing's query orders them: by update
// time when order_column=updated_at (descending with order_type=desc),
// then by name.
func ordered(q url.Values, at, bt time.Time, an, bn string) int {
	if q.Get("order_column") == "updated_at" {
		c := at.Compare(bt)
		if q.Get("order_type") == "desc" {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return strings.Compare(an, bn)
}

func (f *Fake) serveRepos(w http.ResponseWriter, q url.Values) {
	f.mu.Lock()
	var rows []map[string]any
	var list []*repo
	for _, r := range f.repos {
		if ns := q.Get("namespace"); ns != "" && r.namespace != ns {
			continue
		}
		if n := q.Get("name"); n != "" && !strings.Contains(r.name, n) {
			continue
		}
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b *repo) int {
		return ordered(q, a.updated, b.updated, a.namespace+"/"+a.name, b.namespace+"/"+b.name)
	})
	for _, r := range list {
		var tags []string
		for t := range r.tags {
			tags = append(tags, t)
		}
		slices.Sort(tags)
		rows = append(rows, map[string]any{"name": r.name, "category": "other", "description": "", "size": 0,
			"is_public": false, "num_images": len(r.tags), "num_download": 0,
			"created_at": r.created.UTC().Format(timeLayout), "updated_at": r.updated.UTC().Format(timeLayout),
			"logo": "", "url": "", "path": "swr.example.myhuaweicloud.com/" + r.namespace + "/" + r.name,
			"internal_path": "10.0.0.1:20202/" + r.namespace + "/" + r.name, "domain_name": "tenant",
			"namespace": r.namespace, "tags": tags, "status": false, "total_range": len(list)})
	}
	f.mu.Unlock()
	writeJSON(w, page(w, q, rows))
}

func (f *Fake) serveTags(w http.ResponseWriter, ns, name string, q url.Values) {
	f.mu.Lock()
	r := f.repos[ns+"/"+name]
	if r == nil {
		f.mu.Unlock()
		f.refuse(w, APIListRepositoryTags, "/"+ns+"/"+name, http.StatusNotFound, "SVCSTG.SWR.4040010", "The repository does not exist", true)
		return
	}
	var list []*tag
	for _, t := range r.tags {
		if n := q.Get("tag"); n != "" && t.name != n {
			continue
		}
		list = append(list, t)
	}
	slices.SortFunc(list, func(a, b *tag) int { return ordered(q, a.updated, b.updated, a.name, b.name) })
	var rows []map[string]any
	for i, t := range list {
		manifest, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": t.mediaType})
		if t.manifest != "" {
			manifest = []byte(t.manifest)
		}
		tagType := 0
		if t.list {
			tagType = 1
		}
		rows = append(rows, map[string]any{"id": i + 1, "repo_id": 1, "Tag": t.name, "image_id": strings.TrimPrefix(t.digest, "sha256:"),
			"manifest": string(manifest), "digest": t.digest, "schema": 2,
			"path":          "swr.example.myhuaweicloud.com/" + ns + "/" + name + ":" + t.name,
			"internal_path": "10.0.0.1:20202/" + ns + "/" + name + ":" + t.name, "size": 1024, "is_trusted": false,
			"created": t.created.UTC().Format(timeLayout), "updated": t.updated.UTC().Format(timeLayout), "deleted": nil,
			"domain_id": "0503dda878000fed0f75c0096d70a960", "scanned": false, "tag_type": tagType})
	}
	f.mu.Unlock()
	writeJSON(w, page(w, q, rows))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		b = []byte("[]")
	}
	_, _ = w.Write(b)
}

package hsstest

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/aksk"
)

// Key is the secret side of an access key the fake accepts.
type Key = aksk.Key

// User is an IAM user that may get tokens from POST /v3/auth/tokens.
type User struct {
	Domain, Name, Password string
}

// Options configure a Fake. The zero value accepts nobody.
type Options struct {
	// AccessKeys maps access key to secret: the AK/SK pairs accepted.
	AccessKeys map[string]Key
	// Tokens are IAM tokens accepted for any project without being issued
	// here (a static token, the simulator's token).
	Tokens []string
	// Users may log in at POST /v3/auth/tokens and use the tokens issued.
	Users []User
	// TokenLifetime is the validity of issued tokens (default 24h, as IAM).
	TokenLifetime time.Duration
	// MaxSkew is the accepted difference between X-Sdk-Date and the fake's
	// clock (default 15 minutes, as the gateway).
	MaxSkew time.Duration
	// CallsPerMinute, when positive, throttles each identity (access key
	// or token user) to that many calls of each API in any sliding minute,
	// answering 429 like the gateway: each API has its own budget, as at
	// HSS (GatewayCallsPerMinute is the gateway's figure). Zero: no
	// throttling, unless APICallsPerMinute sets a limit.
	CallsPerMinute int
	// APICallsPerMinute overrides CallsPerMinute for the APIs it names
	// (the API* constants); a negative value turns throttling off for
	// that API.
	APICallsPerMinute map[string]int
	// ThrottleCode is the error_code of a 429. Default: APIGW.0308 (the
	// older code) for batch-scan, as before, and APIG.0308 for the other
	// APIs; the message is the gateway's in both cases.
	ThrottleCode string

	// The image lifecycle (catalog.go). SyncDelay is how long a sync
	// (RunImageSynchronize, CreateImageSynchronizeTask) takes before HSS
	// knows the images then in SWR (default 10s). AutoSyncAfter, when
	// positive, makes HSS learn an SWR image that long after it appears
	// without a sync (default 0: only syncs). ScanQueueDelay is the time a
	// scanned image shows waiting_for_scan (default 5s), ScanDuration the
	// time it then shows scanning before its result (default 60s). A
	// negative duration means none.
	SyncDelay, AutoSyncAfter, ScanQueueDelay, ScanDuration time.Duration
	// AssumeInSWR makes every image a scan names exist in SWR from that
	// moment (the simulator's mode for scans asked for by hand, where
	// nothing calls PushToSWR or Pushed).
	AssumeInSWR bool
	// MaxImages bounds the images the fake's SWR holds (0: no bound);
	// past it the oldest added is forgotten. SimulatorOptions sets it, so
	// a dry run that runs for weeks holds a bounded catalog.
	MaxImages int
	// ReplicationDelay is how long after a push reported with Pushed the
	// tag appears in SWR: the registry's replication lag (0: at once;
	// SimulatorOptions sets SimulatorReplication).
	ReplicationDelay time.Duration
	// UnknownImages is how a scan naming an image HSS does not know is
	// answered (default UnknownImageSilent200).
	UnknownImages UnknownMode
	// Now is the fake's clock (default time.Now). Skew, token expiry,
	// throttling windows, fault windows, records, syncs and scans use it.
	Now func() time.Time
	// Logger gets one line per accepted or refused request (default:
	// discard). The simulator logs with it.
	Logger *slog.Logger
}

// Target is where an accepted request asked for scans.
type Target struct {
	Region, ProjectID, EnterpriseProjectID string
}

// Request is an accepted batch-scan request (Requests), or the request a
// Fault is matched against: then API names the operation, and Body is
// set for batch-scan only.
type Request struct {
	API    string
	Time   time.Time
	Target Target
	// Identity says who called: "ak:<access key>", "user:<domain>/<name>"
	// for issued tokens, "token:<n>" for Options.Tokens[n].
	Identity string
	Body     Body
}

// Item is one image of an accepted targeted scan, with absent fields "".
type Item struct {
	Time                                                        time.Time
	Target                                                      Target
	ImageType                                                   string
	Namespace, ImageName, ImageVersion, InstanceID, InstanceURL string
}

// Refusal is a request the fake answered with an error.
type Refusal struct {
	Time      time.Time
	Path      string
	Status    int
	ErrorCode string
	Reason    string
}

// Fake is a strict, in-memory HSS with its image APIs, its image catalog
// and its IAM token endpoint. It is an http.Handler; NewServer serves it
// on loopback and Transport calls it in process. It is safe for
// concurrent use: one mutex guards all its state.
type Fake struct {
	opts Options
	log  *slog.Logger
	done chan struct{} // closed by Close: holds and delays end

	mu        sync.Mutex
	requests  []Request
	refusals  []Refusal
	faults    []*faultEntry
	issued    map[string]issuedToken
	calls     map[string][]time.Time // throttle window per identity
	inFlight  int
	maxFlight int
	nextID    int
	closed    bool
	cat       *catalog
	stats     map[string]*APIStats
	tasks     []*task
	taskSeq   int
	syncFails []syncFailure
}

// New returns a Fake.
func New(opts Options) *Fake {
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = 24 * time.Hour
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&opts.SyncDelay, 10 * time.Second}, {&opts.ScanQueueDelay, 5 * time.Second}, {&opts.ScanDuration, time.Minute}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			*d.v = 0
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fake{
		opts: opts, log: log.With("component", "hsstest"), done: make(chan struct{}),
		issued: map[string]issuedToken{}, calls: map[string][]time.Time{},
		cat: newCatalog(), stats: map[string]*APIStats{},
	}
}

// Close ends held and delayed requests (they are answered 503) so a
// server can shut down. The fake answers 503 from then on.
func (f *Fake) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.done)
	}
}

// Server is a Fake served over HTTP on 127.0.0.1, as httptest.Server.
type Server struct {
	*Fake
	// URL is the base URL, http://127.0.0.1:port: the client's Endpoint
	// and IAM endpoint.
	URL string
	srv *httptest.Server
}

// NewServer starts a Fake on a loopback port.
func NewServer(opts Options) *Server {
	f := New(opts)
	srv := httptest.NewServer(f)
	return &Server{Fake: f, URL: srv.URL, srv: srv}
}

// Close ends held requests, then closes the server and waits for the
// requests in flight.
func (s *Server) Close() {
	s.Fake.Close()
	s.srv.Close()
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// ServeHTTP routes the image APIs (the API* constants) and the IAM token
// endpoint; any other method or path is answered 404 APIG.0101, as the
// gateway answers for an API that does not exist.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		f.refuse(w, r, http.StatusServiceUnavailable, "APIG.0201", "Backend unavailable", "fake closed")
		return
	}
	if r.URL.Path == "/v3/auth/tokens" && r.Method == http.MethodPost {
		f.serveToken(w, r)
		return
	}
	project, api, ok := route(r.Method, r.URL.Path)
	if !ok {
		f.refuse(w, r, http.StatusNotFound, "APIG.0101", "The API does not exist or has not been published in the environment.",
			r.Method+" "+r.URL.Path+" is no HSS API the fake serves")
		return
	}
	if api == APIBatchScan {
		f.serveBatchScan(w, r, project)
		return
	}
	f.serveAPI(w, r, project, api)
}

func (f *Fake) serveBatchScan(w http.ResponseWriter, r *http.Request, project string) {
	f.mu.Lock()
	f.inFlight++
	f.maxFlight = max(f.maxFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()

	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		f.refuseAPI(w, r, APIBatchScan, http.StatusBadRequest, "HSS.0002", "Failed to parse the request.", "body unreadable or over 16 MiB")
		return
	}
	now := f.opts.Now()

	f.count(APIBatchScan, func(s *APIStats) { s.Calls++ })
	identity, fail := f.authenticate(r, data, project, now)
	if fail != nil {
		f.refuseAPI(w, r, APIBatchScan, http.StatusUnauthorized, fail.code, fail.msg, fail.msg)
		return
	}
	if f.throttled(w, r, APIBatchScan, identity, now) {
		return
	}

	bad := checkHeaders(r)
	var ep string
	if bad == nil {
		ep, bad = checkQuery(r.URL.RawQuery)
	}
	var body Body
	if bad == nil {
		body, bad = decodeBody(data)
	}
	if bad == nil {
		bad = checkBody(body)
	}
	if bad != nil {
		msg := "Invalid parameter."
		if bad.code == "HSS.0002" {
			msg = "Failed to parse the request."
		}
		f.refuseAPI(w, r, APIBatchScan, http.StatusBadRequest, bad.code, msg+" "+bad.reason, bad.reason)
		return
	}

	req := Request{
		API:      APIBatchScan,
		Time:     now,
		Target:   Target{Region: r.Header.Get("Region"), ProjectID: project, EnterpriseProjectID: ep},
		Identity: identity,
		Body:     body,
	}
	if f.applyFault(w, r, req) {
		f.count(APIBatchScan, func(s *APIStats) { s.Refused++ })
		return
	}

	f.mu.Lock()
	unknown := f.scanImages(req, now)
	if len(unknown) > 0 && f.opts.UnknownImages == UnknownImage400 {
		f.mu.Unlock()
		f.refuseAPI(w, r, APIBatchScan, http.StatusBadRequest, "HSS.0011", "Requested resource not found.",
			fmt.Sprintf("%d images unknown to HSS, first %s", len(unknown), unknown[0]))
		return
	}
	f.requests = append(f.requests, req)
	f.stats[APIBatchScan].Items += len(req.items())
	id := f.requestID()
	f.mu.Unlock()
	f.log.Info("hss batch-scan accepted", "request_id", id, "region", req.Target.Region,
		"project_id", project, "enterprise_project_id", ep, "image_type", deref(body.ImageType),
		"images", len(req.items()), "unknown_to_hss", len(unknown), "operate_all", body.OperateAll != nil && *body.OperateAll,
		"identity", identity)
	w.Header().Set("X-Request-Id", id)
	w.WriteHeader(http.StatusOK)
}

// authenticate accepts an X-Auth-Token or an AK/SK signature, not both.
func (f *Fake) authenticate(r *http.Request, body []byte, project string, now time.Time) (string, *authFailure) {
	token := r.Header.Get("X-Auth-Token")
	hasAuthz := r.Header.Get("Authorization") != ""
	switch {
	case token != "" && hasAuthz:
		return "", authFailed("both X-Auth-Token and Authorization given")
	case token != "":
		return f.verifyToken(token, project, now)
	case hasAuthz:
		ak, fail := f.verifyAKSK(r, body, now)
		return "ak:" + ak, fail
	}
	return "", authFailed("no X-Auth-Token or Authorization header")
}

// admit counts a call against key's sliding minute of limit calls.
// f.mu must not be held.
func (f *Fake) admit(key string, limit int, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	window := f.calls[key][:0]
	for _, t := range f.calls[key] {
		if now.Sub(t) < time.Minute {
			window = append(window, t)
		}
	}
	if len(window) >= limit {
		f.calls[key] = window
		return false
	}
	f.calls[key] = append(window, now)
	return true
}

// limit is the calls per minute of api, 0 for none.
func (f *Fake) limit(api string) int {
	n := f.opts.CallsPerMinute
	if v, ok := f.opts.APICallsPerMinute[api]; ok {
		n = v
	}
	return max(n, 0)
}

// throttled answers 429 when identity has used api's minute; it reports
// whether it did.
func (f *Fake) throttled(w http.ResponseWriter, r *http.Request, api, identity string, now time.Time) bool {
	n := f.limit(api)
	if n == 0 || f.admit(api+" "+identity, n, now) {
		return false
	}
	code := f.opts.ThrottleCode
	if code == "" {
		code = "APIG.0308"
		if api == APIBatchScan {
			code = "APIGW.0308"
		}
	}
	f.count(api, func(s *APIStats) { s.Throttled++ })
	msg := fmt.Sprintf("The throttling threshold has been reached: policy user over ratelimit,limit:%d,time:1 minute", n)
	f.refuse(w, r, http.StatusTooManyRequests, code, msg, "throttled "+identity+" on "+api)
	return true
}

// requestID numbers answers; f.mu must be held.
func (f *Fake) requestID() string {
	f.nextID++
	return "hsstest-" + strconv.Itoa(f.nextID)
}

// refuse answers an error in the API's shape and records it.
func (f *Fake) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg, reason string) {
	f.mu.Lock()
	id := f.requestID()
	f.refusals = append(f.refusals, Refusal{Time: f.opts.Now(), Path: r.URL.Path, Status: status, ErrorCode: code, Reason: reason})
	f.mu.Unlock()
	f.log.Warn("hss request refused", "request_id", id, "path", r.URL.Path, "status", status, "error_code", code, "reason", reason)
	writeError(w, status, code, msg, id)
}

func writeError(w http.ResponseWriter, status int, code, msg, requestID string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", requestID)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": code, "error_msg": msg, "request_id": requestID})
}

// Requests returns the accepted batch-scan requests, oldest first.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// Items returns the images of every accepted targeted scan, in order.
func (f *Fake) Items() []Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	var items []Item
	for _, r := range f.requests {
		items = append(items, r.items()...)
	}
	return items
}

// Refusals returns the requests answered with an error, oldest first.
func (f *Fake) Refusals() []Refusal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Refusal(nil), f.refusals...)
}

// InFlight is the number of batch-scan requests being handled now.
func (f *Fake) InFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight
}

// MaxInFlight is the largest InFlight seen.
func (f *Fake) MaxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxFlight
}

func (r Request) items() []Item {
	if r.Body.ImageInfoList == nil {
		return nil
	}
	items := make([]Item, 0, len(*r.Body.ImageInfoList))
	for _, it := range *r.Body.ImageInfoList {
		items = append(items, Item{
			Time: r.Time, Target: r.Target, ImageType: deref(r.Body.ImageType),
			Namespace: deref(it.Namespace), ImageName: deref(it.ImageName), ImageVersion: deref(it.ImageVersion),
			InstanceID: deref(it.InstanceID), InstanceURL: deref(it.InstanceURL),
		})
	}
	return items
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

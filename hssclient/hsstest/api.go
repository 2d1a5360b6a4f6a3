package hsstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The APIs the fake serves, named as the SDK names the operations
// (services/hss/v5). They key Calls, APICallsPerMinute and Fault.APIs.
const (
	APIBatchScan                  = "BatchScanSwrImage"
	APIListSwrImageRepository     = "ListSwrImageRepository"
	APIRunImageSynchronize        = "RunImageSynchronize"
	APICreateManualImageScanTask  = "CreateManualImageScanTask"
	APIListImageScanTask          = "ListImageScanTask"
	APICreateImageSynchronizeTask = "CreateImageSynchronizeTask"
	APIListRegistryImages         = "ListRegistryImages"
)

// GatewayCallsPerMinute is the API gateway's limit per user and API
// (https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html),
// the value to give CallsPerMinute to throttle as HSS does.
const GatewayCallsPerMinute = 5

// APIStats counts the calls of one API.
type APIStats struct {
	// Calls is every request routed to the API, refused ones included.
	Calls int
	// Throttled is the calls answered 429.
	Throttled int
	// Refused is the calls answered with another error (auth, checks,
	// unknown images, faults).
	Refused int
	// Items is the images named by accepted scan calls, or the rows
	// answered by list calls.
	Items int
}

// Calls returns the counters of api (an API* constant).
func (f *Fake) Calls(api string) APIStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.stats[api]; s != nil {
		return *s
	}
	return APIStats{}
}

func (f *Fake) count(api string, do func(*APIStats)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.countLocked(api, do)
}

func (f *Fake) countLocked(api string, do func(*APIStats)) {
	s := f.stats[api]
	if s == nil {
		s = &APIStats{}
		f.stats[api] = s
	}
	do(s)
}

// apiSpec is what the SDK sends for one operation (GenReqDefFor<Op> in the
// SDK's hss_meta.go): method, path, whether the region header is part of
// the model, and the query parameters of the request model.
type apiSpec struct {
	method, suffix string
	region         bool
	query          []param
}

// param is one query parameter and its rule.
type param struct {
	name     string
	kind     byte // 's' string of min-max characters, 'i' integer in min-max, 'b' true/false, 'e' one of enum
	min, max int64
	enum     []string
	required bool
}

const maxInt64 = 1<<63 - 1

var (
	pEnterpriseProject = param{name: "enterprise_project_id", kind: 's', min: 1, max: 256}
	pOffset            = param{name: "offset", kind: 'i', min: 0, max: 2000000}
	pLimit             = param{name: "limit", kind: 'i', min: 10, max: 200}
	pLatestVersion     = param{name: "latest_version", kind: 'b'}
	pImageSize         = param{name: "image_size", kind: 'i', min: 0, max: 2147483547}
	pHas               = []param{{name: "has_vul", kind: 'b'}, {name: "has_unsafe_setting", kind: 'b'}, {name: "has_malicious_file", kind: 'b'}}
	listScanStatuses   = []string{"unscan", "success", "scanning", "failed", "waiting_for_scan"}
)

func timeWindow(name string) []param {
	return []param{{name: "start_" + name, kind: 'i', min: 0, max: maxInt64}, {name: "end_" + name, kind: 'i', min: 0, max: maxInt64}}
}

var apiSpecs = map[string]apiSpec{
	APIBatchScan: {method: http.MethodPost, suffix: "/image/batch-scan", region: true, query: []param{pEnterpriseProject}},
	// Lengths from the API reference's 2024 pages; the SDK model states none.
	APIListSwrImageRepository: {method: http.MethodGet, suffix: "/image/swr-repository", region: true, query: slices.Concat([]param{
		pEnterpriseProject, pOffset, pLimit, pLatestVersion, pImageSize,
		{name: "image_type", kind: 'e', required: true, enum: []string{"private_image", "shared_image", "local_image", "instance_image"}},
		{name: "namespace", kind: 's', min: 1, max: 256}, {name: "image_name", kind: 's', min: 1, max: 128},
		{name: "image_version", kind: 's', min: 1, max: 64},
		{name: "scan_status", kind: 'e', enum: listScanStatuses},
		{name: "instance_id", kind: 's', min: 1, max: 128}, {name: "instance_name", kind: 's', min: 1, max: 128},
	}, pHas, timeWindow("latest_update_time"), timeWindow("latest_scan_time"))},
	APIRunImageSynchronize: {method: http.MethodPost, suffix: "/image/synchronize", region: true, query: []param{pEnterpriseProject}},
	APICreateManualImageScanTask: {method: http.MethodPost, suffix: "/image/image-scan/tasks", region: true, query: []param{
		pEnterpriseProject, {name: "global_image_type", kind: 'e', enum: []string{"local", "registry"}},
	}},
	APIListImageScanTask: {method: http.MethodGet, suffix: "/image/tasks", query: []param{
		pEnterpriseProject, pOffset, pLimit,
		{name: "global_image_type", kind: 'e', enum: []string{"local", "registry"}},
		{name: "type", kind: 'e', required: true, enum: []string{"image_sync", "image_scan"}},
		{name: "task_type", kind: 'e', enum: []string{"cycle", "manual", "autoSync", "manualSync"}},
		{name: "task_name", kind: 's', min: 1, max: 256}, {name: "task_id", kind: 's', min: 1, max: 256},
		{name: "create_time", kind: 'i', min: 0, max: 4070880000000}, {name: "end_time", kind: 'i', min: 0, max: 4070880000000},
		{name: "task_status", kind: 'e', enum: []string{"scanning", "finished"}},
		{name: "scan_scope", kind: 'i', min: 0, max: 0x7fffffff},
	}},
	APICreateImageSynchronizeTask: {method: http.MethodPost, suffix: "/image/image-sync/tasks", region: true, query: []param{pEnterpriseProject}},
	APIListRegistryImages: {method: http.MethodGet, suffix: "/image/registries/images", query: slices.Concat([]param{
		pEnterpriseProject, pOffset, pLatestVersion, pImageSize,
		{name: "limit", kind: 'i', min: 1, max: 200},
		{name: "namespace", kind: 's', min: 1, max: 128}, {name: "image_name", kind: 's', min: 1, max: 128},
		{name: "image_version", kind: 's', min: 1, max: 64}, {name: "registry_name", kind: 's', min: 1, max: 128},
		{name: "image_type", kind: 'e', enum: []string{"private_image", "shared_image", "instance_image", "harbor", "jfrog"}},
		{name: "sort_key", kind: 'e', enum: []string{"latest_scan_time"}},
		{name: "sort_dir", kind: 'e', enum: []string{"asc", "desc"}},
		{name: "scan_status", kind: 'e', enum: listScanStatuses},
		{name: "risky", kind: 'b'}, {name: "is_multarch", kind: 'b'},
		{name: "instance_id", kind: 's', min: 0, max: 128}, {name: "instance_name", kind: 's', min: 0, max: 128},
		{name: "severity_level", kind: 'e', enum: []string{"Security", "Low", "Medium", "High"}},
	}, pHas, timeWindow("latest_update_time"), timeWindow("latest_scan_time"), timeWindow("latest_sync_time"))},
}

// route matches /v5/{project_id}/image/... and the method to an API.
func route(method, p string) (project, api string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v5/")
	if !ok {
		return "", "", false
	}
	project, rest, ok = strings.Cut(rest, "/")
	if !ok || project == "" || utf8.RuneCountInString(project) > 256 {
		return "", "", false
	}
	for name, s := range apiSpecs {
		if "/"+rest == s.suffix && method == s.method {
			return project, name, true
		}
	}
	return "", "", false
}

// checkQueryOf checks the query against the API's parameters: no other
// key, each at most once, each value within its rule, required ones
// present.
func checkQueryOf(raw string, params []param) (url.Values, *badRequest) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, unparsable("query: %v", err)
	}
	known := map[string]param{}
	for _, p := range params {
		known[p.name] = p
		if _, ok := q[p.name]; p.required && !ok {
			return nil, invalid("query parameter %s is mandatory", p.name)
		}
	}
	for k, vs := range q {
		p, ok := known[k]
		if !ok {
			return nil, invalid("unknown query parameter %q", k)
		}
		if len(vs) != 1 {
			return nil, invalid("%s given %d times", k, len(vs))
		}
		if bad := p.check(vs[0]); bad != nil {
			return nil, bad
		}
	}
	return q, nil
}

func (p param) check(v string) *badRequest {
	switch p.kind {
	case 's':
		return length(p.name, v, int(p.min), int(p.max))
	case 'i':
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < p.min || n > p.max {
			return invalid("%s %q is not an integer in %d-%d", p.name, v, p.min, p.max)
		}
	case 'b':
		if v != "true" && v != "false" {
			return invalid("%s %q is not true or false", p.name, v)
		}
	case 'e':
		if !slices.Contains(p.enum, v) {
			return invalid("%s %q is not one of %s", p.name, v, strings.Join(p.enum, ", "))
		}
	}
	return nil
}

// checkRegion requires the region header where the SDK model has it and
// refuses it where the model has none (the SDK would not send it).
func checkRegion(r *http.Request, want bool) *badRequest {
	regions := r.Header.Values("Region")
	switch {
	case !want && len(regions) > 0:
		return invalid("header region is not a parameter of this API")
	case !want:
		return nil
	case len(regions) == 0:
		return invalid("header region is mandatory")
	case len(regions) > 1:
		return invalid("header region is repeated")
	}
	return length("header region", regions[0], 1, 128)
}

// checkJSONType requires Content-Type application/json, which the SDK
// sends on every request of these APIs, GETs included.
func checkJSONType(r *http.Request) *badRequest {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return unparsable("Content-Type %q is not application/json", r.Header.Get("Content-Type"))
	}
	return nil
}

// apiCall is an accepted request of one of the APIs beside batch-scan, as
// its handler sees it.
type apiCall struct {
	api      string
	now      time.Time
	target   Target
	identity string
	query    url.Values
	body     []byte
}

// answer is what a handler answers: a JSON document (nil: no body) or an
// error, and the items to count.
type answer struct {
	doc   any
	items int
	bad   *badRequest
	// status of bad: 400 unless set (HSS.0011 is a 400 too).
	status int
	msg    string
}

func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request, project, api string) {
	f.count(api, func(s *APIStats) { s.Calls++ })
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		f.refuseAPI(w, r, api, http.StatusBadRequest, "HSS.0002", "Failed to parse the request.", "body unreadable or over 16 MiB")
		return
	}
	now := f.opts.Now()
	identity, fail := f.authenticate(r, data, project, now)
	if fail != nil {
		f.refuseAPI(w, r, api, http.StatusUnauthorized, fail.code, fail.msg, fail.msg)
		return
	}
	if f.throttled(w, r, api, identity, now) {
		return
	}
	spec := apiSpecs[api]
	bad := checkRegion(r, spec.region)
	if bad == nil {
		bad = checkJSONType(r)
	}
	var q url.Values
	if bad == nil {
		q, bad = checkQueryOf(r.URL.RawQuery, spec.query)
	}
	if bad == nil && spec.method == http.MethodGet && len(data) > 0 {
		bad = unparsable("a %s request carries no body", api)
	}
	if bad != nil {
		f.refuseBad(w, r, api, bad)
		return
	}
	call := apiCall{
		api: api, now: now, identity: identity, query: q, body: data,
		target: Target{Region: r.Header.Get("Region"), ProjectID: project, EnterpriseProjectID: q.Get("enterprise_project_id")},
	}
	if f.applyFault(w, r, Request{Time: now, Target: call.target, Identity: identity, API: api}) {
		f.count(api, func(s *APIStats) { s.Refused++ })
		return
	}
	var a answer
	switch api {
	case APIListSwrImageRepository:
		a = f.listSwrImages(call)
	case APIRunImageSynchronize:
		a = f.runSync(call)
	case APICreateManualImageScanTask:
		a = f.createScanTask(call)
	case APIListImageScanTask:
		a = f.listTasks(call)
	case APICreateImageSynchronizeTask:
		a = f.createSyncTask(call)
	case APIListRegistryImages:
		a = f.listRegistryImages(call)
	}
	if a.bad != nil {
		if a.status != 0 {
			f.refuseAPI(w, r, api, a.status, a.bad.code, a.msg, a.bad.reason)
			return
		}
		f.refuseBad(w, r, api, a.bad)
		return
	}
	f.mu.Lock()
	f.countLocked(api, func(s *APIStats) { s.Items += a.items })
	id := f.requestID()
	f.mu.Unlock()
	f.log.Info("hss call accepted", "api", api, "request_id", id, "region", call.target.Region, "project_id", project,
		"items", a.items, "identity", identity)
	w.Header().Set("X-Request-Id", id)
	if a.doc == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(a.doc)
}

func (f *Fake) refuseBad(w http.ResponseWriter, r *http.Request, api string, bad *badRequest) {
	msg := "Invalid parameter."
	if bad.code == "HSS.0002" {
		msg = "Failed to parse the request."
	}
	f.refuseAPI(w, r, api, http.StatusBadRequest, bad.code, msg+" "+bad.reason, bad.reason)
}

func (f *Fake) refuseAPI(w http.ResponseWriter, r *http.Request, api string, status int, code, msg, reason string) {
	f.count(api, func(s *APIStats) { s.Refused++ })
	f.refuse(w, r, status, code, msg, reason)
}

// notFound is HSS's answer for unknown images.
func notFound(reason string) answer {
	return answer{bad: &badRequest{code: "HSS.0011", reason: reason}, status: http.StatusBadRequest, msg: "Requested resource not found."}
}

// decodeStrict decodes a body into v, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) *badRequest {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return unparsable("body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return unparsable("body: data after the JSON object")
	}
	return nil
}

// syncFailure is an answer FailNextSync queued.
type syncFailure struct {
	code int32
	desc string
}

// FailNextSync makes the next n RunImageSynchronize calls answer 200 with
// error_code code and error_description desc, and start no sync.
func (f *Fake) FailNextSync(n int, code int32, desc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.syncFails = append(f.syncFails, syncFailure{code: code, desc: desc})
	}
}

// runSync serves RunImageSynchronize: body {"image_type"}, private_image
// or shared_image only; the answer {"error_code":0,"error_description":
// "success"} of the reference's example.
func (f *Fake) runSync(c apiCall) answer {
	var body struct {
		ImageType *string `json:"image_type"`
	}
	if bad := decodeStrict(c.body, &body); bad != nil {
		return answer{bad: bad}
	}
	switch {
	case body.ImageType == nil:
		return answer{bad: invalid("image_type is mandatory")}
	case *body.ImageType != "private_image" && *body.ImageType != "shared_image":
		return answer{bad: invalid("image_type %q is not private_image or shared_image", *body.ImageType)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.syncFails) > 0 {
		sf := f.syncFails[0]
		f.syncFails = f.syncFails[1:]
		return answer{doc: map[string]any{"error_code": sf.code, "error_description": sf.desc}}
	}
	f.requestSync(c.target.Region, c.target.ProjectID, *body.ImageType, c.now)
	f.addTask(c, &task{kind: "image_sync", taskType: "manualSync", begin: c.now, end: c.now.Add(f.opts.SyncDelay)})
	return answer{doc: map[string]any{"error_code": 0, "error_description": "success"}}
}

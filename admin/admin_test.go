package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// memDeadLetters is an in-memory DeadLetters: it filters by namespace and
// error code like the queue, deletes on redrive and purge unless dry, and
// records every call so a test can tell what the API asked for.
type memDeadLetters struct {
	mu    sync.Mutex
	recs  []queue.DeadLetter
	calls []dlCall
	// failAfter makes Redrive and Purge fail once this many records were
	// done (0: never).
	failAfter int
}

type dlCall struct {
	op     string
	filter queue.Filter
	dryRun bool
}

var errStore = errors.New("nats: timeout")

var target = scanjob.Target{Region: "cn-north-4", ProjectID: "p1", ImageType: scanjob.PrivateImage}

func newMemDeadLetters() *memDeadLetters {
	job := func(ns, image, tag string) *scanjob.Job {
		return &scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: ns, Image: image, Tag: tag, Target: target}
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &memDeadLetters{recs: []queue.DeadLetter{
		{Seq: 3, Reason: queue.ReasonRejected, Job: job("team", "bad", "1.0"), Class: "permanent", Status: 400, ErrorCode: "HSS.0011", FailedAt: at},
		{Seq: 7, Reason: queue.ReasonMalformed, Raw: []byte("{oops"), Subject: "scanjobs.private_image.team", Class: "permanent", FailedAt: at},
		{Seq: 9, Reason: queue.ReasonRejected, Job: job("ops", "api", "2.1"), Class: "permanent", Status: 400, ErrorCode: "HSS.0001", FailedAt: at},
	}}
}

func (m *memDeadLetters) match(f queue.Filter) []queue.DeadLetter {
	var out []queue.DeadLetter
	for _, r := range m.recs {
		if f.Namespace != "" && (r.Job == nil || r.Job.Namespace != f.Namespace) || f.ErrorCode != "" && r.ErrorCode != f.ErrorCode ||
			f.Reason != "" && r.Reason != f.Reason {
			continue
		}
		out = append(out, r)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out
}

func (m *memDeadLetters) remove(seq uint64) {
	for i, r := range m.recs {
		if r.Seq == seq {
			m.recs = append(m.recs[:i], m.recs[i+1:]...)
			return
		}
	}
}

func (m *memDeadLetters) List(_ context.Context, f queue.Filter) ([]queue.DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, dlCall{op: "list", filter: f})
	return m.match(f), nil
}

func (m *memDeadLetters) Get(_ context.Context, seq uint64) (queue.DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, dlCall{op: "get"})
	for _, r := range m.recs {
		if r.Seq == seq {
			return r, nil
		}
	}
	return queue.DeadLetter{}, fmt.Errorf("get dead letter %d: %w", seq, queue.ErrNotFound)
}

func (m *memDeadLetters) Redrive(_ context.Context, f queue.Filter, dryRun bool, _ ...queue.RedriveOption) (queue.RedriveReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, dlCall{op: "redrive", filter: f, dryRun: dryRun})
	var rep queue.RedriveReport
	for _, r := range m.match(f) {
		if m.failAfter > 0 && len(rep.Redriven) == m.failAfter {
			return rep, fmt.Errorf("redrive dead letter %d: %w", r.Seq, errStore)
		}
		if r.Job == nil {
			rep.Skipped = append(rep.Skipped, r.Seq)
			continue
		}
		rd := queue.Redriven{Seq: r.Seq, JobID: r.Job.ID(), MsgID: fmt.Sprintf("%s-redrive-%d", r.Job.ID(), r.Seq)}
		if !dryRun {
			rd.NewSeq = 100 + r.Seq
			m.remove(r.Seq)
		}
		rep.Redriven = append(rep.Redriven, rd)
	}
	return rep, nil
}

func (m *memDeadLetters) Purge(_ context.Context, f queue.Filter, dryRun bool) ([]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, dlCall{op: "purge", filter: f, dryRun: dryRun})
	var seqs []uint64
	for _, r := range m.match(f) {
		if m.failAfter > 0 && len(seqs) == m.failAfter {
			return seqs, fmt.Errorf("purge dead letter %d: %w", r.Seq, errStore)
		}
		if !dryRun {
			m.remove(r.Seq)
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs, nil
}

func (m *memDeadLetters) seqs() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []uint64
	for _, r := range m.recs {
		out = append(out, r.Seq)
	}
	return out
}

func (m *memDeadLetters) lastCall() (dlCall, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calls) == 0 {
		return dlCall{}, false
	}
	return m.calls[len(m.calls)-1], true
}

const (
	adminToken    = "admin-new-token"
	oldAdminToken = "admin-old-token"
)

// newAdminServer is an Echo with the admin API on (unless tokens is nil)
// over dl, and the registry it counts on. Like the bridge's, the Echo
// sets request ids.
func newAdminServer(t *testing.T, dl DeadLetters, tokens []string) (*echo.Echo, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := echo.New()
	e.Use(middleware.RequestID())
	Register(e, Options{Tokens: tokens, DeadLetters: dl, Registry: reg})
	return e, reg
}

func adminDo(t *testing.T, e *echo.Echo, method, target, body, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	if auth != "" {
		req.Header.Set(echo.HeaderAuthorization, auth)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestAdminAuth(t *testing.T) {
	tests := []struct {
		name     string
		tokens   []string
		auth     string
		wantCode int
	}{
		{"the current token is accepted", []string{oldAdminToken, adminToken}, "Bearer " + adminToken, 200},
		{"the previous token still works during rotation", []string{oldAdminToken, adminToken}, "Bearer " + oldAdminToken, 200},
		{"the scheme is case-insensitive", []string{adminToken}, "bearer " + adminToken, 200},
		{"a missing Authorization header is refused", []string{adminToken}, "", 401},
		{"a wrong token is refused", []string{adminToken}, "Bearer nope", 401},
		{"a prefix of the token is refused", []string{adminToken}, "Bearer " + adminToken[:5], 401},
		{"the token with another scheme is refused", []string{adminToken}, "Basic " + adminToken, 401},
		{"a bare token without scheme is refused", []string{adminToken}, adminToken, 401},
		{"an empty bearer token is refused even though an empty token is configured", []string{"", adminToken}, "Bearer ", 401},
		{"without a token the admin API does not exist", nil, "Bearer " + adminToken, 404},
		{"blank tokens do not switch the admin API on", []string{"", "  "}, "Bearer ", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := newMemDeadLetters()
			e, _ := newAdminServer(t, dl, tt.tokens)
			rec := adminDo(t, e, http.MethodGet, "/admin/dlq", "", tt.auth)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode == 401 {
				if rec.Header().Get(echo.HeaderWWWAuthenticate) == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if id := rec.Header().Get(echo.HeaderXRequestID); id == "" || !strings.Contains(rec.Body.String(), id) {
					t.Errorf("401 answer %s does not name the request id %q", rec.Body, id)
				}
				if _, called := dl.lastCall(); called {
					t.Error("an unauthenticated request reached the dead letters")
				}
			}
		})
	}
}

func TestAdminTokensRotateWhileServing(t *testing.T) {
	e := echo.New()
	e.Use(middleware.RequestID())
	tokens := Register(e, Options{Tokens: []string{oldAdminToken}, DeadLetters: newMemDeadLetters()})
	if tokens == nil {
		t.Fatal("Register returned no tokens for an enabled admin API")
	}
	steps := []struct {
		name     string
		set      []string // nil: no Set in this step
		wantErr  bool
		old, new int // status for the old and the new token
	}{
		{"before the rotation only the old token works", nil, false, 200, 401},
		{"during the rotation both work", []string{oldAdminToken, adminToken}, false, 200, 200},
		{"after it only the new one", []string{adminToken}, false, 401, 200},
		{"an empty set is refused and the last set stays", []string{" ", ""}, true, 401, 200},
	}
	for _, st := range steps {
		if st.set != nil {
			if err := tokens.Set(st.set); (err != nil) != st.wantErr {
				t.Fatalf("%s: Set error = %v, want error %v", st.name, err, st.wantErr)
			}
		}
		for tok, want := range map[string]int{oldAdminToken: st.old, adminToken: st.new} {
			if rec := adminDo(t, e, http.MethodGet, "/admin/dlq", "", "Bearer "+tok); rec.Code != want {
				t.Errorf("%s: token %q answered %d, want %d", st.name, tok, rec.Code, want)
			}
		}
	}
	if Register(echo.New(), Options{DeadLetters: newMemDeadLetters()}) != nil {
		t.Error("Register without tokens returned tokens: there is no admin API to rotate")
	}
}

func TestAdminDisabledWithoutDeadLetters(t *testing.T) {
	e, _ := newAdminServer(t, nil, []string{adminToken})
	if rec := adminDo(t, e, http.MethodGet, "/admin/dlq", "", "Bearer "+adminToken); rec.Code != http.StatusNotFound {
		t.Fatalf("status = %d, want 404 when no dead-letter stream is given", rec.Code)
	}
}

func TestAdminRequests(t *testing.T) {
	all := []uint64{3, 7, 9}
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		failAfter  int
		wantCode   int
		wantCall   *dlCall  // nil: the dead letters must not be asked
		wantLeft   []uint64 // records left afterwards
		wantInBody string   // substring of the answer
	}{
		{name: "list passes every query filter through",
			method: "GET", target: "/admin/dlq?namespace=team&error_code=HSS.0011&reason=rejected&older_than=72h&limit=5",
			wantCode: 200, wantCall: &dlCall{op: "list", filter: queue.Filter{Namespace: "team", ErrorCode: "HSS.0011", Reason: queue.ReasonRejected, OlderThan: 72 * time.Hour, Limit: 5}},
			wantLeft: all, wantInBody: `"count":1`},
		{name: "list without a limit returns a readable page",
			method: "GET", target: "/admin/dlq",
			wantCode: 200, wantCall: &dlCall{op: "list", filter: queue.Filter{Limit: defaultListLimit}}, wantLeft: all, wantInBody: `"seq":9`},
		{name: "list says when the limit cut it short",
			method: "GET", target: "/admin/dlq?limit=2",
			wantCode: 200, wantCall: &dlCall{op: "list", filter: queue.Filter{Limit: 2}}, wantLeft: all, wantInBody: `"limit_reached":true`},
		{name: "a limit over the per-request maximum is refused, not cut",
			method: "GET", target: "/admin/dlq?limit=1001", wantCode: 400, wantLeft: all, wantInBody: "1 to 1000"},
		{name: "a zero limit is refused",
			method: "GET", target: "/admin/dlq?limit=0", wantCode: 400, wantLeft: all},
		{name: "an age that is not a duration is refused",
			method: "GET", target: "/admin/dlq?older_than=3d", wantCode: 400, wantLeft: all, wantInBody: "older_than"},
		{name: "a negative age is refused",
			method: "GET", target: "/admin/dlq?older_than=-1h", wantCode: 400, wantLeft: all},
		{name: "an unknown query parameter is refused rather than ignored",
			method: "GET", target: "/admin/dlq?namespcae=team", wantCode: 400, wantLeft: all, wantInBody: "namespcae"},
		{name: "a parameter given twice is refused",
			method: "GET", target: "/admin/dlq?namespace=a&namespace=b", wantCode: 400, wantLeft: all},
		{name: "listing takes no dry_run",
			method: "GET", target: "/admin/dlq?dry_run=false", wantCode: 400, wantLeft: all},

		{name: "show returns the full record with its seq",
			method: "GET", target: "/admin/dlq/3", wantCode: 200, wantCall: &dlCall{op: "get"}, wantLeft: all, wantInBody: `"error_code":"HSS.0011"`},
		{name: "show of an unknown seq is 404",
			method: "GET", target: "/admin/dlq/42", wantCode: 404, wantCall: &dlCall{op: "get"}, wantLeft: all, wantInBody: "not found"},
		{name: "show of a seq that is not a number is 400",
			method: "GET", target: "/admin/dlq/abc", wantCode: 400, wantLeft: all},
		{name: "show of seq 0 is 400",
			method: "GET", target: "/admin/dlq/0", wantCode: 400, wantLeft: all},

		{name: "redrive without dry_run is a dry run",
			method: "POST", target: "/admin/dlq/redrive",
			wantCode: 200, wantCall: &dlCall{op: "redrive", filter: queue.Filter{Limit: maxLimit}, dryRun: true},
			wantLeft: all, wantInBody: `"dry_run":true`},
		{name: "redrive with an empty JSON object is a dry run",
			method: "POST", target: "/admin/dlq/redrive", body: `{}`,
			wantCode: 200, wantCall: &dlCall{op: "redrive", filter: queue.Filter{Limit: maxLimit}, dryRun: true}, wantLeft: all},
		{name: "redrive with dry_run true in the body changes nothing",
			method: "POST", target: "/admin/dlq/redrive", body: `{"dry_run":true}`,
			wantCode: 200, wantCall: &dlCall{op: "redrive", filter: queue.Filter{Limit: maxLimit}, dryRun: true}, wantLeft: all},
		{name: "redrive with dry_run false in the body acts on the filtered records",
			method: "POST", target: "/admin/dlq/redrive", body: `{"namespace":"team","error_code":"HSS.0011","older_than":"1h","limit":10,"dry_run":false}`,
			wantCode: 200, wantCall: &dlCall{op: "redrive", filter: queue.Filter{Namespace: "team", ErrorCode: "HSS.0011", OlderThan: time.Hour, Limit: 10}},
			wantLeft: []uint64{7, 9}, wantInBody: `"stream_seq":103`},
		{name: "redrive with dry_run=false in the query acts",
			method: "POST", target: "/admin/dlq/redrive?namespace=ops&dry_run=false",
			wantCode: 200, wantCall: &dlCall{op: "redrive", filter: queue.Filter{Namespace: "ops", Limit: maxLimit}},
			wantLeft: []uint64{3, 7}},
		{name: "redrive reports records without a job as skipped and keeps them",
			method: "POST", target: "/admin/dlq/redrive", body: `{"dry_run":false}`,
			wantCode: 200, wantCall: &dlCall{op: "redrive", filter: queue.Filter{Limit: maxLimit}},
			wantLeft: []uint64{7}, wantInBody: `"skipped":[7]`},
		{name: "a misspelt dry_run in the body is refused, not taken as a dry run or an act",
			method: "POST", target: "/admin/dlq/redrive", body: `{"dryrun":false}`, wantCode: 400, wantLeft: all, wantInBody: "dryrun"},
		{name: "a misspelt namespace in the body is refused rather than widening the redrive",
			method: "POST", target: "/admin/dlq/redrive", body: `{"name_space":"team","dry_run":false}`, wantCode: 400, wantLeft: all},
		{name: "a body that is not JSON is refused",
			method: "POST", target: "/admin/dlq/redrive", body: `dry_run=false`, wantCode: 400, wantLeft: all},
		{name: "two JSON objects are refused",
			method: "POST", target: "/admin/dlq/redrive", body: `{"dry_run":true} {"dry_run":false}`, wantCode: 400, wantLeft: all},
		{name: "a filter in both the body and the query is refused",
			method: "POST", target: "/admin/dlq/redrive?namespace=ops", body: `{"dry_run":false}`, wantCode: 400, wantLeft: all},
		{name: "a dry_run that is not a boolean is refused",
			method: "POST", target: "/admin/dlq/redrive?dry_run=nope", wantCode: 400, wantLeft: all},
		{name: "a redrive that stops half-way answers 500 with what was done",
			method: "POST", target: "/admin/dlq/redrive", body: `{"dry_run":false}`, failAfter: 1,
			wantCode: 500, wantCall: &dlCall{op: "redrive", filter: queue.Filter{Limit: maxLimit}},
			wantLeft: []uint64{7, 9}, wantInBody: `"seq":3`},

		{name: "purge without dry_run is a dry run",
			method: "POST", target: "/admin/dlq/purge?error_code=HSS.0001",
			wantCode: 200, wantCall: &dlCall{op: "purge", filter: queue.Filter{ErrorCode: "HSS.0001", Limit: maxLimit}, dryRun: true},
			wantLeft: all, wantInBody: `"seqs":[9]`},
		{name: "purge with dry_run false deletes the filtered records",
			method: "POST", target: "/admin/dlq/purge", body: `{"error_code":"HSS.0001","dry_run":false}`,
			wantCode: 200, wantCall: &dlCall{op: "purge", filter: queue.Filter{ErrorCode: "HSS.0001", Limit: maxLimit}},
			wantLeft: []uint64{3, 7}, wantInBody: `"seqs":[9]`},
		{name: "purge answers an empty list, not null, when nothing matches",
			method: "POST", target: "/admin/dlq/purge", body: `{"namespace":"nobody","dry_run":false}`,
			wantCode: 200, wantCall: &dlCall{op: "purge", filter: queue.Filter{Namespace: "nobody", Limit: maxLimit}},
			wantLeft: all, wantInBody: `"seqs":[]`},
		{name: "a purge that stops half-way answers 500 with what was deleted",
			method: "POST", target: "/admin/dlq/purge?dry_run=false", failAfter: 2,
			wantCode: 500, wantCall: &dlCall{op: "purge", filter: queue.Filter{Limit: maxLimit}},
			wantLeft: []uint64{9}, wantInBody: `"seqs":[3,7]`},
		{name: "purge is not a GET",
			method: "GET", target: "/admin/dlq/purge", wantCode: 400, wantLeft: all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := newMemDeadLetters()
			dl.failAfter = tt.failAfter
			e, _ := newAdminServer(t, dl, []string{adminToken})
			rec := adminDo(t, e, tt.method, tt.target, tt.body, "Bearer "+adminToken)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantCode, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("answer is not JSON: %s", rec.Body)
			}
			if tt.wantInBody != "" && !strings.Contains(rec.Body.String(), tt.wantInBody) {
				t.Errorf("answer %s does not contain %s", rec.Body, tt.wantInBody)
			}
			call, called := dl.lastCall()
			switch {
			case tt.wantCall == nil && called:
				t.Errorf("refused request still called %s %+v", call.op, call.filter)
			case tt.wantCall != nil && !called:
				t.Errorf("dead letters not called, want %s", tt.wantCall.op)
			case tt.wantCall != nil && call != *tt.wantCall:
				t.Errorf("call = %+v, want %+v", call, *tt.wantCall)
			}
			if got := fmt.Sprint(dl.seqs()); got != fmt.Sprint(tt.wantLeft) {
				t.Errorf("records left %s, want %v", got, tt.wantLeft)
			}
		})
	}
}

func TestAdminShowAnswerIsTheRecord(t *testing.T) {
	dl := newMemDeadLetters()
	e, _ := newAdminServer(t, dl, []string{adminToken})
	rec := adminDo(t, e, http.MethodGet, "/admin/dlq/3", "", "Bearer "+adminToken)
	var got DeadLetterRecord
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	if got.Seq != 3 || got.Job == nil || got.Job.Ref() != "team/bad:1.0" || got.Status != 400 || got.Reason != queue.ReasonRejected {
		t.Fatalf("record = %+v (job %+v), want seq 3, team/bad:1.0, status 400, rejected", got, got.Job)
	}
}

func TestAdminActionsAreCounted(t *testing.T) {
	dl := newMemDeadLetters()
	e, reg := newAdminServer(t, dl, []string{adminToken})
	steps := []struct {
		method, target, body, auth string
	}{
		{"GET", "/admin/dlq", "", "Bearer " + adminToken},
		{"GET", "/admin/dlq", "", "Bearer wrong"},
		{"POST", "/admin/dlq/redrive", "", "Bearer " + adminToken},
		{"POST", "/admin/dlq/redrive", `{"dry_run":false}`, "Bearer " + adminToken},
		{"POST", "/admin/dlq/purge", `{"limit":-1}`, "Bearer " + adminToken},
		{"GET", "/admin/dlq/404", "", "Bearer " + adminToken},
	}
	for _, s := range steps {
		adminDo(t, e, s.method, s.target, s.body, s.auth)
	}
	want := map[[2]string]float64{
		{"list", outcomeOK}: 1, {"list", outcomeUnauthorized}: 1, {"redrive", outcomeDryRun}: 1,
		{"redrive", outcomeOK}: 1, {"purge", outcomeBadRequest}: 1, {"show", outcomeNotFound}: 1,
		{"purge", outcomeOK}: 0,
	}
	cv := actionsCounter(reg) // the registered one, through the already-registered path
	for k, n := range want {
		if got := testutil.ToFloat64(cv.WithLabelValues(k[0], k[1])); got != n {
			t.Errorf("scanbridge_admin_actions_total{action=%q,outcome=%q} = %v, want %v", k[0], k[1], got, n)
		}
	}
}

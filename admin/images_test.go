package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// imageStore is a lifecycle store on an embedded NATS holding four
// images: team/app:v1 scanned, team/app:v2 waiting for HSS, team/lib:1.0
// scan requested, ops/api:2.1 accepted (the oldest).
func imageStore(t *testing.T) *lifecycle.Store {
	t.Helper()
	s, err := lifecycle.Open(t.Context(), natstest.Start(t).JetStream(), lifecycle.Config{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	add := func(ns, image, tag string, minute int, states ...lifecycle.State) {
		j := scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: ns, Image: image, Tag: tag, Target: target,
			RequestID: "req-" + tag, AcceptedAt: base.Add(time.Duration(minute) * time.Minute)}
		r, err := s.Create(t.Context(), lifecycle.NewRecord(j))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range states {
			if _, err := s.Update(t.Context(), r.Key, func(r *lifecycle.Record) error {
				r.SetState(st, "test")
				r.LastAnswer = lifecycle.Answer{API: "ListSwrImageRepository", Status: 200, RequestID: "hss-1"}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("team", "app", "v1", 3, lifecycle.ScanRequested, lifecycle.Scanning, lifecycle.Scanned)
	add("team", "app", "v2", 2, lifecycle.WaitingPresence)
	add("team", "lib", "1.0", 4, lifecycle.ScanRequested)
	add("ops", "api", "2.1", 1)
	return s
}

func newImagesServer(t *testing.T, images Images, tokens []string) *echo.Echo {
	t.Helper()
	e := echo.New()
	e.Use(middleware.RequestID())
	Register(e, Options{Tokens: tokens, Images: images, Registry: prometheus.NewRegistry()})
	return e
}

func TestImagesAPI(t *testing.T) {
	e := newImagesServer(t, imageStore(t), []string{adminToken})
	tests := []struct {
		name     string
		target   string
		auth     string
		wantCode int
		want     []string // refs in order, for 200
		wantErr  string   // substring of the error, otherwise
	}{
		{"no token is refused", "/api/v1/images", "", 401, nil, "missing or invalid admin token"},
		{"a wrong token is refused", "/api/v1/images/pending", "Bearer nope", 401, nil, "missing or invalid admin token"},
		{"all images", "/api/v1/images", "Bearer " + adminToken, 200, []string{"team/app:v1", "team/app:v2", "team/lib:1.0", "ops/api:2.1"}, ""},
		{"one namespace", "/api/v1/images?namespace=team", "Bearer " + adminToken, 200, []string{"team/app:v1", "team/app:v2", "team/lib:1.0"}, ""},
		{"one image", "/api/v1/images?namespace=team&image=app", "Bearer " + adminToken, 200, []string{"team/app:v1", "team/app:v2"}, ""},
		{"one tag", "/api/v1/images?namespace=team&image=app&tag=v2", "Bearer " + adminToken, 200, []string{"team/app:v2"}, ""},
		{"one state", "/api/v1/images?state=scanned", "Bearer " + adminToken, 200, []string{"team/app:v1"}, ""},
		{"a limit", "/api/v1/images?limit=1", "Bearer " + adminToken, 200, []string{"team/app:v1"}, ""},
		{"nothing matches", "/api/v1/images?namespace=nobody", "Bearer " + adminToken, 200, []string{}, ""},
		{"pending, oldest first", "/api/v1/images/pending", "Bearer " + adminToken, 200, []string{"ops/api:2.1", "team/app:v2", "team/lib:1.0"}, ""},
		{"pending with a limit", "/api/v1/images/pending?limit=2", "Bearer " + adminToken, 200, []string{"ops/api:2.1", "team/app:v2"}, ""},
		{"an unknown state", "/api/v1/images?state=done", "Bearer " + adminToken, 400, nil, `state "done": want one of accepted,`},
		{"a limit over the maximum", "/api/v1/images?limit=1001", "Bearer " + adminToken, 400, nil, "want 1 to 1000"},
		{"a zero limit", "/api/v1/images?limit=0", "Bearer " + adminToken, 400, nil, "want 1 to 1000"},
		{"an unknown parameter", "/api/v1/images?namespaces=team", "Bearer " + adminToken, 400, nil, `unknown query parameter "namespaces"`},
		{"a repeated parameter", "/api/v1/images?tag=a&tag=b", "Bearer " + adminToken, 400, nil, "given 2 times"},
		{"pending takes no filter", "/api/v1/images/pending?namespace=team", "Bearer " + adminToken, 400, nil, "known: limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := adminDo(t, e, http.MethodGet, tt.target, "", tt.auth)
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode != 200 {
				var ans ErrorAnswer
				if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || !strings.Contains(ans.Error, tt.wantErr) || ans.RequestID == "" {
					t.Fatalf("error answer %s, want %q and a request id", rec.Body, tt.wantErr)
				}
				return
			}
			var ans ImagesAnswer
			if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, r := range ans.Images {
				got = append(got, r.Ref())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") || ans.Count != len(tt.want) {
				t.Fatalf("images %v (count %d), want %v", got, ans.Count, tt.want)
			}
			// The answer carries the lifecycle: timestamps and HSS's answer.
			for _, r := range ans.Images {
				if r.AcceptedAt.IsZero() || r.UpdatedAt.IsZero() || len(r.History) == 0 || r.Key == "" {
					t.Fatalf("record without its lifecycle: %+v", r)
				}
				if r.State != lifecycle.Accepted && r.LastAnswer.RequestID != "hss-1" {
					t.Fatalf("record without its HSS answer: %+v", r)
				}
			}
		})
	}
}

func TestImagesAPIOffWithoutStore(t *testing.T) {
	e, _ := newAdminServer(t, newMemDeadLetters(), []string{adminToken})
	if rec := adminDo(t, e, http.MethodGet, "/api/v1/images", "", "Bearer "+adminToken); rec.Code != http.StatusNotFound {
		t.Fatalf("status %d, want 404 without an image store", rec.Code)
	}
	// And the image routes alone do not bring the dead-letter routes.
	e = newImagesServer(t, imageStore(t), []string{adminToken})
	if rec := adminDo(t, e, http.MethodGet, "/admin/dlq", "", "Bearer "+adminToken); rec.Code != http.StatusNotFound {
		t.Fatalf("status %d, want 404 without a dead-letter stream", rec.Code)
	}
}

func TestImagesText(t *testing.T) {
	s := imageStore(t)
	recs, err := s.List(t.Context(), lifecycle.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	now := time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC)
	if err := WriteImagesTable(&b, recs, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"IMAGE", "team/app:v1", "scanned", "ops/api:2.1", "59m0s", "ListSwrImageRepository 200 (request hss-1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteImageLifecycle(&b, recs[0]); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, want := range []string{"image", "team/app:v1", "scan requested at", "history:", "scanning", "result published", "req-v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("lifecycle lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteImagesTable(&b, nil, now); err != nil || !strings.Contains(b.String(), "no images match") {
		t.Fatalf("empty table %q, %v", b.String(), err)
	}
}

// FuzzImageQuery: a query the image routes accept has a known state (or
// none) and a limit within bounds.
func FuzzImageQuery(f *testing.F) {
	for _, s := range []string{"namespace=team&image=app&tag=v1", "state=scanned&limit=5", "limit=1001", "state=x", "a=b", "tag=1&tag=2", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := imageQuery(q, "namespace", "image", "tag", "state", "limit")
		if err != nil {
			return
		}
		if flt.State != "" && !flt.State.Valid() || flt.Limit < 1 || flt.Limit > maxLimit {
			t.Fatalf("imageQuery(%q) = %+v", raw, flt)
		}
	})
}

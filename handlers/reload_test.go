package handlers

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

const (
	tokenA = "token-a-0123456789abcdef"
	tokenB = "token-b-0123456789abcdef"
)

func tokenReceiver(name string, secrets ...string) ReceiverConfig {
	return ReceiverConfig{Name: name, Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthToken, Secrets: secrets}}
}

func newReloadServer(t *testing.T, pub Publisher, rcs ...ReceiverConfig) (*Server, *echo.Echo) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Receivers = rcs
	s, err := New(cfg, Options{Publisher: pub})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, s.NewEcho()
}

func reloadWith(t *testing.T, s *Server, rcs []ReceiverConfig, routes ...RouteConfig) ReloadReport {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Receivers, cfg.Routes = rcs, routes
	rep, err := s.Reload(cfg)
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	return rep
}

func bearer(token string) map[string]string { return map[string]string{"Authorization": token} }

// TestReloadSwapsReceivers: after Reload, the receivers and secrets of
// the new configuration answer, and the report names what changed.
func TestReloadSwapsReceivers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte(tokenA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := ReceiverConfig{Name: "file", Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthToken, SecretFiles: []string{file}}}
	s, e := newReloadServer(t, &memPublisher{}, tokenReceiver("a", tokenA), fromFile)

	type probe struct {
		path, token string
		want        int
	}
	steps := []struct {
		name   string
		before func()
		rcs    []ReceiverConfig
		routes []RouteConfig
		want   ReloadReport
		probes []probe
	}{
		{name: "a receiver is added",
			rcs:    []ReceiverConfig{tokenReceiver("a", tokenA), fromFile, tokenReceiver("b", tokenB)},
			want:   ReloadReport{Added: []string{"b"}},
			probes: []probe{{"/webhooks/a", tokenA, 202}, {"/webhooks/b", tokenB, 202}, {"/webhooks/b", tokenA, 401}}},
		{name: "a secret is rotated in the configuration",
			rcs:    []ReceiverConfig{tokenReceiver("a", tokenB), fromFile, tokenReceiver("b", tokenB)},
			want:   ReloadReport{Changed: []string{"a"}},
			probes: []probe{{"/webhooks/a", tokenA, 401}, {"/webhooks/a", tokenB, 202}}},
		{name: "a secret file is rotated under the same name",
			before: func() {
				if err := os.WriteFile(file, []byte(tokenB), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			rcs:    []ReceiverConfig{tokenReceiver("a", tokenB), fromFile, tokenReceiver("b", tokenB)},
			want:   ReloadReport{Changed: []string{"file"}},
			probes: []probe{{"/webhooks/file", tokenA, 401}, {"/webhooks/file", tokenB, 202}}},
		{name: "nothing changed",
			rcs:    []ReceiverConfig{tokenReceiver("a", tokenB), fromFile, tokenReceiver("b", tokenB)},
			probes: []probe{{"/webhooks/a", tokenB, 202}, {"/webhooks/file", tokenB, 202}}},
		{name: "a receiver is removed and a route added",
			rcs:    []ReceiverConfig{tokenReceiver("b", tokenB)},
			routes: []RouteConfig{{Match: RouteMatch{Namespace: "team"}, Action: ActionDrop}},
			want:   ReloadReport{Removed: []string{"a", "file"}, RoutesChanged: true},
			probes: []probe{{"/webhooks/a", tokenB, 401}, {"/webhooks/file", tokenB, 401}, {"/webhooks/b", tokenB, 200}}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			got := reloadWith(t, s, st.rcs, st.routes...)
			if !reportsEqual(got, st.want) {
				t.Errorf("report = %+v, want %+v", got, st.want)
			}
			for _, p := range st.probes {
				if code, ans := send(t, e, p.path, push, bearer(p.token)); code != p.want {
					t.Errorf("POST %s = %d (%+v), want %d", p.path, code, ans, p.want)
				}
			}
		})
	}
}

func reportsEqual(a, b ReloadReport) bool {
	return slices.Equal(a.Added, b.Added) && slices.Equal(a.Removed, b.Removed) && slices.Equal(a.Changed, b.Changed) &&
		a.RoutesChanged == b.RoutesChanged && a.PublishTimeoutChanged == b.PublishTimeoutChanged
}

// TestReloadRefusesABadConfiguration: a configuration with any error
// changes nothing; the old receivers keep answering.
func TestReloadRefusesABadConfiguration(t *testing.T) {
	good := tokenReceiver("a", tokenA)
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"unknown format", func(c *Config) {
			c.Receivers = []ReceiverConfig{good, {Name: "b", Format: "harbr", Target: target, Auth: AuthConfig{Method: AuthNone}}}
		},
			`receivers[1] "b": format "harbr": unknown`},
		{"a receiver twice", func(c *Config) { c.Receivers = []ReceiverConfig{good, good} }, `receivers[1] "a": defined twice`},
		{"a short secret", func(c *Config) { c.Receivers = []ReceiverConfig{tokenReceiver("a", "short")} }, "at least 16 are required"},
		{"a missing secret file", func(c *Config) {
			c.Receivers = []ReceiverConfig{{Name: "a", Format: "generic", Target: target,
				Auth: AuthConfig{Method: AuthToken, SecretFiles: []string{filepath.Join(t.TempDir(), "gone")}}}}
		}, "secret_files[0]"},
		{"a bad route", func(c *Config) {
			c.Receivers = []ReceiverConfig{good}
			c.Routes = []RouteConfig{{Match: RouteMatch{RepositoryRegexp: "("}}}
		}, "routes[0]"},
		{"max_in_flight", func(c *Config) { c.Receivers, c.MaxInFlight = []ReceiverConfig{good}, 7 }, "max_in_flight changed from 256 to 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, e := newReloadServer(t, &memPublisher{}, good)
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			if _, err := s.Reload(cfg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Reload error = %v, want one saying %q", err, tt.wantErr)
			}
			if code, ans := send(t, e, "/webhooks/a", push, bearer(tokenA)); code != http.StatusAccepted {
				t.Fatalf("old receiver after a refused reload: %d (%+v), want 202", code, ans)
			}
		})
	}
}

// TestReloadKeepsReceiverState: a reload that leaves a receiver's rate
// limit unchanged keeps its bucket (a reload must not refill it), and one
// that leaves its replay settings unchanged keeps the delivery ids it
// remembers, even across a secret rotation. A changed rate limit starts a
// new bucket.
func TestReloadKeepsReceiverState(t *testing.T) {
	limited := tokenReceiver("a", tokenA)
	limited.RateLimit = RateLimitConfig{PerSecond: 0.001, Burst: 1}
	limited.Auth.Replay.IDHeader = "X-Delivery"
	s, e := newReloadServer(t, &memPublisher{}, limited)
	hdr := map[string]string{"Authorization": tokenA, "X-Delivery": "d-1"}
	if code, _ := send(t, e, "/webhooks/a", push, hdr); code != http.StatusAccepted {
		t.Fatalf("first request = %d, want 202", code)
	}
	if code, _ := send(t, e, "/webhooks/a", push, hdr); code != http.StatusTooManyRequests {
		t.Fatalf("second request = %d, want 429", code)
	}
	reloadWith(t, s, []ReceiverConfig{limited})
	if code, _ := send(t, e, "/webhooks/a", push, hdr); code != http.StatusTooManyRequests {
		t.Fatalf("after an unchanged reload = %d, want 429: the bucket was refilled", code)
	}

	rotated := limited
	rotated.Auth.Secrets = []string{tokenB}
	rotated.RateLimit.Burst = 2
	reloadWith(t, s, []ReceiverConfig{rotated})
	hdr["Authorization"] = tokenB
	code, ans := send(t, e, "/webhooks/a", push, hdr)
	if code != http.StatusOK || ans.Status != "ignored" {
		t.Fatalf("replayed delivery after a secret rotation = %d %+v, want 200 ignored: the replay memory was lost", code, ans)
	}
	hdr["X-Delivery"] = "d-2"
	if code, ans := send(t, e, "/webhooks/a", push, hdr); code != http.StatusAccepted {
		t.Fatalf("new delivery with a changed rate limit = %d (%+v), want 202 from a new bucket", code, ans)
	}
}

// TestReloadRequestInFlight: a request that started before a reload
// finishes with the configuration it started with, even one whose
// receiver the reload removes.
func TestReloadRequestInFlight(t *testing.T) {
	pub := &blockingPublisher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, e := newReloadServer(t, pub, tokenReceiver("a", tokenA))
	done := make(chan int, 1)
	go func() {
		code, _ := send(t, e, "/webhooks/a", push, bearer(tokenA))
		done <- code
	}()
	<-pub.entered // the request holds the old snapshot, in the store
	reloadWith(t, s, []ReceiverConfig{tokenReceiver("b", tokenB)})
	if code, _ := send(t, e, "/webhooks/a", push, bearer(tokenA)); code != http.StatusUnauthorized {
		t.Fatalf("new request to the removed receiver = %d, want 401", code)
	}
	close(pub.release)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("request in flight during the reload = %d, want 202", code)
	}
}

// TestReloadUnderLoad reloads while requests run (run it with -race):
// each request is answered by one configuration or the other, 202 with
// the token both accept and 202 or 401 with the one only some accept,
// never anything else.
func TestReloadUnderLoad(t *testing.T) {
	const workers, requests, reloads = 4, 200, 20
	recv := func(secrets ...string) ReceiverConfig {
		r := tokenReceiver("a", secrets...)
		r.RateLimit = RateLimitConfig{PerSecond: 1e6, Burst: workers * requests}
		return r
	}
	s, e := newReloadServer(t, &memPublisher{}, recv(tokenA, tokenB))
	var wg sync.WaitGroup
	codes := make([]map[int]int, workers)
	for w := range workers {
		codes[w] = map[int]int{}
		wg.Go(func() {
			for i := range requests {
				tok := tokenA
				if i%2 == 1 {
					tok = tokenB
				}
				code, _ := send(t, e, "/webhooks/a", push, bearer(tok))
				if code == http.StatusUnauthorized && tok == tokenA {
					t.Errorf("token A, accepted by every configuration, got 401")
				}
				codes[w][code]++
			}
		})
	}
	for i := range reloads {
		secrets := []string{tokenA, tokenB}
		if i%2 == 0 {
			secrets = []string{tokenA}
		}
		reloadWith(t, s, []ReceiverConfig{recv(secrets...)})
		time.Sleep(time.Millisecond) // let requests run between reloads; nothing is asserted on time
	}
	wg.Wait()
	for w, m := range codes {
		for code, n := range m {
			if code != http.StatusAccepted && code != http.StatusUnauthorized {
				t.Errorf("worker %d: %d answers %d", w, n, code)
			}
		}
	}
}

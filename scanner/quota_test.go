package scanner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/ratelimit"
)

// The quota scheduler on the real limiters: in a synctest bubble with
// replicas sharing in-memory keys (ratelimit.MemoryStore, the same
// compare-and-set as a KV key), and on a real embedded NATS for the KV
// keys themselves.

// maxInWindow is the largest number of times in any half-open window
// [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	best := 0
	for i := range times {
		n := 0
		for _, u := range times[i:] {
			if u.Sub(times[i]) < w {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// replicaQuotas is m quotas, one per replica, whose APIs share one
// in-memory key each across the replicas.
func replicaQuotas(t *testing.T, m int, apis []API, cfg ratelimit.Config) []*Quota {
	t.Helper()
	stores := map[API]*ratelimit.MemoryStore{}
	for _, api := range apis {
		stores[api] = &ratelimit.MemoryStore{}
	}
	var out []*Quota
	for range m {
		lims := map[API]ratelimit.Limiter{}
		for _, api := range apis {
			s, err := ratelimit.NewMemoryShared(t.Context(), stores[api], cfg)
			if err != nil {
				t.Fatal(err)
			}
			lims[api] = s
		}
		out = append(out, NewQuota(lims, nil))
	}
	return out
}

// hammer calls Wait in a loop from per goroutines per replica, API and
// priority until d has passed, and returns the time of each permit by API.
func hammer(t *testing.T, quotas []*Quota, apis []API, per int, d time.Duration) map[API][]time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var mu sync.Mutex
	got := map[API][]time.Time{}
	var wg sync.WaitGroup
	for r, q := range quotas {
		for _, api := range apis {
			for _, p := range []Priority{PriorityPush, PriorityWatch} {
				for range per {
					wg.Go(func() {
						for {
							release, err := q.Wait(ctx, api, p)
							if err != nil {
								if ctx.Err() == nil {
									t.Errorf("replica %d %s %s: %v", r, api, p, err)
								}
								return
							}
							mu.Lock()
							got[api] = append(got[api], time.Now())
							mu.Unlock()
							release()
						}
					})
				}
			}
		}
	}
	wg.Wait()
	for _, ts := range got {
		slices.SortFunc(ts, time.Time.Compare)
	}
	return got
}

func TestQuotaKeepsEveryAPIWithinItsSlidingMinute(t *testing.T) {
	tests := []struct {
		name     string
		replicas int
		apis     []API
	}{
		{"one replica, one API", 1, []API{APIBatchScan}},
		{"three replicas, three APIs", 3, []API{APIBatchScan, APISwrRepository, APISynchronize}},
		{"five replicas, every API", 5, APIs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				quotas := replicaQuotas(t, tt.replicas, tt.apis, ratelimit.Config{})
				const d = 10 * time.Minute
				got := hammer(t, quotas, tt.apis, 2, d)
				for _, api := range tt.apis {
					ts := got[api]
					if n := maxInWindow(ts, time.Minute); n > ratelimit.DefaultCallsPerMinute {
						t.Errorf("%s: %d calls in one sliding minute, quota %d", api, n, ratelimit.DefaultCallsPerMinute)
					}
					// Each API has its own budget: every one runs at the
					// full rate, 49 calls in 10 minutes at 12.24 s.
					if len(ts) < 48 {
						t.Errorf("%s: %d calls in %s, want about 49: the APIs' budgets are not independent", api, len(ts), d)
					}
				}
			})
		})
	}
}

func TestQuotaServesPushesBeforeWatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := NewLocalQuota(ratelimit.Config{}, nil)
		mustNot(t, err)
		ctx := t.Context()
		// The first permit goes at once; the next is 12.24 s away.
		release, err := q.Wait(ctx, APISwrRepository, PriorityWatch)
		mustNot(t, err)
		release()

		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		start := func(name string, p Priority) {
			wg.Go(func() {
				if _, err := q.Wait(ctx, APISwrRepository, p); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
			})
			synctest.Wait() // queued in this order
		}
		// Three watches wait first (the pump is already waiting for the
		// next slot on their behalf), then two pushes arrive.
		start("watch1", PriorityWatch)
		start("watch2", PriorityWatch)
		start("push1", PriorityPush)
		start("watch3", PriorityWatch)
		start("push2", PriorityPush)
		// Another API's budget is independent: a batch-scan goes at once.
		if _, err := q.Wait(ctx, APIBatchScan, PriorityWatch); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		want := []string{"push1", "push2", "watch1", "watch2", "watch3"}
		if !slices.Equal(order, want) {
			t.Errorf("permits went to %v, want %v", order, want)
		}
	})
}

// A push path that always has a call waiting does not starve the watch:
// after maxPassedOver permits in a row went to pushes while a watch
// waited, the next one is the watch's.
func TestQuotaDoesNotStarveWatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := NewLocalQuota(ratelimit.Config{}, nil)
		mustNot(t, err)
		ctx := t.Context()
		release, err := q.Wait(ctx, APISwrRepository, PriorityPush)
		mustNot(t, err)
		release()

		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		start := func(name string, p Priority) {
			wg.Go(func() {
				if _, err := q.Wait(ctx, APISwrRepository, p); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
			})
			synctest.Wait()
		}
		start("watch", PriorityWatch)
		for i := range 2 * maxPassedOver {
			start(fmt.Sprint("push", i+1), PriorityPush)
		}
		wg.Wait()
		if i := slices.Index(order, "watch"); i != maxPassedOver {
			t.Errorf("permits went to %v: the watch was served after %d pushes, want %d", order, i, maxPassedOver)
		}
	})
}

func TestQuotaGivesBackTheSlotOfACallerThatLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := NewLocalQuota(ratelimit.Config{}, nil)
		mustNot(t, err)
		_, err = q.Wait(t.Context(), APISwrRepository, PriorityPush)
		mustNot(t, err)
		// A watch gives up after a second: the slot the pump reserved for
		// it (12.24 s) is given back, not left to push the next one out.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err = q.Wait(ctx, APISwrRepository, PriorityWatch)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("watch with a 1 s deadline: %v, want DeadlineExceeded", err)
		}
		began := time.Now()
		_, err = q.Wait(t.Context(), APISwrRepository, PriorityPush)
		mustNot(t, err)
		if waited, want := time.Since(began), 12240*time.Millisecond-time.Second; waited != want {
			t.Errorf("the push after an abandoned watch waited %s, want %s (the abandoned slot given back)", waited, want)
		}
	})
}

func TestQuotaRefusesAnAPIWithoutBudget(t *testing.T) {
	q := NewQuota(map[API]ratelimit.Limiter{APIBatchScan: &fakeLimiter{}}, nil)
	if _, err := q.Wait(t.Context(), APITasks, PriorityPush); !errors.Is(err, ErrNoBudget) {
		t.Errorf("wait for an API without a limiter: %v, want ErrNoBudget", err)
	}
	if r := q.Rate(APITasks); r != 0 {
		t.Errorf("rate of an API without a limiter: %v, want 0", r)
	}
}

func TestQuotaFeedbackCutsOnlyItsAPI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := NewLocalQuota(ratelimit.Config{}, nil)
		mustNot(t, err)
		q.Feedback(t.Context(), APISwrRepository, true)
		if r := q.Rate(APISwrRepository); r != 2.5 {
			t.Errorf("list rate after a 429: %v, want 2.5", r)
		}
		if r := q.Rate(APIBatchScan); r != 5 {
			t.Errorf("batch-scan rate after the list's 429: %v, want 5 (its own budget)", r)
		}
	})
}

func TestQuotaKeys(t *testing.T) {
	tests := []struct {
		key  string
		api  API
		want string
	}{
		{ratelimit.DefaultKey, APIBatchScan, "hss_batch_scan"},
		{ratelimit.DefaultKey, APISwrRepository, "hss_swr_repository"},
		{ratelimit.DefaultKey, APIScanTasks, "hss_image_scan_tasks"},
		{"team_a", APIBatchScan, "team_a"},
		{"team_a", APISynchronize, "team_a.synchronize"},
	}
	for _, tt := range tests {
		if got := QuotaKey(tt.key, tt.api); got != tt.want {
			t.Errorf("QuotaKey(%q, %s) = %q, want %q", tt.key, tt.api, got, tt.want)
		}
	}
}

// TestSharedQuotaOnNATS runs three replicas' quotas on one embedded NATS
// KV bucket, each replica with its own connection. Real time: the rate is
// raised to 120 calls a minute with a 50 % margin, so that a call every
// 0.75 s (5 intervals: 3.75 s) is checked against "at most 5 in any 2.5 s",
// the quota's minute scaled to the rate, with more than a second of slack
// for a loaded test machine. Counts, not durations, are asserted.
func TestSharedQuotaOnNATS(t *testing.T) {
	ns := natstest.Start(t)
	cfg := ratelimit.Config{CallsPerMinute: 120, Margin: 0.5}
	kv := ratelimit.KVConfig{Bucket: "QUOTA_TEST"}
	apis := []API{APIBatchScan, APISwrRepository}
	var quotas []*Quota
	for range 3 {
		q, err := OpenSharedQuota(t.Context(), ns.JetStream(), cfg, kv, nil)
		mustNot(t, err)
		quotas = append(quotas, q)
	}
	const calls = 8 // per API, over all replicas
	var mu sync.Mutex
	got := map[API][]time.Time{}
	var wg sync.WaitGroup
	for r, q := range quotas {
		for _, api := range apis {
			for _, p := range []Priority{PriorityPush, PriorityWatch} {
				wg.Go(func() {
					for {
						mu.Lock()
						done := len(got[api]) >= calls
						mu.Unlock()
						if done {
							return
						}
						ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
						_, err := q.Wait(ctx, api, p)
						cancel()
						if err != nil {
							t.Errorf("replica %d %s: %v", r, api, err)
							return
						}
						mu.Lock()
						got[api] = append(got[api], time.Now())
						mu.Unlock()
					}
				})
			}
		}
	}
	wg.Wait()
	window := time.Duration(float64(time.Minute) * ratelimit.DefaultCallsPerMinute / cfg.CallsPerMinute)
	for _, api := range apis {
		ts := got[api]
		slices.SortFunc(ts, time.Time.Compare)
		if n := maxInWindow(ts, window); n > ratelimit.DefaultCallsPerMinute {
			t.Errorf("%s: %d calls within %s over 3 replicas, want at most %d", api, n, window, ratelimit.DefaultCallsPerMinute)
		}
	}

	// One key per API in the bucket; batch-scan's is the key of earlier
	// versions, so a running deployment keeps its state.
	b, err := ns.JetStream().KeyValue(t.Context(), "QUOTA_TEST")
	mustNot(t, err)
	keys, err := b.ListKeys(t.Context())
	mustNot(t, err)
	var names []string
	for k := range keys.Keys() {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"hss_batch_scan", "hss_swr_repository"}; !slices.Equal(names, want) {
		t.Errorf("keys in the bucket: %v, want %v (one per API called)", names, want)
	}
	for _, k := range names {
		e, err := b.Get(t.Context(), k)
		mustNot(t, err)
		if e.Revision() == 0 || len(e.Value()) == 0 {
			t.Errorf("key %s: empty state", k)
		}
	}
}

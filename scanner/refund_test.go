package scanner

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/ratelimit"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// A batch whose images HSS does not know yet makes no batch-scan, and its
// permit goes back: a burst of such calls, as the consumer makes them
// (AcquirePermit, Scan under the permit, Release), leaves the budget as
// it was, so the known image after them is scanned at once instead of
// five intervals (61 s at 5 a minute) later. On the real limiter, slots
// and client in front of the fake HSS, on a fake clock.
func TestUnusedBatchScanPermitsAreGivenBack(t *testing.T) {
	cases := []struct {
		name  string
		quota bool // batch-scan under a Quota (serve) or h's own limiter
	}{{"own limiter", false}, {"under the quota", true}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := tokenFake(hsstest.Options{SyncDelay: -1})
				h := newTestHSS(t, fake, DefaultConfig(), nil)
				if c.quota {
					q, err := NewLocalQuota(DefaultConfig().rateConfig(), nil)
					mustNot(t, err)
					h.UseQuota(q)
				}
				ht := hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID}
				now := time.Now()
				known := scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: "team", Image: "known", Tag: "1",
					Target: testTarget, AcceptedAt: now}
				fake.PushToSWR(ht, string(testTarget.ImageType), "team", "known", "1", "", now)
				fake.Synchronize(ht, string(testTarget.ImageType))

				call := func(items ...scanjob.Job) error {
					p, err := h.AcquirePermit(t.Context())
					mustNot(t, err)
					defer p.Release()
					return h.Scan(queue.WithPermit(t.Context(), p), testTarget, items)
				}
				start := time.Now()
				for i := range 5 {
					unknown := known
					unknown.Image = fmt.Sprintf("unknown-%d", i)
					err := call(unknown)
					if p, ok := errors.AsType[*queue.Partial](err); !ok || len(p.Deferred) != 1 {
						t.Fatalf("unknown image %d: %v, want it deferred", i, err)
					}
				}
				if err := call(known); err != nil {
					t.Fatalf("known image: %v", err)
				}
				if took := time.Since(start); took != 0 {
					t.Errorf("the known image waited %s for permits the unknown ones did not use", took)
				}
				if n := fake.Calls(hsstest.APIBatchScan).Calls; n != 1 {
					t.Errorf("%d batch-scans, want the known image's one", n)
				}
				// The permit the known image used is spent: the next one
				// is one interval away.
				if err := call(known); err != nil {
					t.Fatal(err)
				}
				if took := time.Since(start); took != 12240*time.Millisecond {
					t.Errorf("second scan after %s, want one interval (12.24s)", took)
				}
			})
		})
	}
}

// Acquire (bridge scan's way, and any caller that does not say whether it
// used the permit) never gives a permit back.
func TestAcquireNeverRefunds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHSS(t, tokenFake(hsstest.Options{}), DefaultConfig(), nil)
		release, err := h.Acquire(t.Context())
		mustNot(t, err)
		release()
		start := time.Now()
		release, err = h.Acquire(t.Context())
		mustNot(t, err)
		release()
		if took := time.Since(start); took != 12240*time.Millisecond {
			t.Errorf("second permit after %s, want one interval", took)
		}
	})
}

var _ ratelimit.Taker = quotaLimiter{}

// A Quota permit whose waiter left as it was granted goes back to the
// limiter rather than being lost.
func TestQuotaRefundsAPermitNobodyTook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := NewLocalQuota(DefaultConfig().rateConfig(), nil)
		mustNot(t, err)
		p, err := q.Take(t.Context(), APIBatchScan, PriorityPush)
		mustNot(t, err)
		mustNot(t, p.Refund(t.Context()))
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if _, err := q.Take(ctx, APIBatchScan, PriorityWatch); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("the refunded permit came back after %s, want at once", took)
		}
	})
}

// The consumer asks for the next permit while a call is being prepared:
// that request already waits for the following slot when the presence
// gate finds nothing to scan. The refund moves it back, so the known
// image of the next call is scanned at once.
func TestAPermitAskedForMeanwhileGetsTheRefundedSlot(t *testing.T) {
	for _, useQuota := range []bool{false, true} {
		t.Run(fmt.Sprintf("quota=%v", useQuota), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := tokenFake(hsstest.Options{SyncDelay: -1})
				h := newTestHSS(t, fake, DefaultConfig(), nil)
				if useQuota {
					q, err := NewLocalQuota(DefaultConfig().rateConfig(), nil)
					mustNot(t, err)
					h.UseQuota(q)
				}
				now := time.Now()
				known := scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: "team", Image: "known", Tag: "1",
					Target: testTarget, AcceptedAt: now}
				ht := hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID}
				fake.PushToSWR(ht, string(testTarget.ImageType), "team", "known", "1", "", now)
				fake.Synchronize(ht, string(testTarget.ImageType))
				unknown := known
				unknown.Image = "unknown"

				start := time.Now()
				first, err := h.AcquirePermit(t.Context())
				mustNot(t, err)
				scanned := make(chan time.Duration, 1)
				go func() {
					p, err := h.AcquirePermit(t.Context())
					if err != nil {
						t.Error(err)
						return
					}
					defer p.Release()
					if err := h.Scan(queue.WithPermit(t.Context(), p), testTarget, []scanjob.Job{known}); err != nil {
						t.Error(err)
					}
					scanned <- time.Since(start)
				}()
				synctest.Wait() // the second request waits for the next slot
				err = h.Scan(queue.WithPermit(t.Context(), first), testTarget, []scanjob.Job{unknown})
				if _, ok := errors.AsType[*queue.Partial](err); !ok {
					t.Fatalf("unknown image: %v, want it deferred", err)
				}
				first.Release()
				if took := <-scanned; took != 0 {
					t.Errorf("the known image was scanned after %s, want at once", took)
				}
			})
		})
	}
}

package scanner

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// The pacing of HSS calls has one owner, HSS.Acquire: these tests run
// the real limiter and slots in front of the fake HSS, on a fake clock.

func TestAcquireHoldsAtMostMaxConcurrentSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := DefaultConfig()
		c.MaxConcurrent = 2
		c.CallsPerMinute, c.Burst = 600, 50 // the rate is not what holds the calls back here
		h := newTestHSS(t, tokenFake(hsstest.Options{}), c, nil)
		r1, err := h.Acquire(t.Context())
		mustNot(t, err)
		r2, err := h.Acquire(t.Context())
		mustNot(t, err)
		got := make(chan func(), 1)
		go func() {
			r3, err := h.Acquire(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			got <- r3
		}()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("a third slot was granted with max_concurrent 2")
		default:
		}
		r1()
		synctest.Wait()
		select {
		case r3 := <-got:
			r3()
		default:
			t.Fatal("a released slot was not handed on")
		}
		r2()
	})
}

func TestTheConcurrencyBoundHoldsAtHSS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := tokenFake(hsstest.Options{})
		release := make(chan struct{})
		fake.Inject(hsstest.Fault{Hold: release})
		c := DefaultConfig()
		c.MaxConcurrent = 2
		c.CallsPerMinute, c.Burst = 600, 50
		h := newTestHSS(t, fake, c, nil)

		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			wg.Go(func() {
				errs <- h.Send(t.Context(), hssTarget(testTarget), hssclient.TargetedScan(hssclient.PrivateImage,
					hssclient.ImageInfo{Namespace: "team", ImageName: "app", ImageVersion: fmt.Sprint(i)}))
			})
		}
		synctest.Wait()
		if n := fake.InFlight(); n != 2 {
			t.Fatalf("%d calls in flight at the fake, want hss.max_concurrent, 2", n)
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			mustNot(t, err)
		}
		if m, n := fake.MaxInFlight(), len(fake.Requests()); m != 2 || n != 6 {
			t.Fatalf("max in flight %d, accepted %d; want 2 and 6", m, n)
		}
	})
}

func mustNot(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTheDefaultRateFitsTheGatewayWindow backs ratelimit.DefaultBurst:
// against a gateway counting 5 calls in any sliding minute, the default
// limiter is never throttled, and a burst of 5 is.
func TestTheDefaultRateFitsTheGatewayWindow(t *testing.T) {
	tests := []struct {
		name          string
		burst         int
		wantThrottled bool
	}{
		{"the default burst of 1 is never throttled", DefaultConfig().Burst, false},
		{"a burst of 5 overruns a sliding minute", 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := tokenFake(hsstest.Options{CallsPerMinute: 5})
				c := DefaultConfig()
				c.Burst = tt.burst
				h := newTestHSS(t, fake, c, nil)
				throttled := 0
				for i := range 15 {
					err := h.Send(t.Context(), hssTarget(testTarget), hssclient.TargetedScan(hssclient.PrivateImage,
						hssclient.ImageInfo{Namespace: "team", ImageName: "app", ImageVersion: fmt.Sprint(i)}))
					var ae *hssclient.APIError
					if errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests {
						throttled++
					} else if err != nil {
						t.Fatal(err)
					}
				}
				if (throttled > 0) != tt.wantThrottled {
					t.Fatalf("%d of 15 calls throttled", throttled)
				}
			})
		})
	}
}

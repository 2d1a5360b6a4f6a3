package hssclient_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// A call's X-Request-Id reaches the caller and the Observer on success as
// on failure: it is what HSS support asks for.
func TestRequestIDOfEveryAnswer(t *testing.T) {
	cases := []struct {
		name       string
		fail       bool
		call       func(ctx context.Context, c *hssclient.Client) error
		wantStatus int
	}{
		{"batch-scan accepted", false, func(ctx context.Context, c *hssclient.Client) error {
			return c.BatchScan(ctx, target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1.25")))
		}, http.StatusOK},
		{"list answered", false, func(ctx context.Context, c *hssclient.Client) error {
			_, err := c.ListSwrImageRepository(ctx, target, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, Limit: 10})
			return err
		}, http.StatusOK},
		{"batch-scan refused", true, func(ctx context.Context, c *hssclient.Client) error {
			return c.BatchScan(ctx, target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1.25")))
		}, http.StatusInternalServerError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := akskFake(hsstest.Options{})
			if tc.fail {
				fake.FailNext(1, http.StatusInternalServerError, "HSS.0004")
			}
			obs := &recorder{}
			c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithObserver(obs))
			var a hssclient.Answer
			err := tc.call(hssclient.WithAnswer(t.Context(), &a), c)
			if (err != nil) != tc.fail {
				t.Fatalf("call: %v", err)
			}
			if a.Status != tc.wantStatus || a.RequestID == "" || a.API == "" {
				t.Fatalf("answer %+v, want status %d with a request id", a, tc.wantStatus)
			}
			calls := obs.Calls()
			if len(calls) != 1 || calls[0].RequestID != a.RequestID {
				t.Fatalf("observed %+v, want the request id %q", calls, a.RequestID)
			}
		})
	}
}

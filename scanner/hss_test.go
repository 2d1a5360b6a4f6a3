package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

const testToken = "scanner-test-token"

var testTarget = scanjob.Target{Region: "cn-north-4", ProjectID: "0123456789abcdef0123456789abcdef",
	ImageType: scanjob.PrivateImage}

// fakeLimiter is a ratelimit.Limiter that grants every Wait and records
// every Feedback.
type fakeLimiter struct {
	mu      sync.Mutex
	reports []bool
	err     error // returned by Feedback
}

func (f *fakeLimiter) Wait(ctx context.Context) error { return ctx.Err() }

func (f *fakeLimiter) Feedback(_ context.Context, throttled bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, throttled)
	return f.err
}

func (f *fakeLimiter) Rate() float64 { return 5 }

func (f *fakeLimiter) Reports() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reports)
}

// newTestHSS is an HSS on the real path (limiter, slots, client, signing
// with a static token) in front of fake, called in process so it works
// inside a synctest bubble.
func newTestHSS(t *testing.T, fake *hsstest.Fake, c Config, log *slog.Logger) *HSS {
	t.Helper()
	auth, err := hssclient.StaticToken(hssclient.NewSecret(testToken))
	if err != nil {
		t.Fatal(err)
	}
	c.Endpoint = "http://hss.test"
	h, err := newHSS(c, Options{Logger: log}, auth, &http.Client{Transport: fake.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func tokenFake(opts hsstest.Options) *hsstest.Fake {
	opts.Tokens = []string{testToken}
	return hsstest.New(opts)
}

func job(tag string) scanjob.Job {
	return scanjob.Job{Namespace: "team", Image: "app", Tag: tag, Target: testTarget}
}

// apiErr is an HSS answer as BatchScan returns it: wrapped with the call.
func apiErr(status int, code, msg string) error {
	return fmt.Errorf("batch scan %s: %w", testTarget.ProjectID,
		&hssclient.APIError{StatusCode: status, ErrorCode: code, ErrorMsg: msg, RequestID: "req-" + code})
}

func TestJudge(t *testing.T) {
	reset := errors.New("read tcp 127.0.0.1:1: connection reset by peer")
	invalid := fmt.Errorf("batch scan: %w: image_info_list[0].image_version: too long", hssclient.ErrInvalidRequest)
	timeout := fmt.Errorf("batch scan: %w", context.DeadlineExceeded)
	tests := []struct {
		name string
		err  error
		want queue.Verdict
	}{
		{"an accepted call is acked", nil, queue.Verdict{Class: queue.Accepted}},
		{"the gateway's throttling is retried, with what HSS said",
			apiErr(429, "APIGW.0308", "throttled"),
			queue.Verdict{Class: queue.Retry, Status: 429, Code: "APIGW.0308", Message: "throttled", RequestID: "req-APIGW.0308"}},
		{"a 503 outage is retried", apiErr(503, "APIG.0201", "backend unavailable"),
			queue.Verdict{Class: queue.Retry, Status: 503, Code: "APIG.0201", Message: "backend unavailable", RequestID: "req-APIG.0201"}},
		{"a refused request is permanent, with what HSS said", apiErr(400, "HSS.0001", "bad image"),
			queue.Verdict{Class: queue.Permanent, Status: 400, Code: "HSS.0001", Message: "bad image", RequestID: "req-HSS.0001"}},
		{"a refused signature blames the account, not the images: retried", apiErr(401, "APIG.0301", "bad token"),
			queue.Verdict{Class: queue.Retry, Status: 401, Code: "APIG.0301", Message: "bad token", RequestID: "req-APIG.0301"}},
		{"a forbidden account is retried", apiErr(403, "APIG.0302", "forbidden"),
			queue.Verdict{Class: queue.Retry, Status: 403, Code: "APIG.0302", Message: "forbidden", RequestID: "req-APIG.0302"}},
		{"a 400 for an exhausted scan quota blames the account: retried", apiErr(400, "HSS.1002", "no quota"),
			queue.Verdict{Class: queue.Retry, Status: 400, Code: "HSS.1002", Message: "no quota", RequestID: "req-HSS.1002"}},
		{"a request that fails validation is permanent, with the error as message", invalid,
			queue.Verdict{Class: queue.Permanent, Message: invalid.Error()}},
		{"a connection reset is retried, with the error as message", reset,
			queue.Verdict{Class: queue.Retry, Message: reset.Error()}},
		{"a timeout is retried, with the error as message", timeout,
			queue.Verdict{Class: queue.Retry, Message: timeout.Error()}},
	}
	h := &HSS{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Judge(tt.err); got != tt.want {
				t.Fatalf("Judge(%v) = %+v, want %+v", tt.err, got, tt.want)
			}
		})
	}
}

func TestFeedback(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []bool
	}{
		{"a 429 cuts the rate", apiErr(429, "APIGW.0308", "throttled"), []bool{true}},
		{"a success lets the rate climb back", nil, []bool{false}},
		{"a 5xx says nothing about the rate", apiErr(503, "APIG.0201", ""), nil},
		{"a refused request says nothing about the rate", apiErr(400, "HSS.0001", ""), nil},
		{"an auth failure says nothing about the rate", apiErr(401, "APIG.0301", ""), nil},
		{"a network error says nothing about the rate", errors.New("connection refused"), nil},
		{"a cancelled call says nothing about the rate", context.Canceled, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := &fakeLimiter{}
			h := &HSS{limiter: lim, log: slog.New(slog.DiscardHandler)}
			h.feedback(t.Context(), tt.err)
			if got := lim.Reports(); !slices.Equal(got, tt.want) {
				t.Fatalf("reports = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestALostFeedbackIsLoggedAndTheCallStands(t *testing.T) {
	var logs bytes.Buffer
	lim := &fakeLimiter{err: errors.New("kv unavailable")}
	h := &HSS{limiter: lim, log: slog.New(slog.NewTextHandler(&logs, nil))}
	h.feedback(t.Context(), apiErr(429, "APIGW.0308", ""))
	if !strings.Contains(logs.String(), "rate limit feedback lost") || !strings.Contains(logs.String(), "kv unavailable") {
		t.Fatalf("log = %q, want the lost report named", logs.String())
	}
}

// TestScanAndSendReportToTheLimiter runs the calls through the client to
// the fake, so the feedback is about the answers HSS really gives.
func TestScanAndSendReportToTheLimiter(t *testing.T) {
	fake := tokenFake(hsstest.Options{})
	h := newTestHSS(t, fake, DefaultConfig(), nil)
	lim := &fakeLimiter{}
	h.limiter = lim

	fake.FailNext(1, http.StatusTooManyRequests, "APIGW.0308")
	if err := h.Scan(t.Context(), testTarget, []scanjob.Job{job("1")}); h.Judge(err).Status != http.StatusTooManyRequests {
		t.Fatalf("Scan = %v, want the fake's 429", err)
	}
	if err := h.Scan(t.Context(), testTarget, []scanjob.Job{job("1"), job("2")}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	fake.FailNext(1, http.StatusServiceUnavailable, "")
	if err := h.Send(t.Context(), hssTarget(testTarget), hssclient.FullScan(hssclient.PrivateImage)); err == nil {
		t.Fatal("Send: want the fake's 503")
	}
	if err := h.Send(t.Context(), hssTarget(testTarget), hssclient.FullScan(hssclient.PrivateImage)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got, want := lim.Reports(), []bool{true, false, false}; !slices.Equal(got, want) {
		t.Fatalf("reports = %v, want %v (throttled, success, nothing for the 503, success)", got, want)
	}
	items := fake.Items()
	if len(items) != 2 || items[0].Namespace != "team" || items[0].ImageName != "app" || items[1].ImageVersion != "2" {
		t.Fatalf("fake items = %+v", items)
	}
}

func TestFillTarget(t *testing.T) {
	t.Setenv("HUAWEICLOUD_SDK_PROJECT_ID", "from-env")
	c := Config{Region: "cn-north-4", ProjectID: "p-default", EnterpriseProjectID: "eps", ImageType: "shared_image"}
	tests := []struct {
		name string
		c    Config
		in   scanjob.Target
		want scanjob.Target
	}{
		{"an empty target takes every default", c, scanjob.Target{},
			scanjob.Target{Region: "cn-north-4", ProjectID: "p-default", EnterpriseProjectID: "eps", ImageType: scanjob.SharedImage}},
		{"fields set are kept", c, scanjob.Target{Region: "ap-southeast-3", ProjectID: "p1", ImageType: scanjob.PrivateImage},
			scanjob.Target{Region: "ap-southeast-3", ProjectID: "p1", EnterpriseProjectID: "eps", ImageType: scanjob.PrivateImage}},
		{"without a default project the SDK's variable names it", Config{}, scanjob.Target{},
			scanjob.Target{ProjectID: "from-env"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.FillTarget(tt.in); got != tt.want {
				t.Fatalf("FillTarget = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewHSSWithoutCredentialsNamesTheSettings(t *testing.T) {
	for _, v := range []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "CLOUD_SDK_AK", "CLOUD_SDK_SK"} {
		t.Setenv(v, "")
	}
	tests := []struct {
		name string
		c    func(*Config)
	}{
		{"aksk without keys", func(*Config) {}},
		{"an access key without its secret", func(c *Config) { c.AccessKey = "AK" }},
		{"token without a token", func(c *Config) { c.Auth = "token" }},
		{"password without a user", func(c *Config) { c.Auth = "password" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.c(&c)
			_, err := NewHSS(c, Options{})
			if !errors.Is(err, errNoCredentials) {
				t.Fatalf("NewHSS = %v, want errNoCredentials", err)
			}
		})
	}
	if _, err := NewHSS(DefaultConfig(), Options{DryRun: true}); err != nil {
		t.Fatalf("a dry run needs no credentials: %v", err)
	}
}

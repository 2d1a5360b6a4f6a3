package hssclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

func TestBatchScanReachesTheFake(t *testing.T) {
	fake := akskFake(hsstest.Options{})
	obs := &recorder{}
	c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithObserver(obs))
	ep := hssclient.Target{Region: "cn-north-4", ProjectID: testProject, EnterpriseProjectID: "all_granted_eps"}

	if err := c.BatchScan(t.Context(), ep, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1.25"), nginx("1.27"))); err != nil {
		t.Fatalf("targeted scan: %v", err)
	}
	full := hssclient.FullScan(hssclient.PrivateImage)
	full.Namespace, full.ScanStatus, full.LatestVersion = "library", hssclient.ScanUnscan, new(true)
	if err := c.BatchScan(t.Context(), target, full); err != nil {
		t.Fatalf("full scan: %v", err)
	}

	items := fake.Items()
	if len(items) != 2 || items[0].ImageVersion != "1.25" || items[1].ImageVersion != "1.27" ||
		items[0].Target != (hsstest.Target{Region: "cn-north-4", ProjectID: testProject, EnterpriseProjectID: "all_granted_eps"}) {
		t.Fatalf("fake items = %+v", items)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[1].Body.OperateAll == nil || !*reqs[1].Body.OperateAll || *reqs[1].Body.Namespace != "library" ||
		reqs[1].Identity != "ak:"+testAK {
		t.Fatalf("fake requests = %+v", reqs)
	}
	calls := obs.Calls()
	if len(calls) != 2 || calls[0].Images != 2 || calls[0].Status != 200 || calls[0].Class != hssclient.ClassOK ||
		calls[0].Attempts != 1 || calls[1].Images != 0 || calls[0].Target != ep {
		t.Fatalf("observed calls = %+v", calls)
	}
}

func TestAnInvalidRequestIsNeverSent(t *testing.T) {
	fake := akskFake(hsstest.Options{})
	obs := &recorder{}
	c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithObserver(obs))
	req := hssclient.TargetedScan(hssclient.PrivateImage, nginx("ok"), nginx(strings.Repeat("v", 129)), nginx(""))

	err := c.BatchScan(t.Context(), target, req)
	if !errors.Is(err, hssclient.ErrInvalidRequest) || hssclient.Classify(err) != hssclient.ClassPermanent {
		t.Fatalf("BatchScan = %v, want a permanent ErrInvalidRequest", err)
	}
	if got := hssclient.InvalidItems(err); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("InvalidItems = %v, want [1 2]", got)
	}
	if len(fake.Requests())+len(fake.Refusals()) != 0 || len(obs.Calls()) != 0 {
		t.Fatal("an invalid request reached the fake or the observer")
	}
}

func TestFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name      string
		opts      hsstest.Options
		prepare   func(*hsstest.Fake)
		calls     int // the last call's error is checked
		wantClass hssclient.Class
		wantCode  string // "" when no *APIError is expected
		wantMsg   string
	}{
		{name: "the gateway's throttling is a retry and keeps APIGW.0308",
			opts: hsstest.Options{CallsPerMinute: 1}, calls: 2, wantClass: hssclient.ClassRetry, wantCode: "APIGW.0308",
			wantMsg: "The throttling threshold has been reached: policy user over ratelimit,limit:1,time:1 minute"},
		{name: "a 503 outage is a retry",
			prepare: func(f *hsstest.Fake) { f.FailNext(1, 503, "") }, calls: 1, wantClass: hssclient.ClassRetry, wantCode: "APIG.0201"},
		{name: "a batch holding a refused image is permanent",
			prepare: func(f *hsstest.Fake) { f.RefuseImage("library", "nginx", "bad") }, calls: 1, wantClass: hssclient.ClassPermanent, wantCode: "HSS.0001"},
		{name: "HSS's 400 for insufficient permissions blames the account, not the images",
			prepare: func(f *hsstest.Fake) { f.FailNext(1, 400, "HSS.0013") }, calls: 1, wantClass: hssclient.ClassAuth, wantCode: "HSS.0013"},
		{name: "a 403 is an auth failure",
			prepare: func(f *hsstest.Fake) { f.FailNext(1, 403, "APIG.0302") }, calls: 1, wantClass: hssclient.ClassAuth, wantCode: "APIG.0302"},
		{name: "a connection reset is a retry without an APIError",
			prepare: func(f *hsstest.Fake) { f.Inject(hsstest.Fault{Reset: true}) }, calls: 1, wantClass: hssclient.ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := akskFake(tt.opts)
			if tt.prepare != nil {
				tt.prepare(fake)
			}
			c := newAKSKClient(t, fake, hssclient.Config{})
			var err error
			for range tt.calls {
				err = c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("good"), nginx("bad")))
			}
			if got := hssclient.Classify(err); got != tt.wantClass {
				t.Fatalf("Classify(%v) = %v, want %v", err, got, tt.wantClass)
			}
			var ae *hssclient.APIError
			if tt.wantCode == "" {
				if errors.As(err, &ae) {
					t.Fatalf("error %v carries an APIError", err)
				}
				return
			}
			if !errors.As(err, &ae) || ae.ErrorCode != tt.wantCode || ae.RequestID == "" {
				t.Fatalf("error = %v, want an APIError with code %s and a request id", err, tt.wantCode)
			}
			if tt.wantMsg != "" && ae.ErrorMsg != tt.wantMsg {
				t.Fatalf("ErrorMsg = %q, want %q", ae.ErrorMsg, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), target.String()) {
				t.Fatalf("error %q does not name the target", err)
			}
		})
	}
}

func TestAConnectionResetOverLoopbackIsARetry(t *testing.T) {
	// ourClient pins the SDK's 2024 signing date: the fake's clock agrees.
	srv := hsstest.NewServer(hsstest.Options{AccessKeys: map[string]hsstest.Key{testAK: {SecretKey: testSK}}, Now: fixedClock(testDate)})
	t.Cleanup(srv.Close)
	srv.Inject(hsstest.Fault{Reset: true, Times: 1})
	c := ourClient(t, srv.URL, "")

	err := c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1")))
	var ae *hssclient.APIError
	if err == nil || errors.As(err, &ae) || hssclient.Classify(err) != hssclient.ClassRetry {
		t.Fatalf("BatchScan = %v, want a retry-class transport error", err)
	}
	if err := c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1"))); err != nil {
		t.Fatalf("the call after the reset: %v", err)
	}
}

func TestTheCallTimeoutEndsASlowCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := akskFake(hsstest.Options{})
		fake.Inject(hsstest.Fault{Delay: time.Hour})
		obs := &recorder{}
		c := newAKSKClient(t, fake, hssclient.Config{CallTimeout: 30 * time.Second},
			hssclient.WithObserver(obs))
		start := time.Now()
		err := c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1")))
		if !errors.Is(err, context.DeadlineExceeded) || hssclient.Classify(err) != hssclient.ClassRetry {
			t.Fatalf("BatchScan = %v, want a retry-class deadline error", err)
		}
		if elapsed := time.Since(start); elapsed != 30*time.Second {
			t.Fatalf("the call took %v of bubble time, want exactly the 30s timeout", elapsed)
		}
		if len(fake.Requests()) != 0 {
			t.Fatal("the fake accepted a request its caller abandoned")
		}
		if c := obs.Calls(); len(c) != 1 || c[0].Status != 0 || c[0].Duration != 30*time.Second {
			t.Fatalf("observed %+v", c)
		}
	})
}

// gatePacer is a Pacer that counts its waits and, while closed, holds
// every caller until its ctx is done.
type gatePacer struct {
	mu     sync.Mutex
	waits  int
	closed bool
}

func (p *gatePacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	p.waits++
	closed := p.closed
	p.mu.Unlock()
	if !closed {
		return ctx.Err()
	}
	<-ctx.Done()
	return fmt.Errorf("wait for the test pacer: %w", ctx.Err())
}

func (p *gatePacer) Waits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waits
}

func TestCancelWhileWaitingForThePacerReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := akskFake(hsstest.Options{})
		obs := &recorder{}
		c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithPacer(&gatePacer{closed: true}), hssclient.WithObserver(obs))

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.BatchScan(ctx, target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1"))) }()
		synctest.Wait() // the call is now blocked in the pacer
		select {
		case err := <-done:
			t.Fatalf("the call did not wait for the pacer: %v", err)
		default:
		}
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) || hssclient.Classify(err) != hssclient.ClassRetry {
			t.Fatalf("BatchScan = %v, want context.Canceled (retry)", err)
		}
		if elapsed := time.Since(start); elapsed != 0 {
			t.Fatalf("cancel took %v of bubble time to be noticed", elapsed)
		}
		if n := len(fake.Requests()) + len(fake.Refusals()); n != 0 {
			t.Fatalf("fake saw %d requests, want none", n)
		}
		if calls := obs.Calls(); len(calls) != 1 || calls[0].Attempts != 0 || calls[0].Class != hssclient.ClassRetry {
			t.Fatalf("observed %+v", calls)
		}
	})
}

func TestWithoutAPacerNothingWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := akskFake(hsstest.Options{})
		obs := &recorder{}
		c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithObserver(obs))
		start := time.Now()
		for i := range 20 {
			mustNot(t, c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx(fmt.Sprint(i)))))
		}
		if elapsed := time.Since(start); elapsed != 0 {
			t.Fatalf("20 calls took %v of bubble time; the client must not pace by itself", elapsed)
		}
		for _, c := range obs.Calls() {
			if c.Wait != 0 {
				t.Fatalf("a call waited %v without a pacer", c.Wait)
			}
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := c.BatchScan(ctx, target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("late")))
		if !errors.Is(err, context.Canceled) || len(fake.Requests()) != 20 {
			t.Fatalf("BatchScan with a done ctx = %v (%d requests); want context.Canceled and nothing sent", err, len(fake.Requests()))
		}
	})
}

func TestThePacerIsAskedBeforeEveryRequest(t *testing.T) {
	p := &gatePacer{}
	c := newAKSKClient(t, akskFake(hsstest.Options{}), hssclient.Config{}, hssclient.WithPacer(p))
	for i := range 3 {
		mustNot(t, c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx(fmt.Sprint(i)))))
	}
	if n := p.Waits(); n != 3 {
		t.Fatalf("the pacer was asked %d times for 3 calls", n)
	}
	// An invalid request is refused before the pacer: it would spend a
	// permit on a call never made.
	err := c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("")))
	if !errors.Is(err, hssclient.ErrInvalidRequest) || p.Waits() != 3 {
		t.Fatalf("BatchScan = %v after %d waits; want ErrInvalidRequest and no wait", err, p.Waits())
	}
}

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRequestURLs(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		target   hssclient.Target
		want     string
	}{
		{"the default endpoint of a region", "", hssclient.Target{Region: "cn-north-4", ProjectID: "p1"},
			"https://hss.cn-north-4.myhuaweicloud.com/v5/p1/image/batch-scan"},
		{"the EU sovereign region's own domain", "", hssclient.Target{Region: "eu-west-101", ProjectID: "p1", EnterpriseProjectID: "0"},
			"https://hss.eu-west-101.myhuaweicloud.eu/v5/p1/image/batch-scan?enterprise_project_id=0"},
		{"an override with a region placeholder", "http://hss-{region}.internal:8080", hssclient.Target{Region: "ap-southeast-3", ProjectID: "p1"},
			"http://hss-ap-southeast-3.internal:8080/v5/p1/image/batch-scan"},
		{"a query value with a space is sent as %20, as the SDK sends it", "", hssclient.Target{Region: "cn-north-4", ProjectID: "p1", EnterpriseProjectID: "a b"},
			"https://hss.cn-north-4.myhuaweicloud.com/v5/p1/image/batch-scan?enterprise_project_id=a%20b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r.URL.String()
				return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
			})}
			st, err := hssclient.StaticToken(hssclient.NewSecret("tok"))
			mustNot(t, err)
			c, err := hssclient.New(hssclient.Config{Auth: st, Endpoint: tt.endpoint}, hssclient.WithHTTPClient(hc))
			mustNot(t, err)
			mustNot(t, c.BatchScan(t.Context(), tt.target, hssclient.FullScan(hssclient.PrivateImage)))
			if got != tt.want {
				t.Fatalf("URL = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	st, err := hssclient.StaticToken(hssclient.NewSecret("tok"))
	mustNot(t, err)
	tests := []struct {
		name    string
		cfg     hssclient.Config
		wantErr string
	}{
		{"a config with only Auth is valid", hssclient.Config{Auth: st}, ""},
		{"Auth is required", hssclient.Config{}, "Auth is required"},
		{"an endpoint with a path is refused (the SDK would drop it)", hssclient.Config{Auth: st, Endpoint: "http://127.0.0.1:1/prefix"}, "must not hold a path"},
		{"an endpoint without a scheme is refused", hssclient.Config{Auth: st, Endpoint: "hss.internal"}, "want http(s)://host"},
		{"a negative timeout is refused", hssclient.Config{Auth: st, CallTimeout: -time.Second}, "CallTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hssclient.New(tt.cfg)
			if tt.wantErr == "" {
				mustNot(t, err)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func mustNot(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWhatValidateAcceptsTheFakeAccepts cross-checks the two independent
// readings of the reference at their edges: a request Validate lets
// through must not be refused by the fake.
func TestWhatValidateAcceptsTheFakeAccepts(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	i64 := func(v int64) *int64 { return &v }
	edge := hssclient.FullScan(hssclient.InstanceImage)
	edge.RepoType, edge.Namespace, edge.ImageName, edge.ImageVersion = hssclient.RepoTypeSWR, long(256), long(256), long(256)
	edge.ScanStatus, edge.LatestVersion, edge.ImageSize = hssclient.ScanDownloadFailed, new(true), i64(hssclient.MaxNumber)
	edge.StartLatestUpdateTime, edge.EndLatestUpdateTime = i64(0), i64(hssclient.MaxNumber)
	edge.StartLatestScanTime, edge.EndLatestScanTime = i64(0), i64(hssclient.MaxNumber)
	many := make([]hssclient.ImageInfo, hssclient.MaxImages)
	for i := range many {
		many[i] = hssclient.ImageInfo{Namespace: long(hssclient.MaxItemNamespaceLen), ImageName: long(hssclient.MaxItemImageNameLen),
			ImageVersion: long(hssclient.MaxItemImageVersionLen), InstanceID: long(hssclient.MaxInstanceIDLen), InstanceURL: long(hssclient.MaxInstanceURLLen)}
	}
	tests := []struct {
		name   string
		target hssclient.Target
		req    hssclient.BatchScanRequest
	}{
		{"a full scan with every filter at its maximum", target, edge},
		{"MaxImages instance images with every field at its maximum", target, hssclient.TargetedScan(hssclient.InstanceImage, many...)},
		{"one-character names", target, hssclient.TargetedScan(hssclient.SharedImage, hssclient.ImageInfo{Namespace: "a", ImageName: "b", ImageVersion: "c"})},
		{"multibyte names at their limits", target, hssclient.TargetedScan(hssclient.PrivateImage,
			hssclient.ImageInfo{Namespace: strings.Repeat("é", 64), ImageName: strings.Repeat("名", 128), ImageVersion: strings.Repeat("ü", 128)})},
		{"a target at its limits", hssclient.Target{Region: "cn-north-4", ProjectID: long(256), EnterpriseProjectID: long(256)}, hssclient.FullScan(hssclient.PrivateImage)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := akskFake(hsstest.Options{})
			c := newAKSKClient(t, fake, hssclient.Config{})
			if err := c.BatchScan(t.Context(), tt.target, tt.req); err != nil {
				t.Fatalf("BatchScan = %v (fake refusals %+v)", err, fake.Refusals())
			}
		})
	}
}

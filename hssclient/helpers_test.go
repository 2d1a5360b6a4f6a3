package hssclient_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// fixedClock returns a clock stopped at an X-Sdk-Date value.
func fixedClock(sdkDate string) func() time.Time {
	t, err := time.Parse("20060102T150405Z", sdkDate)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t }
}

// recorder is an Observer that keeps every call.
type recorder struct {
	mu    sync.Mutex
	calls []hssclient.Call
}

func (r *recorder) ObserveCall(c hssclient.Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) Calls() []hssclient.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hssclient.Call(nil), r.calls...)
}

var target = hssclient.Target{Region: "cn-north-4", ProjectID: testProject}

func nginx(tag string) hssclient.ImageInfo {
	return hssclient.ImageInfo{Namespace: "library", ImageName: "nginx", ImageVersion: tag}
}

// akskFake is the fake knowing the test key pair, called in process so it
// works inside a synctest bubble (its clock is then the bubble's).
func akskFake(opts hsstest.Options) *hsstest.Fake {
	opts.AccessKeys = map[string]hsstest.Key{testAK: {SecretKey: testSK}}
	return hsstest.New(opts)
}

// newAKSKClient returns a client signing with the test key pair and
// sending to fake in process.
func newAKSKClient(t *testing.T, fake *hsstest.Fake, cfg hssclient.Config, opts ...hssclient.Option) *hssclient.Client {
	t.Helper()
	s, err := hssclient.NewSigner(hssclient.Credentials{AccessKey: testAK, SecretKey: hssclient.NewSecret(testSK)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = s
	cfg.Endpoint = "http://hss.test"
	opts = append([]hssclient.Option{hssclient.WithHTTPClient(&http.Client{Transport: fake.Transport()})}, opts...)
	c, err := hssclient.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

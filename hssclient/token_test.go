package hssclient_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

var iamUser = hsstest.User{Domain: "acme", Name: "bridge", Password: "pw-secret"}

// tokenRig is a fake with one IAM user, reached in process through a
// transport that records the X-Auth-Token of every batch-scan request and
// can make IAM fail.
type tokenRig struct {
	fake     *hsstest.Fake
	iamDown  atomic.Bool
	iamCalls atomic.Int32
	iamGate  chan struct{} // when set before use, IAM answers once it is closed
	mu       sync.Mutex
	tokens   []string
}

func (r *tokenRig) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/v3/auth/tokens" {
		r.iamCalls.Add(1)
		if r.iamGate != nil {
			<-r.iamGate
		}
	}
	if req.URL.Path == "/v3/auth/tokens" && r.iamDown.Load() {
		return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader(`{"error_code":"IAM.0001","error_msg":"down"}`)),
			Header: http.Header{}, Request: req}, nil
	}
	if tok := req.Header.Get("X-Auth-Token"); tok != "" {
		r.mu.Lock()
		r.tokens = append(r.tokens, tok)
		r.mu.Unlock()
	}
	return r.fake.Transport().RoundTrip(req)
}

func (r *tokenRig) Tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

func newTokenRig(t *testing.T, lifetime time.Duration, password string, logger *slog.Logger, opts ...hssclient.Option) (*tokenRig, *hssclient.Client, *recorder) {
	t.Helper()
	rig := &tokenRig{fake: hsstest.New(hsstest.Options{Users: []hsstest.User{iamUser}, TokenLifetime: lifetime})}
	hc := &http.Client{Transport: rig}
	auth, err := hssclient.NewPasswordAuth(hssclient.PasswordConfig{
		DomainName: iamUser.Domain, UserName: iamUser.Name, Password: hssclient.NewSecret(password),
		IAMEndpoint: "http://iam-{region}.test", HTTPClient: hc, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	obs := &recorder{}
	c, err := hssclient.New(hssclient.Config{Auth: auth, Endpoint: "http://hss.test"},
		append([]hssclient.Option{hssclient.WithHTTPClient(hc), hssclient.WithObserver(obs)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return rig, c, obs
}

func scanOne(t *testing.T, c *hssclient.Client) error {
	t.Helper()
	return c.BatchScan(t.Context(), target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1.25")))
}

func TestATokenIsFetchedOnceAndReused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig, c, _ := newTokenRig(t, 24*time.Hour, iamUser.Password, nil)
		for range 3 {
			if err := scanOne(t, c); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Hour)
		}
		toks := rig.Tokens()
		if rig.fake.TokensIssued() != 1 || len(toks) != 3 || toks[0] != toks[2] {
			t.Fatalf("issued %d tokens, sent %v; want one token reused", rig.fake.TokensIssued(), toks)
		}
		if id := rig.fake.Requests()[0].Identity; id != "user:acme/bridge" {
			t.Fatalf("identity = %s", id)
		}
	})
}

func TestATokenIsRefreshedBeforeItExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Lifetime 2 h, refresh when less than 1 h is left.
		rig, c, _ := newTokenRig(t, 2*time.Hour, iamUser.Password, nil)
		mustNot(t, scanOne(t, c)) // t=0: first token
		time.Sleep(30 * time.Minute)
		mustNot(t, scanOne(t, c)) // 1.5 h left: reused
		if n := rig.fake.TokensIssued(); n != 1 {
			t.Fatalf("issued %d tokens with 1.5 h left, want 1", n)
		}
		time.Sleep(31 * time.Minute)
		mustNot(t, scanOne(t, c)) // 59 min left: still valid, sent, refresh started
		synctest.Wait()
		if n := rig.fake.TokensIssued(); n != 2 {
			t.Fatalf("issued %d tokens with 59 min left, want a refresh", n)
		}
		mustNot(t, scanOne(t, c))
		toks := rig.Tokens()
		if toks[2] != toks[0] || toks[3] == toks[0] {
			t.Fatalf("tokens sent %v: want the old one while the refresh runs, then the new one", toks)
		}
		if len(rig.fake.Refusals()) != 0 {
			t.Fatalf("refusals: %+v", rig.fake.Refusals())
		}
	})
}

func TestAnExpiredTokenIsNeverSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig, c, _ := newTokenRig(t, 2*time.Hour, iamUser.Password, nil)
		mustNot(t, scanOne(t, c))
		time.Sleep(3 * time.Hour)
		mustNot(t, scanOne(t, c))
		if n, toks := rig.fake.TokensIssued(), rig.Tokens(); n != 2 || toks[0] == toks[1] {
			t.Fatalf("issued %d, sent %v: the second call must wait for a new token", n, toks)
		}
	})
}

func TestARefusedTokenIsRefreshedAndTheCallRetriedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig, c, obs := newTokenRig(t, 24*time.Hour, iamUser.Password, nil)
		mustNot(t, scanOne(t, c))
		rig.fake.RevokeTokens() // as IAM does after a password change

		mustNot(t, scanOne(t, c))
		if n := rig.fake.TokensIssued(); n != 2 {
			t.Fatalf("issued %d tokens, want a new one after the 401", n)
		}
		ref := rig.fake.Refusals()
		if len(ref) != 1 || ref[0].Status != 401 || ref[0].ErrorCode != "APIG.0301" {
			t.Fatalf("refusals %+v, want one 401 APIG.0301", ref)
		}
		if calls := obs.Calls(); calls[1].Attempts != 2 || calls[1].Class != hssclient.ClassOK {
			t.Fatalf("second call observed as %+v, want 2 attempts and ok", calls[1])
		}
	})
}

func TestThePacerIsAskedAgainBeforeTheRetryAfterA401(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &gatePacer{}
		rig, c, obs := newTokenRig(t, 24*time.Hour, iamUser.Password, nil, hssclient.WithPacer(p))
		mustNot(t, scanOne(t, c))
		rig.fake.RevokeTokens()
		mustNot(t, scanOne(t, c))
		if calls := obs.Calls(); calls[1].Attempts != 2 {
			t.Fatalf("second call observed as %+v, want 2 attempts", calls[1])
		}
		if n := p.Waits(); n != 3 {
			t.Fatalf("the pacer was asked %d times, want 3: one per request sent", n)
		}
	})
}

func TestASecond401IsReturnedAsAnAuthFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig, c, obs := newTokenRig(t, 24*time.Hour, iamUser.Password, nil)
		rig.fake.FailNext(3, 401, "APIG.0301")
		err := scanOne(t, c)
		var ae *hssclient.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 401 || hssclient.Classify(err) != hssclient.ClassAuth {
			t.Fatalf("BatchScan = %v, want an auth-class 401", err)
		}
		if calls := obs.Calls(); calls[0].Attempts != 2 {
			t.Fatalf("attempts = %d, want exactly one retry", calls[0].Attempts)
		}
		if n := len(rig.fake.Refusals()); n != 2 {
			t.Fatalf("fake refused %d requests, want 2", n)
		}
	})
}

func TestAStaticTokenIsNotRetried(t *testing.T) {
	fake := hsstest.New(hsstest.Options{Tokens: []string{"static-1"}})
	fake.FailNext(1, 401, "APIG.0307")
	auth, err := hssclient.StaticToken(hssclient.NewSecret("static-1"))
	mustNot(t, err)
	obs := &recorder{}
	c, err := hssclient.New(hssclient.Config{Auth: auth, Endpoint: "http://hss.test"},
		hssclient.WithHTTPClient(&http.Client{Transport: fake.Transport()}), hssclient.WithObserver(obs))
	mustNot(t, err)
	if err := scanOne(t, c); hssclient.Classify(err) != hssclient.ClassAuth {
		t.Fatalf("BatchScan = %v, want an auth failure", err)
	}
	if obs.Calls()[0].Attempts != 1 {
		t.Fatal("a static token was retried after a 401")
	}
	mustNot(t, scanOne(t, c))
}

func TestConcurrentCallersShareOneTokenFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig, c, _ := newTokenRig(t, 24*time.Hour, iamUser.Password, nil)
		rig.iamGate = make(chan struct{})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if err := scanOne(t, c); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait() // every caller is waiting for a token
		if n := rig.iamCalls.Load(); n != 1 {
			t.Fatalf("10 concurrent callers sent %d token requests, want 1", n)
		}
		close(rig.iamGate)
		wg.Wait()
		if n := rig.fake.TokensIssued(); n != 1 || len(rig.fake.Requests()) != 10 {
			t.Fatalf("issued %d tokens for %d calls, want 1 for 10", n, len(rig.fake.Requests()))
		}
	})
}

func TestAWrongPasswordIsAnAuthFailureWithIAMsAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig, c, _ := newTokenRig(t, 24*time.Hour, "wrong-password", nil)
		err := scanOne(t, c)
		var ae *hssclient.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.ErrorCode != "401" || ae.ErrorMsg != "The username or password is wrong." {
			t.Fatalf("BatchScan = %v, want IAM's 401 parsed", err)
		}
		if hssclient.Classify(err) != hssclient.ClassAuth {
			t.Fatalf("Classify = %v, want auth", hssclient.Classify(err))
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Fatalf("the error shows the password: %v", err)
		}
		if len(rig.fake.Requests()) != 0 {
			t.Fatal("a call without a token reached HSS")
		}
	})
}

func TestAFailedRefreshKeepsTheValidToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		rig, c, _ := newTokenRig(t, 2*time.Hour, iamUser.Password, slog.New(slog.NewTextHandler(&logs, nil)))
		mustNot(t, scanOne(t, c))
		rig.iamDown.Store(true)
		time.Sleep(90 * time.Minute) // 30 min left: due for refresh
		mustNot(t, scanOne(t, c))
		synctest.Wait()
		if !strings.Contains(logs.String(), "IAM token refresh failed") {
			t.Fatalf("no warning logged: %s", logs.String())
		}
		if strings.Contains(logs.String(), iamUser.Password) {
			t.Fatal("the log shows the password")
		}
		time.Sleep(31 * time.Minute) // expired, IAM still down
		err := scanOne(t, c)
		if err == nil || hssclient.Classify(err) != hssclient.ClassRetry {
			t.Fatalf("BatchScan with IAM down and no valid token = %v, want a retry-class error", err)
		}
		rig.iamDown.Store(false)
		mustNot(t, scanOne(t, c))
	})
}

package swrclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/swrclient/swrtest"
)

func digest(i int) string { return fmt.Sprintf("sha256:%064x", i) }

func fakeAndClient(t *testing.T, opts swrtest.Options) (*swrtest.Fake, *Client) {
	t.Helper()
	opts.AccessKeys = map[string]swrtest.Key{testAK: {SecretKey: testSK}}
	f := swrtest.New(opts)
	c, err := New(Config{Region: "cn-north-4", Transport: f.Transport(), CallsPerMinute: 60000,
		Credentials: Credentials{AccessKey: testAK, SecretKey: NewSecret(testSK)},
		Sleep:       func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestSWRListPaging(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		repos, tags   int
		pageSize, max int
		wantRepoCalls int
		wantRepos     int
	}{
		{"one short page", 3, 2, 10, 0, 1, 3},
		{"exact pages end on the total", 20, 1, 10, 0, 2, 20},
		{"several pages", 25, 1, 10, 0, 3, 25},
		{"max items stops early", 25, 1, 10, 12, 2, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := fakeAndClient(t, swrtest.Options{})
			for i := range tt.repos {
				for j := range tt.tags {
					f.Push("team", fmt.Sprintf("app%02d", i), fmt.Sprintf("v%d", j), digest(i*100+j), base.Add(time.Duration(i)*time.Minute))
				}
			}
			repos, err := c.ListRepos(t.Context(), "team", ListOptions{PageSize: tt.pageSize, MaxItems: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			if len(repos) != tt.wantRepos || f.Calls(APIListReposDetails) != tt.wantRepoCalls {
				t.Fatalf("%d repos in %d calls, want %d in %d", len(repos), f.Calls(APIListReposDetails), tt.wantRepos, tt.wantRepoCalls)
			}
			for i := 1; i < len(repos); i++ {
				if repos[i].UpdatedAt.After(repos[i-1].UpdatedAt) {
					t.Fatalf("not newest first: %v", repos)
				}
			}
			tags, err := c.ListTags(t.Context(), "team", repos[0].Name, ListOptions{PageSize: 1})
			if err != nil || len(tags) != tt.tags || tags[0].Digest == "" || tags[0].MediaType == "" {
				t.Fatalf("tags %v %v", tags, err)
			}
		})
	}
}

func TestSWRThrottledCallsAreRetried(t *testing.T) {
	f, c := fakeAndClient(t, swrtest.Options{})
	f.Push("team", "app", "v1", digest(1), time.Now())
	f.Throttle(2)
	if _, err := c.ListRepos(t.Context(), "", ListOptions{}); err != nil {
		t.Fatalf("two 429s then an answer: %v", err)
	}
	f.Throttle(Retry429 + 1)
	_, err := c.ListRepos(t.Context(), "", ListOptions{})
	var e *Error
	if !errors.As(err, &e) || !e.Throttled() || e.Code != "APIG.0308" {
		t.Fatalf("throttled past the retries: %v", err)
	}
}

func TestSWRErrorsNameTheCallAndNotTheSecret(t *testing.T) {
	f := swrtest.New(swrtest.Options{AccessKeys: map[string]swrtest.Key{testAK: {SecretKey: "other"}}})
	c, err := New(Config{Region: "r", Transport: f.Transport(), Credentials: Credentials{AccessKey: testAK, SecretKey: NewSecret(testSK)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListTags(t.Context(), "team", "app", ListOptions{})
	if err == nil || strings.Contains(err.Error(), testSK) || !strings.Contains(err.Error(), "ListRepositoryTags of team/app") || !strings.Contains(err.Error(), "APIG.0301") {
		t.Fatalf("error: %v", err)
	}
	f2, c2 := fakeAndClient(t, swrtest.Options{})
	_ = f2
	if _, err := c2.ListTags(t.Context(), "team", "gone", ListOptions{}); !IsNotFound(err) {
		t.Fatalf("a missing repository: %v", err)
	}
}

func TestSWRConfigErrors(t *testing.T) {
	creds := Credentials{AccessKey: testAK, SecretKey: NewSecret(testSK)}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no region", Config{Credentials: creds}, "region"},
		{"a bad endpoint", Config{Endpoint: "ftp://x", Credentials: creds}, "endpoint"},
		{"no secret", Config{Region: "r", Credentials: Credentials{AccessKey: testAK}}, "secret key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := New(Config{Region: "r", Credentials: creds}); err != nil {
		t.Fatal(err)
	}
	if Endpoint("cn-north-4") != "https://swr-api.cn-north-4.myhuaweicloud.com" {
		t.Fatal(Endpoint("cn-north-4"))
	}
}

func TestSWROversizedAnswerIsRefused(t *testing.T) {
	big := strings.Repeat(" ", MaxBody+1)
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: ioNopCloser(strings.NewReader(big)), Request: r}, nil
	})
	c, err := New(Config{Region: "r", Transport: rt, Credentials: Credentials{AccessKey: testAK, SecretKey: NewSecret(testSK)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRepos(t.Context(), "", ListOptions{}); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("oversized: %v", err)
	}
}

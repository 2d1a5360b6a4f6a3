package swrclient

// These tests prove that the client's requests are the official SDK's
// requests for the same inputs (services/swr/v2 of
// github.com/huaweicloud/huaweicloud-sdk-go-v3 v0.1.207, a test-only
// dependency), and that swrtest accepts exactly what the SDK sends.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	swr "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/swr/v2"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/swr/v2/model"

	"github.com/scan-bridge/scan-bridge/swrclient/swrtest"
)

const (
	testAK      = "AKTESTEXAMPLE"
	testSK      = "SKTESTEXAMPLESECRET"
	testProject = "0123456789abcdef0123456789abcdef"
	testDate    = "20240101T000000Z"
	sdkUA       = "huaweicloud-usdk-go/3.0; test" // what the SDK sends for WithUserAgent("test")
)

type captured struct {
	Method, Path, Query string
	Header              http.Header
}

func captureServer(t *testing.T) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = append(got, captured{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone()})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

// sdkClient builds the SDK's SWR client as hssclient's sdk_test.go
// builds the HSS one: an explicit endpoint and credential (never the
// provider chain), a fixed user agent and a pinned X-Sdk-Date.
func sdkClient(t *testing.T, endpoint, securityToken, sk string) *swr.SwrClient {
	t.Helper()
	cb := basic.NewCredentialsBuilder().WithAk(testAK).WithSk(sk).WithProjectId(testProject)
	if securityToken != "" {
		cb = cb.WithSecurityToken(securityToken)
	}
	cred, err := cb.SafeBuild()
	if err != nil {
		t.Fatalf("SDK credentials: %v", err)
	}
	hc, err := swr.SwrClientBuilder().
		WithEndpoints([]string{endpoint}).
		WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithUserAgent("test").WithRetries(0)).
		SafeBuild()
	if err != nil {
		t.Fatalf("SDK client: %v", err)
	}
	hc.WithExtraHeaders(map[string]string{"X-Sdk-Date": testDate})
	return swr.NewSwrClient(hc)
}

func ourClient(t *testing.T, endpoint, securityToken string, rt http.RoundTripper) *Client {
	t.Helper()
	c, err := New(Config{Endpoint: endpoint, ProjectID: testProject, UserAgent: sdkUA, Transport: rt,
		Credentials:    Credentials{AccessKey: testAK, SecretKey: NewSecret(testSK), SecurityToken: NewSecret(securityToken)},
		CallsPerMinute: 6000})
	if err != nil {
		t.Fatal(err)
	}
	c.date = testDate
	return c
}

func ptr[T any](v T) *T { return &v }

var jsonCT = model.GetListReposDetailsRequestContentTypeEnum().APPLICATION_JSON
var jsonTagsCT = model.GetListRepositoryTagsRequestContentTypeEnum().APPLICATION_JSON

// sdkRepos is ListRepos's first page as an SDK request.
func sdkRepos(namespace string, limit int) *model.ListReposDetailsRequest {
	r := &model.ListReposDetailsRequest{ContentType: jsonCT, Limit: ptr(itoa(limit)), Offset: ptr("0"),
		OrderColumn: ptr("updated_at"), OrderType: ptr("desc")}
	if namespace != "" {
		r.Namespace = ptr(namespace)
	}
	return r
}

func sdkTags(namespace, repo string, limit int) *model.ListRepositoryTagsRequest {
	return &model.ListRepositoryTagsRequest{ContentType: jsonTagsCT, Namespace: namespace, Repository: RepoPathSegment(repo),
		Limit: ptr(itoa(limit)), Offset: ptr("0"), OrderColumn: ptr("updated_at"), OrderType: ptr("desc")}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSWRRequestsAreByteIdenticalToTheSDK(t *testing.T) {
	tests := []struct {
		name, token string
		sdk         func(c *swr.SwrClient) error
		ours        func(c *Client) error
	}{
		{"ListReposDetails of every namespace", "",
			func(c *swr.SwrClient) error { _, err := c.ListReposDetails(sdkRepos("", 100)); return err },
			func(c *Client) error { _, err := c.ListRepos(t.Context(), "", ListOptions{}); return err }},
		{"ListReposDetails of one namespace, a page of 1000, temporary credentials", "sts-token",
			func(c *swr.SwrClient) error { _, err := c.ListReposDetails(sdkRepos("team.a_b-c", 1000)); return err },
			func(c *Client) error {
				_, err := c.ListRepos(t.Context(), "team.a_b-c", ListOptions{PageSize: 1000})
				return err
			}},
		{"ListRepositoryTags of a plain repository", "",
			func(c *swr.SwrClient) error { _, err := c.ListRepositoryTags(sdkTags("team", "app", 100)); return err },
			func(c *Client) error { _, err := c.ListTags(t.Context(), "team", "app", ListOptions{}); return err }},
		{"ListRepositoryTags of a repository with slashes", "",
			func(c *swr.SwrClient) error {
				_, err := c.ListRepositoryTags(sdkTags("team", "group/sub/app", 50))
				return err
			},
			func(c *Client) error {
				_, err := c.ListTags(t.Context(), "team", "group/sub/app", ListOptions{PageSize: 50})
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := captureServer(t)
			if err := tt.sdk(sdkClient(t, srv.URL, tt.token, testSK)); err != nil {
				t.Fatalf("SDK: %v", err)
			}
			if err := tt.ours(ourClient(t, srv.URL, tt.token, nil)); err != nil {
				t.Fatalf("ours: %v", err)
			}
			reqs := got()
			if len(reqs) != 2 {
				t.Fatalf("server saw %d requests, want 2", len(reqs))
			}
			sdkReq, ourReq := reqs[0], reqs[1]
			for _, f := range []struct{ what, sdk, ours string }{
				{"method", sdkReq.Method, ourReq.Method},
				{"path", sdkReq.Path, ourReq.Path},
				{"query", sdkReq.Query, ourReq.Query},
				{"Authorization", sdkReq.Header.Get("Authorization"), ourReq.Header.Get("Authorization")},
			} {
				if f.sdk != f.ours {
					t.Errorf("%s differs:\n sdk:  %q\n ours: %q", f.what, f.sdk, f.ours)
				}
			}
			if !reflect.DeepEqual(sdkReq.Header, ourReq.Header) {
				t.Errorf("headers differ:\n sdk:  %v\n ours: %v", sdkReq.Header, ourReq.Header)
			}
		})
	}
}

func fixedClock(date string) func() time.Time {
	t, _ := time.Parse("20060102T150405Z", date)
	return func() time.Time { return t }
}

// TestTheFakeAcceptsTheSDK: the SDK's own requests are accepted by
// swrtest, and answered so that the SDK decodes them; a wrong secret is
// refused with the gateway's APIG.0301.
func TestTheSWRFakeAcceptsTheSDK(t *testing.T) {
	at := time.Date(2023, 12, 31, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, token, sk string
		keys            map[string]swrtest.Key
		wantAccepted    bool
	}{
		{"permanent credentials", "", testSK, map[string]swrtest.Key{testAK: {SecretKey: testSK}}, true},
		{"temporary credentials", "sts", testSK, map[string]swrtest.Key{testAK: {SecretKey: testSK, SecurityToken: "sts"}}, true},
		{"a wrong signature", "", "not-the-secret", map[string]swrtest.Key{testAK: {SecretKey: testSK}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := swrtest.NewServer(swrtest.Options{AccessKeys: tt.keys, Now: fixedClock(testDate)})
			t.Cleanup(fake.Close)
			fake.Push("team", "group/app", "v1", "sha256:"+strings.Repeat("a", 64), at)
			c := sdkClient(t, fake.URL, tt.token, tt.sk)
			repos, err := c.ListReposDetails(sdkRepos("team", 100))
			if !tt.wantAccepted {
				if err == nil || !strings.Contains(err.Error(), "APIG.0301") {
					t.Fatalf("a wrong signature: %v, want 401 APIG.0301", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ListReposDetails: %v", err)
			}
			if repos.Body == nil || len(*repos.Body) != 1 || (*repos.Body)[0].Name != "group/app" || repos.ContentRange == nil || *repos.ContentRange != "0-1/1" {
				t.Fatalf("ListReposDetails answered %v", repos)
			}
			tags, err := c.ListRepositoryTags(sdkTags("team", "group/app", 100))
			if err != nil {
				t.Fatalf("ListRepositoryTags: %v", err)
			}
			if tags.Body == nil || len(*tags.Body) != 1 || (*tags.Body)[0].Tag != "v1" || (*tags.Body)[0].Digest != "sha256:"+strings.Repeat("a", 64) {
				t.Fatalf("ListRepositoryTags answered %v", tags)
			}
			// What the SDK's models hold but the fake does not know is
			// refused: the fake's parameters are the models'.
			if _, err := c.ListRepositoryTags(&model.ListRepositoryTagsRequest{ContentType: jsonTagsCT, Namespace: "team",
				Repository: "group$app", Limit: ptr("0"), Offset: ptr("0")}); err == nil || !strings.Contains(err.Error(), "SVCSTG.SWR.4000014") {
				t.Fatalf("limit 0: %v, want 400", err)
			}
		})
	}
}

// TestTheSWRFakeRefusesWhatTheSDKDoesNotSend: a parameter outside the
// model, a repeated one, an unpaired one, a bad range, a '/' escaped in
// the repository, no Content-Type.
func TestTheSWRFakeRefusesWhatTheSDKDoesNotSend(t *testing.T) {
	fake := swrtest.NewServer(swrtest.Options{AccessKeys: map[string]swrtest.Key{testAK: {SecretKey: testSK}}, Now: fixedClock(testDate)})
	t.Cleanup(fake.Close)
	c := ourClient(t, fake.URL, "", nil)
	tests := []struct {
		name, path, query string
		dropCT            bool
		want              int
	}{
		{"the client's own request", "/v2/manage/repos", "limit=10&offset=0&order_column=updated_at&order_type=desc", false, 200},
		{"a parameter no model has", "/v2/manage/repos", "limit=10&offset=0&page=2", false, 400},
		{"a marker, which only the v3 tags call has", "/v2/manage/namespaces/team/repos/app/tags", "limit=10&marker=x", false, 400},
		{"a repeated parameter", "/v2/manage/repos", "limit=10&limit=20&offset=0", false, 400},
		{"limit without offset", "/v2/manage/repos", "limit=10", false, 400},
		{"order_type without order_column", "/v2/manage/repos", "order_type=desc", false, 400},
		{"limit over 1000", "/v2/manage/repos", "limit=1001&offset=0", false, 400},
		{"an order column the model does not name", "/v2/manage/repos", "order_column=size&order_type=desc", false, 400},
		{"an offset not a multiple of limit", "/v2/manage/namespaces/team/repos/app/tags", "limit=10&offset=5", false, 400},
		{"a bad namespace", "/v2/manage/repos", "namespace=Team", false, 400},
		{"an escaped slash in the repository", "/v2/manage/namespaces/team/repos/group%2Fapp/tags", "", false, 404},
		{"no Content-Type", "/v2/manage/repos", "", true, 400},
		{"a v3 path", "/v3/manage/namespaces/team/repos/app/tags", "", false, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := fake.URL + tt.path
			if tt.query != "" {
				u += "?" + tt.query
			}
			req2, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
			req2.Header = http.Header{}
			if !tt.dropCT {
				req2.Header.Set("Content-Type", "application/json")
			}
			req2.Header.Set("X-Sdk-Date", testDate)
			c.signer.Sign(req2, nil)
			resp, err := http.DefaultClient.Do(req2)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
		})
	}
}

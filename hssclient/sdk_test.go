package hssclient_test

// These tests prove that the bridge's requests are the official SDK's
// requests, byte for byte, by sending the same BatchScan through the SDK's
// own HSS client (github.com/huaweicloud/huaweicloud-sdk-go-v3 v0.1.207,
// services/hss/v5; a test-only dependency) and through hssclient.Client to
// one capturing server. They also check the fake's independent verifier
// against the SDK's signatures.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	hss "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/hss/v5"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/hss/v5/model"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

const (
	testAK      = "AKTESTEXAMPLE"
	testSK      = "SKTESTEXAMPLESECRET"
	testProject = "0123456789abcdef0123456789abcdef"
	testDate    = "20240101T000000Z"
	sdkUA       = "huaweicloud-usdk-go/3.0; test" // what the SDK sends for WithUserAgent("test")
)

// captured is what a server saw of one request.
type captured struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

// captureServer answers 200 to everything and keeps the requests.
func captureServer(t *testing.T) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		mu.Lock()
		got = append(got, captured{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: string(body), Header: r.Header.Clone()})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

// sdkClient builds the SDK's HSS client the way SDK vector 2
// (sign_test.go) was made: an explicit endpoint and credential (never the
// provider chain), a fixed user agent and a pinned X-Sdk-Date.
func sdkClient(t *testing.T, endpoint, securityToken string) *hss.HssClient {
	t.Helper()
	cb := basic.NewCredentialsBuilder().WithAk(testAK).WithSk(testSK).WithProjectId(testProject)
	if securityToken != "" {
		cb = cb.WithSecurityToken(securityToken)
	}
	cred, err := cb.SafeBuild()
	if err != nil {
		t.Fatalf("SDK credentials: %v", err)
	}
	hc, err := hss.HssClientBuilder().
		WithEndpoints([]string{endpoint}).
		WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithUserAgent("test")).
		SafeBuild()
	if err != nil {
		t.Fatalf("SDK client: %v", err)
	}
	hc.WithExtraHeaders(map[string]string{"X-Sdk-Date": testDate})
	return hss.NewHssClient(hc)
}

// pinnedDate signs with the SDK's date hook, a preset X-Sdk-Date.
type pinnedDate struct{ hssclient.Authenticator }

func (p pinnedDate) Authorize(ctx context.Context, req *http.Request, t hssclient.Target, body []byte) error {
	req.Header.Set("X-Sdk-Date", testDate)
	return p.Authenticator.Authorize(ctx, req, t, body)
}

func ourClient(t *testing.T, endpoint, securityToken string, opts ...hssclient.Option) *hssclient.Client {
	t.Helper()
	s, err := hssclient.NewSigner(hssclient.Credentials{AccessKey: testAK, SecretKey: hssclient.NewSecret(testSK),
		SecurityToken: hssclient.NewSecret(securityToken)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := hssclient.New(hssclient.Config{Auth: pinnedDate{s}, Endpoint: endpoint, UserAgent: sdkUA}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// sameScan is one scan expressed in both APIs.
type sameScan struct {
	name          string
	securityToken string
	target        hssclient.Target
	ours          hssclient.BatchScanRequest
	sdk           model.BatchScanSwrImageRequest
}

var sameScans = []sameScan{
	{
		name:   "SDK vector 2: one private image, enterprise project 0",
		target: hssclient.Target{Region: "cn-north-4", ProjectID: testProject, EnterpriseProjectID: "0"},
		ours:   hssclient.TargetedScan(hssclient.PrivateImage, hssclient.ImageInfo{Namespace: "myorg", ImageName: "nginx", ImageVersion: "1.25"}),
		sdk: model.BatchScanSwrImageRequest{Region: ptr("cn-north-4"), EnterpriseProjectId: ptr("0"),
			Body: &model.BatchScanPrivateImageRequestInfo{ImageType: "private_image", ImageInfoList: &[]model.BatchScanSwrImageInfo{
				{Namespace: ptr("myorg"), ImageName: ptr("nginx"), ImageVersion: ptr("1.25")}}}},
	},
	{
		name:   "a full scan with every filter and no enterprise project",
		target: hssclient.Target{Region: "ap-southeast-1", ProjectID: testProject},
		ours: func() hssclient.BatchScanRequest {
			r := hssclient.FullScan(hssclient.SharedImage)
			r.RepoType, r.Namespace, r.ImageName, r.ImageVersion = "SWR", "team", "app", "v1"
			r.ScanStatus, r.LatestVersion, r.ImageSize = hssclient.ScanFailed, new(false), ptr(int64(0))
			r.StartLatestUpdateTime, r.EndLatestUpdateTime = ptr(int64(1)), ptr(int64(2147483547))
			r.StartLatestScanTime, r.EndLatestScanTime = ptr(int64(3)), ptr(int64(4))
			return r
		}(),
		sdk: model.BatchScanSwrImageRequest{Region: ptr("ap-southeast-1"),
			Body: &model.BatchScanPrivateImageRequestInfo{ImageType: "shared_image", OperateAll: ptr(true),
				RepoType: ptr("SWR"), Namespace: ptr("team"), ImageName: ptr("app"), ImageVersion: ptr("v1"),
				ScanStatus: ptr("failed"), LatestVersion: ptr(false), ImageSize: ptr(int64(0)),
				StartLatestUpdateTime: ptr(int64(1)), EndLatestUpdateTime: ptr(int64(2147483547)),
				StartLatestScanTime: ptr(int64(3)), EndLatestScanTime: ptr(int64(4))}},
	},
	{
		name:          "an SWR Enterprise image with HTML characters, UTF-8 and a space in the query, temporary credentials",
		securityToken: "sts-token-value",
		target:        hssclient.Target{Region: "eu-west-101", ProjectID: testProject, EnterpriseProjectID: "ep one/ü"},
		ours: hssclient.TargetedScan(hssclient.InstanceImage,
			hssclient.ImageInfo{Namespace: "équipe", ImageName: "app/api", ImageVersion: "v1+build", InstanceID: "inst-1", InstanceURL: "https://r.example/x?a=1&b=<2>"},
			hssclient.ImageInfo{Namespace: "équipe", ImageName: "worker", ImageVersion: "latest", InstanceID: "inst-1"}),
		sdk: model.BatchScanSwrImageRequest{Region: ptr("eu-west-101"), EnterpriseProjectId: ptr("ep one/ü"),
			Body: &model.BatchScanPrivateImageRequestInfo{ImageType: "instance_image", ImageInfoList: &[]model.BatchScanSwrImageInfo{
				{Namespace: ptr("équipe"), ImageName: ptr("app/api"), ImageVersion: ptr("v1+build"), InstanceId: ptr("inst-1"), InstanceUrl: ptr("https://r.example/x?a=1&b=<2>")},
				{Namespace: ptr("équipe"), ImageName: ptr("worker"), ImageVersion: ptr("latest"), InstanceId: ptr("inst-1")}}}},
	},
}

func TestRequestsAreByteIdenticalToTheSDK(t *testing.T) {
	for _, tt := range sameScans {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := captureServer(t)
			if _, err := sdkClient(t, srv.URL, tt.securityToken).BatchScanSwrImage(&tt.sdk); err != nil {
				t.Fatalf("SDK BatchScanSwrImage: %v", err)
			}
			if err := ourClient(t, srv.URL, tt.securityToken).BatchScan(t.Context(), tt.target, tt.ours); err != nil {
				t.Fatalf("BatchScan: %v", err)
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
				{"body", sdkReq.Body, ourReq.Body},
				{"Authorization", sdkReq.Header.Get("Authorization"), ourReq.Header.Get("Authorization")},
			} {
				if f.sdk != f.ours {
					t.Errorf("%s differs:\n sdk:  %q\n ours: %q", f.what, f.sdk, f.ours)
				}
			}
			// Every header the SDK sends (Go's transport adds the same
			// Accept-Encoding and Content-Length to both).
			if !reflect.DeepEqual(sdkReq.Header, ourReq.Header) {
				t.Errorf("headers differ:\n sdk:  %v\n ours: %v", sdkReq.Header, ourReq.Header)
			}
		})
	}
}

func TestSDKVector2ThroughTheClient(t *testing.T) {
	srv, got := captureServer(t)
	tt := sameScans[0]
	if err := ourClient(t, srv.URL, "").BatchScan(t.Context(), tt.target, tt.ours); err != nil {
		t.Fatal(err)
	}
	const want = "SDK-HMAC-SHA256 Access=AKTESTEXAMPLE, SignedHeaders=region;user-agent;x-project-id;x-sdk-date, Signature=c9eb3cd230d127f3dfd1c56439aee675bd871a42c73fbd1cc68f7c070dd76f7c"
	if a := got()[0].Header.Get("Authorization"); a != want {
		t.Fatalf("Authorization = %s, want %s", a, want)
	}
}

// TestSignerAgreesWithTheSDKSigner compares the two signers directly on
// requests the client never sends (odd paths, repeated and reserved query
// values, padded header values), so the canonical forms agree beyond the
// one API path.
func TestSignerAgreesWithTheSDKSigner(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		query   map[string][]string
		headers map[string]string
		body    string
	}{
		{"a GET without a body or query", "GET", "/v5/p/image/swr-repository", nil, map[string]string{"region": "cn-north-4"}, ""},
		{"a path with reserved and UTF-8 characters", "POST", "/v5/p a*b/é~x.y_z-1/", nil, map[string]string{"region": "r"}, "{}\n"},
		{"repeated and reserved query values", "GET", "/v1/x",
			map[string][]string{"b": {"2", "1", "1 0"}, "a": {"x/y", "*"}, "é": {"=&?"}}, nil, ""},
		{"header values with outer spaces and a mixed-case name", "POST", "/v1/y", nil,
			map[string]string{"X-Custom-Thing": "  padded value  ", "region": "cn-east-3", "Content-Type": "application/json"}, `{"a":1}`},
		{"a non-JSON body is marked unsigned by both", "PUT", "/v1/z", nil, map[string]string{"Content-Type": "application/octet-stream"}, "raw"},
	}
	ours, err := hssclient.NewSigner(hssclient.Credentials{AccessKey: "AccessKey", SecretKey: hssclient.NewSecret("SecretKey")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := sdkrequest.NewHttpRequestBuilder().WithMethod(tt.method).WithEndpoint("https://example.huaweicloud.com").WithPath(tt.path)
			for k, vs := range tt.query {
				b.AddQueryParam(k, reflect.ValueOf(vs))
			}
			for k, v := range tt.headers {
				b.AddHeaderParam(k, v)
			}
			b.AddHeaderParam("X-Sdk-Date", "20060102T150405Z")
			if tt.body != "" {
				b.WithBody("", tt.body)
			}
			sdkHeaders, err := signer.Signer{}.Sign(b.Build(), "AccessKey", "SecretKey")
			if err != nil {
				t.Fatal(err)
			}

			httpReq, err := b.Build().ConvertRequest()
			if err != nil {
				t.Fatal(err)
			}
			// ConvertRequest sends the headers of the request before
			// signing; reset them to the same starting set for ours.
			httpReq.Header = http.Header{}
			for k, v := range tt.headers {
				httpReq.Header[k] = []string{v}
			}
			httpReq.Header.Set("X-Sdk-Date", "20060102T150405Z")
			ours.Sign(httpReq, []byte(tt.body))
			if got, want := httpReq.Header.Get("Authorization"), sdkHeaders["Authorization"]; got != want {
				t.Fatalf("Authorization\n ours: %s\n sdk:  %s", got, want)
			}
		})
	}
}

// TestTheFakeVerifiesTheSDKsSignatures checks hsstest's verifier, written
// from the spec, against the SDK's own requests: what the SDK sends must
// be accepted, with and without temporary credentials, and a wrong secret
// must not.
func TestTheFakeVerifiesTheSDKsSignatures(t *testing.T) {
	tests := []struct {
		name          string
		keys          map[string]hsstest.Key
		securityToken string
		wantAccepted  bool
	}{
		{"permanent credentials are accepted", map[string]hsstest.Key{testAK: {SecretKey: testSK}}, "", true},
		{"temporary credentials with their token are accepted", map[string]hsstest.Key{testAK: {SecretKey: testSK, SecurityToken: "sts"}}, "sts", true},
		{"a secret the fake does not share is refused", map[string]hsstest.Key{testAK: {SecretKey: "other"}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The SDK pins 2024-01-01; so does the fake's clock.
			fake := hsstest.NewServer(hsstest.Options{AccessKeys: tt.keys, Now: fixedClock(testDate)})
			t.Cleanup(fake.Close)
			for _, scan := range sameScans[:2] {
				_, err := sdkClient(t, fake.URL, tt.securityToken).BatchScanSwrImage(&scan.sdk)
				if tt.wantAccepted && err != nil {
					t.Fatalf("fake refused the SDK's %s: %v", scan.name, err)
				}
				if !tt.wantAccepted && (err == nil || !strings.Contains(err.Error(), "APIG.0301")) {
					t.Fatalf("fake answered %v to a wrong secret, want 401 APIG.0301", err)
				}
			}
			if tt.wantAccepted && len(fake.Requests()) != 2 {
				t.Fatalf("fake accepted %d requests, want 2", len(fake.Requests()))
			}
		})
	}
}

// BenchmarkSDKSign is BenchmarkSign's one-image case through the SDK's
// signer, for comparison.
func BenchmarkSDKSign(b *testing.B) {
	body := []byte(`{"image_info_list":[{"namespace":"team","image_name":"app","image_version":"v1"}],"image_type":"private_image"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		req := sdkrequest.NewHttpRequestBuilder().WithMethod("POST").WithEndpoint("https://hss.cn-north-4.myhuaweicloud.com").
			WithPath("/v5/0123456789abcdef0123456789abcdef/image/batch-scan").
			AddQueryParam("enterprise_project_id", reflect.ValueOf("0")).
			AddHeaderParam("Content-Type", "application/json").AddHeaderParam("region", "cn-north-4").
			AddHeaderParam("User-Agent", hssclient.DefaultUserAgent).AddHeaderParam("X-Project-Id", testProject).
			AddHeaderParam("X-Sdk-Date", testDate).WithBody("", string(body)).Build()
		if _, err := (signer.Signer{}).Sign(req, testAK, testSK); err != nil {
			b.Fatal(err)
		}
	}
}

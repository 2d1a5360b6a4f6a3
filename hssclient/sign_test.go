package hssclient

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// signVectors are worked examples whose Authorization is known from
// elsewhere: two requests signed by the SDK v0.1.207 (and recomputed
// independently), and the SDK's own signer tests
// (core/auth/signer/signer_test.go in github.com/huaweicloud/huaweicloud-sdk-go-v3).
var signVectors = []struct {
	name    string
	method  string
	url     string
	headers map[string]string
	body    string
	ak, sk  string
	want    string
}{
	{
		name:   "SDK vector 1: signer only, no user agent, body without newline",
		method: "POST",
		url:    "https://hss.cn-north-4.myhuaweicloud.com/v5/0123456789abcdef0123456789abcdef/image/batch-scan?enterprise_project_id=0",
		headers: map[string]string{"Content-Type": "application/json", "region": "cn-north-4",
			"X-Project-Id": "0123456789abcdef0123456789abcdef", "X-Sdk-Date": "20240101T000000Z"},
		body: `{"image_type":"private_image"}`,
		ak:   "AKTESTEXAMPLE", sk: "SKTESTEXAMPLESECRET",
		want: "SDK-HMAC-SHA256 Access=AKTESTEXAMPLE, SignedHeaders=region;x-project-id;x-sdk-date, Signature=9561286bf154088e05e23365f3adb672e9806afaa28a52023c8f0db500d92ec0",
	},
	{
		name:   "SDK vector 2: the full SDK client path with user agent and trailing newline",
		method: "POST",
		url:    "http://127.0.0.1:8080/v5/0123456789abcdef0123456789abcdef/image/batch-scan?enterprise_project_id=0",
		headers: map[string]string{"Content-Type": "application/json", "region": "cn-north-4",
			"User-Agent": "huaweicloud-usdk-go/3.0; test", "X-Project-Id": "0123456789abcdef0123456789abcdef",
			"X-Sdk-Date": "20240101T000000Z"},
		body: `{"image_info_list":[{"namespace":"myorg","image_name":"nginx","image_version":"1.25"}],"image_type":"private_image"}` + "\n",
		ak:   "AKTESTEXAMPLE", sk: "SKTESTEXAMPLESECRET",
		want: "SDK-HMAC-SHA256 Access=AKTESTEXAMPLE, SignedHeaders=region;user-agent;x-project-id;x-sdk-date, Signature=c9eb3cd230d127f3dfd1c56439aee675bd871a42c73fbd1cc68f7c070dd76f7c",
	},
	{
		name:    "SDK test 1: GET with a query and a header holding an underscore (not signed)",
		method:  "GET",
		url:     "https://example.huaweicloud.com/path?limit=1",
		headers: map[string]string{"X-Sdk-Date": "20060102T150405Z", "TEST_UNDERSCORE": "TEST_VALUE"},
		ak:      "AccessKey", sk: "SecretKey",
		want: "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624",
	},
	{
		name:    "SDK test 2: POST with a JSON body (content type not signed)",
		method:  "POST",
		url:     "https://example.huaweicloud.com/path?key=value",
		headers: map[string]string{"X-Sdk-Date": "20060102T150405Z", "TEST_UNDERSCORE": "TEST_VALUE", "Content-Type": "application/json"},
		body:    `{"Name":"test","Id":1}` + "\n",
		ak:      "AccessKey", sk: "SecretKey",
		want: "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59",
	},
}

// newSignRequest builds a request with headers set under the exact names
// given (as the SDK's header map holds them).
func newSignRequest(t testing.TB, method, rawURL string, headers map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	return req
}

func TestSignVectors(t *testing.T) {
	for _, v := range signVectors {
		t.Run(v.name, func(t *testing.T) {
			s, err := NewSigner(Credentials{AccessKey: v.ak, SecretKey: NewSecret(v.sk)})
			if err != nil {
				t.Fatal(err)
			}
			req := newSignRequest(t, v.method, v.url, v.headers)
			s.Sign(req, []byte(v.body))
			if got := req.Header.Get("Authorization"); got != v.want {
				t.Fatalf("Authorization =\n%s\nwant\n%s", got, v.want)
			}
		})
	}
}

func TestCanonicalRequestOfSDKVector1(t *testing.T) {
	// The canonical request is method, path with a trailing slash, sorted
	// query, signed headers, their names and the body's SHA-256, one per
	// line; check it line by line so a mismatch points at the part that
	// differs.
	v := signVectors[0]
	req := newSignRequest(t, v.method, v.url, v.headers)
	got := canonicalRequest(req, req.Header, signedHeaders(req.Header), []byte(v.body))
	want := strings.Join([]string{
		"POST",
		"/v5/0123456789abcdef0123456789abcdef/image/batch-scan/",
		"enterprise_project_id=0",
		"region:cn-north-4",
		"x-project-id:0123456789abcdef0123456789abcdef",
		"x-sdk-date:20240101T000000Z",
		"",
		"region;x-project-id;x-sdk-date",
		"d663f99d898e2dd494531ad5b672ea56c80ad554989f48544fa208c30bdfdf2e",
	}, "\n")
	if got != want {
		t.Fatalf("canonical request =\n%s\nwant\n%s", got, want)
	}
}

func TestCanonicalQueryOfTheSDKTest(t *testing.T) {
	// The SDK's TestSigner_canonicalQueryString: sorted keys, sorted
	// values, spaces as %20, reserved characters and UTF-8 escaped.
	q := url.Values{}
	q.Set("limit", "1")
	q.Set("enable", "true")
	q.Set("test", "一 (&=?!#%.*)")
	q.Set("path", "/tmp/123")
	q["multi"] = []string{"3", "1", "2"}
	req := newSignRequest(t, "GET", "https://example.huaweicloud.com/?"+q.Encode(), nil)
	cr := canonicalRequest(req, req.Header, nil, nil)
	got := strings.Split(cr, "\n")[2]
	want := "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
	if got != want {
		t.Fatalf("canonical query = %s, want %s", got, want)
	}
}

func TestSignPartsOfTheScheme(t *testing.T) {
	s, err := NewSigner(Credentials{AccessKey: "AK", SecretKey: NewSecret("SK")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header map[string]string
		check  func(t *testing.T, h http.Header)
	}{
		{"a non-JSON content type gets an unsigned payload", map[string]string{"Content-Type": "text/plain", "X-Sdk-Date": "20240101T000000Z"},
			func(t *testing.T, h http.Header) {
				if h.Get(headerContentSha256) != unsignedPayload {
					t.Fatalf("X-Sdk-Content-Sha256 = %q", h.Get(headerContentSha256))
				}
				if !strings.Contains(h.Get("Authorization"), "SignedHeaders=x-sdk-content-sha256;x-sdk-date,") {
					t.Fatalf("Authorization = %s", h.Get("Authorization"))
				}
			}},
		{"a JSON content type with a charset keeps the body hash", map[string]string{"Content-Type": "application/json;charset=utf8"},
			func(t *testing.T, h http.Header) {
				if h.Get(headerContentSha256) != "" {
					t.Fatal("a JSON body must be hashed, not marked unsigned")
				}
			}},
		{"a malformed X-Sdk-Date is replaced by the current time", map[string]string{"X-Sdk-Date": "yesterday"},
			func(t *testing.T, h http.Header) {
				if h.Get(headerSdkDate) == "yesterday" || len(h.Get(headerSdkDate)) != len(sdkDateFormat) {
					t.Fatalf("X-Sdk-Date = %q", h.Get(headerSdkDate))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newSignRequest(t, "POST", "https://x.example/p", tt.header)
			s.Sign(req, []byte("{}"))
			tt.check(t, req.Header)
		})
	}
}

func TestTemporaryCredentialsSignTheSecurityToken(t *testing.T) {
	s, err := NewSigner(Credentials{AccessKey: "AK", SecretKey: NewSecret("SK"), SecurityToken: NewSecret("sts-token")})
	if err != nil {
		t.Fatal(err)
	}
	req := newSignRequest(t, "POST", "https://x.example/v5/p/image/batch-scan", map[string]string{"Content-Type": "application/json"})
	if err := s.Authorize(t.Context(), req, Target{Region: "r", ProjectID: "p"}, nil); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(headerSecurityToken) != "sts-token" || req.Header.Get(headerProjectID) != "p" {
		t.Fatalf("headers = %v", req.Header)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders=x-project-id;x-sdk-date;x-security-token,") {
		t.Fatalf("Authorization = %s", req.Header.Get("Authorization"))
	}
}

func TestNewSignerRefusesIncompleteCredentials(t *testing.T) {
	for _, c := range []Credentials{{SecretKey: NewSecret("sk")}, {AccessKey: "ak"}} {
		if _, err := NewSigner(c); err == nil {
			t.Fatalf("NewSigner(%v) = nil error", c)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s, err := NewSigner(Credentials{AccessKey: "AKTESTEXAMPLE", SecretKey: NewSecret("SKTESTEXAMPLESECRET")})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100, MaxImages} {
		body, err := TargetedScan(PrivateImage, images(n)...).encode()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strconv.Itoa(n)+"_images", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := newSignRequest(b, "POST", "https://hss.cn-north-4.myhuaweicloud.com/v5/0123456789abcdef0123456789abcdef/image/batch-scan?enterprise_project_id=0",
					map[string]string{"Content-Type": "application/json", "region": "cn-north-4", "User-Agent": DefaultUserAgent,
						"X-Project-Id": "0123456789abcdef0123456789abcdef", "X-Sdk-Date": "20240101T000000Z"})
				s.Sign(req, body)
			}
		})
	}
}

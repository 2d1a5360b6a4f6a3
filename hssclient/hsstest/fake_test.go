package hsstest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

const (
	ak      = "AKFAKE"
	sk      = "SKFAKESECRET"
	tmpAK   = "AKTEMP"
	tmpSK   = "SKTEMPSECRET"
	stsTok  = "sts-token"
	project = "proj1"
	token   = "static-token"
)

var (
	start     = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	permanent = hssclient.Credentials{AccessKey: ak, SecretKey: hssclient.NewSecret(sk)}
	temporary = hssclient.Credentials{AccessKey: tmpAK, SecretKey: hssclient.NewSecret(tmpSK), SecurityToken: hssclient.NewSecret(stsTok)}
)

// clock is a settable clock for the fake.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newServer starts a fake on loopback that knows both key pairs, one
// static token and one IAM user.
func newServer(t *testing.T, opts hsstest.Options) (*hsstest.Server, *clock) {
	t.Helper()
	clk := &clock{now: start}
	opts.AccessKeys = map[string]hsstest.Key{ak: {SecretKey: sk}, tmpAK: {SecretKey: tmpSK, SecurityToken: stsTok}}
	opts.Tokens = []string{token}
	opts.Users = []hsstest.User{{Domain: "acme", Name: "bridge", Password: "pw"}}
	opts.Now = clk.Now
	srv := hsstest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, clk
}

const validBody = `{"image_info_list":[{"namespace":"library","image_name":"nginx","image_version":"1.25"}],"image_type":"private_image"}` + "\n"

// call describes one raw request: the baseline is a valid, signed
// targeted scan; each case changes it before or after signing.
type call struct {
	method, path, query string
	header              http.Header
	body                string
	auth                string // "aksk" (default), "token", "none"
	creds               hssclient.Credentials
	date                time.Time
}

func baseline() call {
	return call{
		method: "POST", path: "/v5/" + project + "/image/batch-scan", query: "enterprise_project_id=0",
		header: http.Header{"Content-Type": {"application/json"}, "Region": {"cn-north-4"}, "X-Project-Id": {project}},
		body:   validBody, auth: "aksk", creds: permanent, date: start,
	}
}

// send builds, signs (unless auth says otherwise), lets after tamper with
// the signed request, and sends it.
func send(t *testing.T, srv *hsstest.Server, c call, after func(*http.Request, *[]byte)) (*http.Response, []byte) {
	t.Helper()
	body := []byte(c.body)
	req, err := http.NewRequest(c.method, srv.URL+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = c.query
	req.Header = c.header.Clone()
	switch c.auth {
	case "aksk":
		if !c.creds.SecurityToken.IsZero() {
			req.Header.Set("X-Security-Token", c.creds.SecurityToken.Reveal())
		}
		req.Header.Set("X-Sdk-Date", c.date.UTC().Format("20060102T150405Z"))
		s, err := hssclient.NewSigner(c.creds)
		if err != nil {
			t.Fatal(err)
		}
		s.Sign(req, body)
	case "token":
		req.Header.Set("X-Auth-Token", token)
	}
	if after != nil {
		after(req, &body)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, answer
}

func items(n int, item string) string {
	return `{"image_type":"private_image","image_info_list":[` + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + `]}`
}

func withBody(b string) func(*call) { return func(c *call) { c.body = b } }

// TestTheFakeIsStrict proves every check bites: each case breaks one rule
// of the reference or the signing spec and must get the API's answer, and
// the accepted cases around the limits show the checks are not stricter
// than the reference.
func TestTheFakeIsStrict(t *testing.T) {
	item := `{"namespace":"n","image_name":"i","image_version":"v"}`
	tests := []struct {
		name       string
		change     func(*call)
		after      func(*http.Request, *[]byte)
		wantStatus int
		wantCode   string
	}{
		// Accepted, at the edges of the rules.
		{name: "the baseline targeted scan is accepted", wantStatus: 200},
		{name: "a token instead of a signature is accepted", change: func(c *call) { c.auth = "token" }, wantStatus: 200},
		{name: "temporary credentials with their signed token are accepted", change: func(c *call) { c.creds = temporary }, wantStatus: 200},
		{name: "a clock skew of 14 minutes is accepted", change: func(c *call) { c.date = start.Add(-14 * time.Minute) }, wantStatus: 200},
		{name: "no enterprise project is accepted", change: func(c *call) { c.query = "" }, wantStatus: 200},
		{name: "an empty region header is accepted (minimum 0)", change: func(c *call) { c.header.Set("Region", "") }, wantStatus: 200},
		{name: "JSON with a charset parameter is accepted", change: func(c *call) { c.header.Set("Content-Type", "application/json;charset=UTF-8") }, wantStatus: 200},
		{name: "10241 images are accepted", change: withBody(items(10241, item)), wantStatus: 200},
		{name: "items with no field are accepted: the reference makes them optional", change: withBody(items(2, `{}`)), wantStatus: 200},
		{name: "an item namespace of 64 characters is accepted",
			change: withBody(items(1, `{"namespace":"`+strings.Repeat("n", 64)+`"}`)), wantStatus: 200},
		{name: "an empty instance_url is accepted (minimum 0)", change: withBody(items(1, `{"instance_url":""}`)), wantStatus: 200},
		{name: "a list together with operate_all true is accepted, as the reference allows",
			change: withBody(`{"image_type":"shared_image","operate_all":true,"image_info_list":[` + item + `]}`), wantStatus: 200},
		{name: "a full scan with every filter at its maximum is accepted",
			change: withBody(`{"repo_type":"SWR","operate_all":true,"namespace":"` + strings.Repeat("n", 256) + `","image_name":"i","image_version":"v",` +
				`"image_type":"instance_image","scan_status":"image_oversized","latest_version":false,"image_size":2147483547,` +
				`"start_latest_update_time":0,"end_latest_update_time":2147483547,"start_latest_scan_time":0,"end_latest_scan_time":2147483547}`),
			wantStatus: 200},

		// Authentication.
		{name: "a body changed after signing fails the signature",
			after: func(_ *http.Request, b *[]byte) { *b = bytes.Replace(*b, []byte("1.25"), []byte("1.26"), 1) }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a signed header changed after signing fails the signature",
			after: func(r *http.Request, _ *[]byte) { r.Header.Set("Region", "cn-north-1") }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a query changed after signing fails the signature",
			after: func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "enterprise_project_id=1" }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "an unknown access key is refused",
			change: func(c *call) {
				c.creds = hssclient.Credentials{AccessKey: "AKOTHER", SecretKey: hssclient.NewSecret(sk)}
			}, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a wrong secret key is refused",
			change: func(c *call) { c.creds = hssclient.Credentials{AccessKey: ak, SecretKey: hssclient.NewSecret("nope")} }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a signature 16 minutes old is refused", change: func(c *call) { c.date = start.Add(-16 * time.Minute) }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a signature dated 16 minutes ahead is refused", change: func(c *call) { c.date = start.Add(16 * time.Minute) }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a request without X-Sdk-Date is refused",
			after: func(r *http.Request, _ *[]byte) { r.Header.Del("X-Sdk-Date") }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "temporary credentials without their token are refused",
			change: func(c *call) {
				c.creds = hssclient.Credentials{AccessKey: tmpAK, SecretKey: hssclient.NewSecret(tmpSK)}
			}, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a request without credentials is refused", change: func(c *call) { c.auth = "none" }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "an unknown token is refused", change: func(c *call) { c.auth = "none"; c.header.Set("X-Auth-Token", "forged") }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a token and a signature together are refused",
			after: func(r *http.Request, _ *[]byte) { r.Header.Set("X-Auth-Token", token) }, wantStatus: 401, wantCode: "APIG.0301"},
		{name: "a bearer token is not an HSS scheme",
			change: func(c *call) { c.auth = "none"; c.header.Set("Authorization", "Bearer x") }, wantStatus: 401, wantCode: "APIG.0301"},

		// Path and method.
		{name: "a misspelt path is not an API", change: func(c *call) { c.path = "/v5/" + project + "/image/batchscan" }, wantStatus: 404, wantCode: "APIG.0101"},
		{name: "GET is not the API", change: func(c *call) { c.method = "GET" }, wantStatus: 404, wantCode: "APIG.0101"},
		{name: "an empty project id is not the API", change: func(c *call) { c.path = "/v5//image/batch-scan" }, wantStatus: 404, wantCode: "APIG.0101"},
		{name: "a project id of 257 characters is not the API",
			change: func(c *call) { c.path = "/v5/" + strings.Repeat("p", 257) + "/image/batch-scan" }, wantStatus: 404, wantCode: "APIG.0101"},

		// Headers and query.
		{name: "a missing region header is refused", change: func(c *call) { c.header.Del("Region") }, wantStatus: 400, wantCode: "HSS.0001"},
		{name: "a region of 129 characters is refused", change: func(c *call) { c.header.Set("Region", strings.Repeat("r", 129)) }, wantStatus: 400, wantCode: "HSS.0001"},
		{name: "a text content type is refused", change: func(c *call) { c.header.Set("Content-Type", "text/plain") }, wantStatus: 400, wantCode: "HSS.0002"},
		{name: "an unknown query parameter is refused", change: func(c *call) { c.query = "enterprise_project_id=0&limit=10" }, wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an empty enterprise project is refused (minimum 1)", change: func(c *call) { c.query = "enterprise_project_id=" }, wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an enterprise project of 257 characters is refused",
			change: func(c *call) { c.query = "enterprise_project_id=" + strings.Repeat("e", 257) }, wantStatus: 400, wantCode: "HSS.0001"},
		{name: "a repeated enterprise project is refused", change: func(c *call) { c.query = "enterprise_project_id=0&enterprise_project_id=1" }, wantStatus: 400, wantCode: "HSS.0001"},

		// Body decoding.
		{name: "an unknown field is refused", change: withBody(`{"image_type":"private_image","operate_all":true,"image_digest":"sha256:x"}`), wantStatus: 400, wantCode: "HSS.0002"},
		{name: "an unknown item field is refused", change: withBody(items(1, `{"tag":"v1"}`)), wantStatus: 400, wantCode: "HSS.0002"},
		{name: "a string where a boolean belongs is refused", change: withBody(`{"image_type":"private_image","operate_all":"true"}`), wantStatus: 400, wantCode: "HSS.0002"},
		{name: "a fraction where a Long belongs is refused", change: withBody(`{"image_type":"private_image","operate_all":true,"image_size":1.5}`), wantStatus: 400, wantCode: "HSS.0002"},
		{name: "data after the object is refused", change: withBody(validBody + `{}`), wantStatus: 400, wantCode: "HSS.0002"},
		{name: "an empty body is refused", change: withBody(""), wantStatus: 400, wantCode: "HSS.0002"},

		// Body rules.
		{name: "a missing image_type is refused", change: withBody(`{"operate_all":true}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an image type of another API is refused", change: withBody(`{"image_type":"local_image","operate_all":true}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "a repo type other than SWR is refused", change: withBody(`{"repo_type":"GCR","image_type":"private_image","operate_all":true}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an empty list without operate_all is refused", change: withBody(`{"image_type":"private_image","image_info_list":[]}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "operate_all false without a list is refused", change: withBody(`{"image_type":"private_image","operate_all":false}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "10242 images are refused", change: withBody(items(10242, item)), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an item namespace of 65 characters is refused",
			change: withBody(items(1, `{"namespace":"`+strings.Repeat("n", 65)+`"}`)), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an item image name of 129 characters is refused",
			change: withBody(items(1, `{"image_name":"`+strings.Repeat("i", 129)+`"}`)), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an empty item image version is refused (minimum 1)", change: withBody(items(1, `{"image_version":""}`)), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an instance id of 129 characters is refused",
			change: withBody(items(1, `{"instance_id":"`+strings.Repeat("i", 129)+`"}`)), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an instance url of 257 characters is refused",
			change: withBody(items(1, `{"instance_url":"`+strings.Repeat("u", 257)+`"}`)), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an instance image item without instance id is refused",
			change: withBody(`{"image_type":"instance_image","image_info_list":[` + item + `]}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "a filter namespace of 257 characters is refused",
			change: withBody(`{"image_type":"private_image","operate_all":true,"namespace":"` + strings.Repeat("n", 257) + `"}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an undocumented scan status is refused",
			change: withBody(`{"image_type":"private_image","operate_all":true,"scan_status":"waiting_for_scan"}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "a negative image size is refused",
			change: withBody(`{"image_type":"private_image","operate_all":true,"image_size":-1}`), wantStatus: 400, wantCode: "HSS.0001"},
		{name: "an end scan time over 2147483547 is refused",
			change: withBody(`{"image_type":"private_image","operate_all":true,"end_latest_scan_time":2147483548}`), wantStatus: 400, wantCode: "HSS.0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newServer(t, hsstest.Options{})
			c := baseline()
			if tt.change != nil {
				tt.change(&c)
			}
			resp, answer := send(t, srv, c, tt.after)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, answer, tt.wantStatus)
			}
			if tt.wantStatus == 200 {
				if len(srv.Requests()) != 1 || len(srv.Refusals()) != 0 {
					t.Fatalf("accepted %d, refused %+v", len(srv.Requests()), srv.Refusals())
				}
				return
			}
			var e struct{ ErrorCode, ErrorMsg, RequestID string }
			if err := json.Unmarshal(answer, &struct {
				ErrorCode *string `json:"error_code"`
				ErrorMsg  *string `json:"error_msg"`
				RequestID *string `json:"request_id"`
			}{&e.ErrorCode, &e.ErrorMsg, &e.RequestID}); err != nil {
				t.Fatalf("error body %q: %v", answer, err)
			}
			if e.ErrorCode != tt.wantCode || e.ErrorMsg == "" || e.RequestID == "" || resp.Header.Get("X-Request-Id") != e.RequestID {
				t.Fatalf("error body %s (X-Request-Id %q), want code %s with message and request id", answer, resp.Header.Get("X-Request-Id"), tt.wantCode)
			}
			if len(srv.Requests()) != 0 || len(srv.Refusals()) != 1 {
				t.Fatalf("a refused request was recorded as accepted: %d accepted, %d refused", len(srv.Requests()), len(srv.Refusals()))
			}
		})
	}
}

func TestTheFakeThrottlesLikeTheGateway(t *testing.T) {
	srv, clk := newServer(t, hsstest.Options{CallsPerMinute: 2})
	codes := func(c call) int {
		c.date = clk.Now()
		resp, _ := send(t, srv, c, nil)
		return resp.StatusCode
	}
	aksk, tok := baseline(), baseline()
	tok.auth = "token"
	if a, b := codes(aksk), codes(aksk); a != 200 || b != 200 {
		t.Fatalf("first two calls: %d %d", a, b)
	}
	c := aksk
	c.date = clk.Now()
	resp, answer := send(t, srv, c, nil)
	var body map[string]string
	if err := json.Unmarshal(answer, &body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || body["error_code"] != "APIGW.0308" ||
		body["error_msg"] != "The throttling threshold has been reached: policy user over ratelimit,limit:2,time:1 minute" {
		t.Fatalf("third call: %d %s", resp.StatusCode, answer)
	}
	if got := codes(tok); got != 200 {
		t.Fatalf("another identity was throttled: %d", got)
	}
	clk.Advance(59 * time.Second)
	if got := codes(aksk); got != 429 {
		t.Fatalf("59 s later: %d, want still throttled", got)
	}
	clk.Advance(time.Second)
	if got := codes(aksk); got != 200 {
		t.Fatalf("a minute later: %d, want accepted", got)
	}
}

func TestFaults(t *testing.T) {
	srv, clk := newServer(t, hsstest.Options{})
	status := func(body string) int {
		c := baseline()
		c.body, c.date = body, clk.Now()
		resp, _ := send(t, srv, c, nil)
		return resp.StatusCode
	}
	seq := func(n int, body string) []int {
		var s []int
		for range n {
			s = append(s, status(body))
		}
		return s
	}

	srv.FailNext(2, 503, "")
	if got := seq(3, validBody); fmt.Sprint(got) != "[503 503 200]" {
		t.Fatalf("FailNext(2): %v", got)
	}

	srv.Inject(hsstest.Fault{Status: 500, Until: start.Add(time.Minute)})
	first := status(validBody)
	clk.Advance(time.Minute)
	if second := status(validBody); first != 500 || second != 200 {
		t.Fatalf("a one-minute outage window: %d then %d", first, second)
	}

	remove := srv.RefuseImage("library", "nginx", "bad")
	bad := items(1, `{"namespace":"library","image_name":"nginx","image_version":"bad"}`)
	mixed := `{"image_type":"private_image","image_info_list":[{"namespace":"library","image_name":"nginx","image_version":"ok"},` +
		`{"namespace":"library","image_name":"nginx","image_version":"bad"}]}`
	if got := []int{status(bad), status(mixed), status(validBody)}; fmt.Sprint(got) != "[400 400 200]" {
		t.Fatalf("RefuseImage: %v", got)
	}
	remove()
	if got := status(bad); got != 200 {
		t.Fatalf("after remove: %d", got)
	}

	// Only the requests that passed were recorded, with their items.
	its := srv.Items()
	if len(its) != 4 || its[3].ImageVersion != "bad" || its[3].Target.EnterpriseProjectID != "0" {
		t.Fatalf("items %+v", its)
	}
}

func TestAResetFaultDropsTheConnection(t *testing.T) {
	srv, _ := newServer(t, hsstest.Options{})
	srv.Inject(hsstest.Fault{Reset: true, Times: 1})
	c := baseline()
	req, err := http.NewRequest(c.method, srv.URL+c.path+"?"+c.query, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	req.Header.Set("X-Auth-Token", token)
	if _, err := srv.Client().Do(req); err == nil {
		t.Fatal("the reset request got an answer")
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("a reset request was recorded as accepted")
	}
}

func TestTheInProcessTransportAnswersAsTheServer(t *testing.T) {
	fake := hsstest.New(hsstest.Options{Tokens: []string{token}})
	hc := &http.Client{Transport: fake.Transport()}
	do := func() (*http.Response, error) {
		req, err := http.NewRequest("POST", "http://anything.test/v5/p/image/batch-scan", strings.NewReader(validBody))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = http.Header{"Content-Type": {"application/json"}, "Region": {"r"}, "X-Auth-Token": {token}}
		return hc.Do(req)
	}
	resp, err := do()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("in-process call: %v %v", resp, err)
	}
	fake.Inject(hsstest.Fault{Reset: true, Times: 1})
	if _, err := do(); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset through the transport = %v, want ECONNRESET", err)
	}
	if len(fake.Requests()) != 1 {
		t.Fatalf("accepted %d, want 1", len(fake.Requests()))
	}
}

func TestTheFakeIssuesTokens(t *testing.T) {
	srv, clk := newServer(t, hsstest.Options{TokenLifetime: 2 * time.Hour})
	login := func(body string) (*http.Response, []byte) {
		resp, err := srv.Client().Post(srv.URL+"/v3/auth/tokens?nocatalog=true", "application/json;charset=utf8", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	passwordBody := func(pw, scope string) string {
		return `{"auth":{"identity":{"methods":["password"],"password":{"user":{"domain":{"name":"acme"},"name":"bridge","password":"` + pw + `"}}},"scope":` + scope + `}}`
	}

	resp, answer := login(passwordBody("pw", `{"project":{"id":"`+project+`"}}`))
	tok := resp.Header.Get("X-Subject-Token")
	var doc struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	if err := json.Unmarshal(answer, &doc); err != nil || resp.StatusCode != 201 || tok == "" ||
		doc.Token.ExpiresAt != "2024-01-01T02:00:00.000000Z" {
		t.Fatalf("login: %d %q %s (%v)", resp.StatusCode, tok, answer, err)
	}

	scan := func(projectID string) (int, string) {
		c := baseline()
		c.auth, c.path = "none", "/v5/"+projectID+"/image/batch-scan"
		c.header.Set("X-Auth-Token", tok)
		resp, answer := send(t, srv, c, nil)
		var e map[string]string
		_ = json.Unmarshal(answer, &e)
		return resp.StatusCode, e["error_code"]
	}
	if s, _ := scan(project); s != 200 {
		t.Fatalf("the issued token was refused: %d", s)
	}
	if s, code := scan("other"); s != 401 || code != "APIG.0301" {
		t.Fatalf("a token used for another project: %d %s", s, code)
	}
	clk.Advance(2 * time.Hour)
	if s, code := scan(project); s != 401 || code != "APIG.0307" {
		t.Fatalf("an expired token: %d %s, want 401 APIG.0307", s, code)
	}

	tests := []struct {
		name       string
		body       string
		wantStatus int
	}{
		{"a wrong password gets IAM's 401", passwordBody("nope", `{"project":{"id":"p"}}`), 401},
		{"a domain scope is not a project scope", passwordBody("pw", `{"domain":{"name":"acme"}}`), 400},
		{"an unknown field is refused", `{"auth":{"identity":{"methods":["password"]},"extra":1}}`, 400},
		{"the token method is not password", `{"auth":{"identity":{"methods":["token"]},"scope":{"project":{"id":"p"}}}}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, answer := login(tt.body)
			var e struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(answer, &e); err != nil || resp.StatusCode != tt.wantStatus || e.Error.Code != tt.wantStatus || e.Error.Message == "" {
				t.Fatalf("%d %s, want %d in IAM's error shape", resp.StatusCode, answer, tt.wantStatus)
			}
			if resp.Header.Get("X-Subject-Token") != "" {
				t.Fatal("a refused login got a token")
			}
		})
	}
	if n := srv.TokensIssued(); n != 1 {
		t.Fatalf("issued %d tokens, want 1", n)
	}
}

// TestTheFakeIsSafeForConcurrentUse runs calls, faults and reads at once;
// run with -race to check the locking.
func TestTheFakeIsSafeForConcurrentUse(t *testing.T) {
	srv, _ := newServer(t, hsstest.Options{CallsPerMinute: 1000})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			c := baseline()
			c.auth = "token"
			if i%4 == 0 {
				remove := srv.FailNext(1, 503, "")
				defer remove()
			}
			send(t, srv, c, nil)
			_ = srv.Items()
			_ = srv.Refusals()
			_ = srv.MaxInFlight()
		})
	}
	wg.Wait()
	if got := len(srv.Requests()) + len(srv.Refusals()); got != 16 {
		t.Fatalf("accepted plus refused = %d, want 16", got)
	}
}

package hssclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
)

// TestClassifyStatus is the one status → class table.
func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   Class
	}{
		{200, "", ClassOK},
		{204, "", ClassOK},
		{301, "", ClassRetry},
		{400, "HSS.0001", ClassPermanent},
		{400, "HSS.0002", ClassPermanent},
		{400, "HSS.0010", ClassAuth},
		{400, "HSS.0013", ClassAuth},
		{400, "HSS.1002", ClassAuth},
		{401, "APIG.0301", ClassAuth},
		{401, "APIG.0307", ClassAuth},
		{403, "", ClassAuth},
		{404, "APIG.0101", ClassPermanent},
		{405, "", ClassPermanent},
		{408, "", ClassRetry},
		{409, "", ClassPermanent},
		{413, "", ClassPermanent},
		{422, "", ClassPermanent},
		{429, "APIGW.0308", ClassRetry},
		{429, "APIG.0308", ClassRetry},
		{500, "", ClassRetry},
		{502, "", ClassRetry},
		{503, "APIG.0201", ClassRetry},
		{504, "", ClassRetry},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s is %s", tt.status, tt.code, tt.want), func(t *testing.T) {
			err := fmt.Errorf("batch scan x: %w", &APIError{StatusCode: tt.status, ErrorCode: tt.code})
			if got := Classify(err); got != tt.want {
				t.Fatalf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassifyErrorsWithoutStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"no error is ok", nil, ClassOK},
		{"a validation error is permanent", fmt.Errorf("op: %w", &FieldError{Field: "image_type", Item: -1, Rule: "required"}), ClassPermanent},
		{"the call's deadline is a retry", fmt.Errorf("op: %w", &url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded}), ClassRetry},
		{"a cancelled call (shutdown) is a retry", fmt.Errorf("op: %w", context.Canceled), ClassRetry},
		{"a refused connection is a retry", &url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, ClassRetry},
		{"a reset connection is a retry", &url.Error{Op: "Post", URL: "u", Err: syscall.ECONNRESET}, ClassRetry},
		{"an answer cut short is a retry", &url.Error{Op: "Post", URL: "u", Err: io.ErrUnexpectedEOF}, ClassRetry},
		{"missing credentials are an auth failure", fmt.Errorf("load: %w", ErrNoCredentials), ClassAuth},
		{"an unusable IAM answer is an auth failure", fmt.Errorf("token: %w", errCredentials), ClassAuth},
		{"an IAM 401 is an auth failure", fmt.Errorf("fetch IAM token: %w", &APIError{StatusCode: 401, ErrorCode: "401"}), ClassAuth},
		{"an unknown error is retried, not dead-lettered", errors.New("something odd"), ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Fatalf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestParseAPIError(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   APIError
	}{
		{"an HSS error", nil, `{"error_code":"HSS.0001","error_msg":"Invalid parameter."}`,
			APIError{ErrorCode: "HSS.0001", ErrorMsg: "Invalid parameter."}},
		{"a gateway throttle keeps its code and its request id from the body", nil,
			`{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:5,time:1 minute","error_code":"APIGW.0308","request_id":"r-1"}`,
			APIError{ErrorCode: "APIGW.0308", ErrorMsg: "The throttling threshold has been reached: policy user over ratelimit,limit:5,time:1 minute", RequestID: "r-1"}},
		{"the X-Request-Id header wins over the body", http.Header{"X-Request-Id": {"h-1"}}, `{"error_code":"APIG.0301","error_msg":"m","request_id":"b-1"}`,
			APIError{ErrorCode: "APIG.0301", ErrorMsg: "m", RequestID: "h-1"}},
		{"a nested error object", nil, `{"error":{"error_code":"SVC.0100","error_msg":"nested"}}`,
			APIError{ErrorCode: "SVC.0100", ErrorMsg: "nested"}},
		{"IAM's Keystone shape with a numeric code", nil, `{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}`,
			APIError{ErrorCode: "401", ErrorMsg: "The username or password is wrong."}},
		{"a numeric error_code at the top", nil, `{"error_code":5010,"error_msg":"busy"}`,
			APIError{ErrorCode: "5010", ErrorMsg: "busy"}},
		{"code and message", nil, `{"code":"CCE.01","message":"m"}`, APIError{ErrorCode: "CCE.01", ErrorMsg: "m"}},
		{"the error key is preferred over other objects", nil, `{"a":{"code":"A","message":"a"},"error":{"code":"E","message":"e"}}`,
			APIError{ErrorCode: "E", ErrorMsg: "e"}},
		{"an HTML page from a proxy becomes the message", nil, "<html><body>502 Bad Gateway</body></html>\n",
			APIError{ErrorMsg: "<html><body>502 Bad Gateway</body></html>"}},
		{"an empty body gives an empty message", nil, "", APIError{}},
		{"JSON without an error gives the raw body", nil, `{"ok":false}`, APIError{ErrorMsg: `{"ok":false}`}},
		{"a long body is cut", nil, long, APIError{ErrorMsg: long[:maxErrorMsg] + "..."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			got := parseAPIError(418, h, []byte(tt.body))
			tt.want.StatusCode = 418
			if *got != tt.want {
				t.Fatalf("parseAPIError =\n%+v\nwant\n%+v", *got, tt.want)
			}
		})
	}
}

func TestAPIErrorText(t *testing.T) {
	e := &APIError{StatusCode: 429, ErrorCode: "APIGW.0308", ErrorMsg: "throttled", RequestID: "r-1"}
	if got, want := e.Error(), "status 429 APIGW.0308: throttled (request id r-1)"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func FuzzParseAPIError(f *testing.F) {
	for _, seed := range []string{
		`{"error_code":"HSS.0001","error_msg":"Invalid parameter.","request_id":"x"}`,
		`{"error":{"code":401,"message":"m"}}`,
		`{"error_code":1.5e300,"error_msg":null}`,
		`{"a":{"b":{"c":{"d":{"error_code":"deep","error_msg":"m"}}}}}`,
		`[1,2,3]`, `null`, `"just a string"`, "\xff\xfe", "",
	} {
		f.Add(seed, "req-1")
	}
	f.Fuzz(func(t *testing.T, body, requestID string) {
		h := http.Header{}
		if requestID != "" {
			h.Set("X-Request-Id", requestID)
		}
		e := parseAPIError(503, h, []byte(body))
		if e.StatusCode != 503 || Classify(e) != ClassRetry {
			t.Fatalf("status or class changed: %+v", e)
		}
		if len(e.ErrorMsg) > maxErrorMsg+3 || len(e.ErrorCode) > min(len(body), maxErrorCode+3) {
			t.Fatalf("fields larger than the input allows: %d, %d", len(e.ErrorMsg), len(e.ErrorCode))
		}
		if utf8.ValidString(body) && !utf8.ValidString(e.ErrorMsg) {
			t.Fatalf("a valid body gave an invalid message %q", e.ErrorMsg)
		}
		if h.Get("X-Request-Id") != "" && e.RequestID != h.Get("X-Request-Id") {
			t.Fatalf("RequestID = %q, want the header's %q", e.RequestID, h.Get("X-Request-Id"))
		}
		_ = e.Error()
	})
}

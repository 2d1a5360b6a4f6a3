package hssclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// APIError is a non-2xx answer of HSS, of the API gateway in front of it,
// or of IAM when fetching a token. The queue copies its fields into the
// dead-letter record.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// ErrorCode is the service's code: HSS.0001, APIG.0301, APIGW.0308, or
	// an IAM code. Empty when the body carried none.
	ErrorCode string
	// ErrorMsg is the service's message, or the start of the raw body when
	// the body was not a recognised error document.
	ErrorMsg string
	// RequestID is X-Request-Id, or the body's request_id when the header
	// is missing: quote it to Huawei support.
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("status ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.ErrorCode != "" {
		b.WriteString(" ")
		b.WriteString(e.ErrorCode)
	}
	if e.ErrorMsg != "" {
		b.WriteString(": ")
		b.WriteString(e.ErrorMsg)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// maxErrorMsg bounds ErrorMsg taken from a raw body, so a gateway's HTML
// page does not end up whole in logs and dead-letter records.
const (
	maxErrorMsg  = 512
	maxErrorCode = 128
)

// parseAPIError builds the APIError of a non-2xx answer. It understands the
// shapes Huawei services answer with, as the SDK's sdkerr package does
// (core/sdkerr/errors.go), and a little more:
//
//   - {"error_code":"HSS.0001","error_msg":"...","request_id":"..."} (HSS, APIG);
//   - {"code":"...","message":"..."};
//   - the same nested one level or more, e.g. {"error":{"code":401,"message":..}}
//     (IAM, Keystone style); the "error" key is tried first, then the
//     others in sorted order, so the answer does not depend on map order;
//   - numeric codes (401, 5010), which the SDK drops;
//   - anything else: ErrorMsg is the start of the body.
func parseAPIError(status int, header http.Header, body []byte) *APIError {
	e := &APIError{StatusCode: status, RequestID: header.Get("X-Request-Id")}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil && doc != nil {
		if code, msg, reqID, ok := findError(doc, 0); ok {
			e.ErrorCode, e.ErrorMsg = code, msg
			if e.RequestID == "" {
				e.RequestID = reqID
			}
			return e
		}
	}
	e.ErrorMsg = truncate(strings.TrimSpace(string(body)), maxErrorMsg)
	return e
}

// findError looks for a code/message pair in doc and, failing that, in
// the objects it holds, to a small depth.
func findError(doc map[string]any, depth int) (code, msg, reqID string, ok bool) {
	reqID = scalar(doc["request_id"])
	for _, keys := range [][2]string{{"error_code", "error_msg"}, {"code", "message"}} {
		c, m := scalar(doc[keys[0]]), scalar(doc[keys[1]])
		if c != "" || m != "" {
			return truncate(c, maxErrorCode), truncate(m, maxErrorMsg), truncate(reqID, maxErrorCode), true
		}
	}
	if depth >= 3 {
		return "", "", "", false
	}
	keys := make([]string, 0, len(doc))
	for k, v := range doc {
		if _, isObj := v.(map[string]any); isObj && k != "error" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if _, isObj := doc["error"].(map[string]any); isObj {
		keys = append([]string{"error"}, keys...)
	}
	for _, k := range keys {
		if c, m, r, found := findError(doc[k].(map[string]any), depth+1); found {
			if r == "" {
				r = reqID
			}
			return c, m, r, true
		}
	}
	return "", "", "", false
}

// scalar renders a JSON string or number; other types give "".
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		// 'g' keeps codes like 401 and 5010 as written and a 300-digit
		// number short.
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) { // do not cut a character in two
		s = s[:len(s)-1]
	}
	return s + "..."
}

// Class says what the caller should do with the images of a failed call.
type Class int

const (
	// ClassOK: HSS accepted the request.
	ClassOK Class = iota
	// ClassRetry: a passing condition (throttling, a server or gateway
	// fault, a timeout, a broken connection, a cancelled call). Send the
	// same images again later.
	ClassRetry
	// ClassAuth: the account, not the images, was refused: credentials,
	// token, permission or scan quota. Retrying cannot help until an
	// operator acts, but the images are not at fault and must not be
	// dead-lettered: keep them and alert.
	ClassAuth
	// ClassPermanent: the request is wrong (HSS "blames the request"):
	// the same bytes will be refused again. Isolate the image at fault.
	ClassPermanent
)

func (c Class) String() string {
	switch c {
	case ClassOK:
		return "ok"
	case ClassRetry:
		return "retry"
	case ClassAuth:
		return "auth"
	case ClassPermanent:
		return "permanent"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// accountCodes are HSS business errors that come back as 400 but refuse
// the account rather than the request (HSS error codes,
// https://support.huaweicloud.com/intl/en-us/api-hss2.0/ErrorCode.html):
// dead-lettering every image of the batch would be wrong.
var accountCodes = map[string]bool{
	"HSS.0010": true, // Access denied.
	"HSS.0013": true, // Insufficient permissions.
	"HSS.1002": true, // Available quotas are insufficient.
}

// Classify is the one place that maps an outcome of BatchScan to what the
// caller does with its images, in the manner of Alertmanager's
// notify.Retrier: 2xx ok; 408, 429 and 5xx retry; 401 and 403 auth; other
// 4xx permanent. Errors without a status: request validation → permanent;
// context cancellation or deadline, network and transport errors → retry.
// Anything unknown is retried rather than dead-lettered: losing a scan is
// worse than repeating one.
func Classify(err error) Class {
	if err == nil {
		return ClassOK
	}
	if errors.Is(err, ErrInvalidRequest) {
		return ClassPermanent
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return classOfAPIError(ae)
	}
	var re *ResultError
	if errors.As(err, &re) {
		// A 200 reporting a failure without saying whose: try again.
		return ClassRetry
	}
	if errors.Is(err, ErrNoCredentials) || errors.Is(err, errCredentials) {
		return ClassAuth
	}
	// Context cancellation and deadlines, *url.Error, net.Error and
	// everything else.
	return ClassRetry
}

// errCredentials marks local credential failures (an unusable token
// answer from IAM, for instance) so Classify puts them in ClassAuth.
var errCredentials = errors.New("credentials")

func classOfAPIError(e *APIError) Class {
	s := e.StatusCode
	switch {
	case s >= 200 && s < 300:
		return ClassOK
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return ClassAuth
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return ClassRetry
	case s >= 400:
		if accountCodes[e.ErrorCode] {
			return ClassAuth
		}
		return ClassPermanent
	default:
		// 1xx and 3xx (redirects are not followed): the endpoint is
		// misconfigured or misbehaving; no image is at fault.
		return ClassRetry
	}
}

// IsNotFound reports whether err holds HSS's 400 HSS.0011 "Requested
// resource not found.": for a scan, possibly an image HSS does not know
// (yet). Classify puts it in ClassPermanent, like every other 400; a
// caller that can sync and retry checks this first.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest && ae.ErrorCode == "HSS.0011"
}

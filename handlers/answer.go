package handlers

import (
	"encoding/json"
	"sync"

	"github.com/labstack/echo/v4"
)

// Answer is the JSON body of every webhook response, so a registry's
// delivery log shows what the bridge made of the event.
type Answer struct {
	// Status is accepted, ignored or error.
	Status    string `json:"status"`
	Receiver  string `json:"receiver,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Reason says why nothing was stored (ignored) or what was wrong (error).
	Reason string `json:"reason,omitempty"`
	// Errors lists each invalid field of each refused job.
	Errors  []string     `json:"errors,omitempty"`
	Jobs    []JobAnswer  `json:"jobs,omitempty"`
	Skipped []SkipAnswer `json:"skipped,omitempty"`
}

// JobAnswer is one stored job.
type JobAnswer struct {
	ID    string `json:"id"`
	Image string `json:"image"`
	// Duplicate is true when the queue already held this job (a retried
	// delivery): nothing new was stored and nothing was lost.
	Duplicate bool `json:"duplicate,omitempty"`
}

// SkipAnswer is one event that did not become a job, and why.
type SkipAnswer struct {
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason"`
}

// appendJSON appends a as encoding/json's Encoder writes it (HTML-safe
// escaping, a newline at the end), byte for byte, without reflection: the
// answer is written on every request (FuzzAppendAnswer holds the two
// equal).
func (a *Answer) appendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = appendJSONString(b, a.Status)
	if a.Receiver != "" {
		b = append(b, `,"receiver":`...)
		b = appendJSONString(b, a.Receiver)
	}
	if a.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, a.RequestID)
	}
	if a.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, a.Reason)
	}
	if len(a.Errors) > 0 {
		b = append(b, `,"errors":[`...)
		for i, e := range a.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e)
		}
		b = append(b, ']')
	}
	if len(a.Jobs) > 0 {
		b = append(b, `,"jobs":[`...)
		for i, j := range a.Jobs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendJSONString(b, j.ID)
			b = append(b, `,"image":`...)
			b = appendJSONString(b, j.Image)
			if j.Duplicate {
				b = append(b, `,"duplicate":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(a.Skipped) > 0 {
		b = append(b, `,"skipped":[`...)
		for i, s := range a.Skipped {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if s.Ref != "" {
				b = append(b, `"ref":`...)
				b = appendJSONString(b, s.Ref)
				b = append(b, ',')
			}
			b = append(b, `"reason":`...)
			b = appendJSONString(b, s.Reason)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string. Strings of printable ASCII
// other than the characters encoding/json escapes (", \ and, HTML-safe,
// <, > and &) are copied as they are, which is every id, image reference
// and reason the bridge writes; anything else goes through encoding/json,
// so the escaping is always its own.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// answers are the buffers answers are encoded into; the response writer
// copies them before writeAnswer returns.
var answers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// jsonContentType is the Content-Type of every answer, shared: net/http
// only reads a header's values.
var jsonContentType = []string{echo.MIMEApplicationJSON}

// writeAnswer writes a with status, as c.JSON would.
func writeAnswer(c echo.Context, status int, a *Answer) error {
	buf := answers.Get().(*[]byte)
	*buf = a.appendJSON((*buf)[:0])
	defer func() {
		if cap(*buf) <= 64<<10 { // an answer of max_jobs lines is not kept
			answers.Put(buf)
		}
	}()
	res := c.Response()
	if _, ok := res.Header()[echo.HeaderContentType]; !ok {
		res.Header()[echo.HeaderContentType] = jsonContentType
	}
	res.WriteHeader(status)
	_, err := res.Write(*buf)
	return err
}

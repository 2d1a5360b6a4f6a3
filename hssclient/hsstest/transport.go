package hsstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
)

// Transport returns an http.RoundTripper that hands requests to the fake
// in process, without a socket: for the bridge's in-process simulator and
// for tests under testing/synctest, where a loopback socket would leave
// the bubble. The client's endpoints may name any host.
func (f *Fake) Transport() http.RoundTripper { return transport{f} }

type transport struct{ f *Fake }

func (t transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("hsstest transport: read body: %w", err)
		}
	}
	sreq := req.Clone(req.Context())
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.ContentLength = int64(len(body))
	sreq.RequestURI = req.URL.RequestURI()
	sreq.Host = req.URL.Host
	if req.Host != "" {
		sreq.Host = req.Host
	}
	sreq.RemoteAddr = "127.0.0.1:1"

	rec := httptest.NewRecorder()
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok && errors.Is(e, errAbortReset) {
				resp, err = nil, fmt.Errorf("hsstest transport: %w", syscall.ECONNRESET)
				return
			}
			panic(p)
		}
	}()
	t.f.ServeHTTP(rec, sreq)
	if err := req.Context().Err(); err != nil {
		// As a socket would: the caller has gone, whatever was answered.
		return nil, fmt.Errorf("hsstest transport: %w", err)
	}
	resp = rec.Result()
	resp.Request = req
	return resp, nil
}

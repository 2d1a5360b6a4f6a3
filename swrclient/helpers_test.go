package swrclient

import (
	"io"
	"net/http"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func ioNopCloser(r io.Reader) io.ReadCloser { return io.NopCloser(r) }

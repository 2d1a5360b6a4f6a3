package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"

	"github.com/labstack/echo/v4"
)

// safeRequestID is what a sender's request id must look like to be kept:
// short, and made of characters that need no escaping in a log line, a
// JSON answer or a header. Registries and proxies send UUIDs, hex or
// base64url ids, which all fit; anything else (a megabyte of text, a
// newline, markup) is replaced, since the id is echoed in every answer and
// written on every log line about the request. isSafeRequestID is the
// same check without the regexp engine, for the hot path; the tests hold
// the two equal.
var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// isSafeRequestID reports whether id matches safeRequestID.
func isSafeRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestID keeps the sender's X-Request-Id when it is safe
// (isSafeRequestID) and otherwise drops it and makes one (newRequestID),
// and sets the id on the answer, as Echo's request id middleware does. It is
// written here rather than wrapped around Echo's because Echo applies
// e.Use middleware on every request: each layer is a closure allocated per
// request, and Echo's id is built through a pooled reader byte by byte.
func requestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			hdr := c.Request().Header
			id := hdr.Get(echo.HeaderXRequestID)
			if !isSafeRequestID(id) {
				if id != "" {
					delete(hdr, echo.HeaderXRequestID) // nothing after this reads the unsafe id
				}
				id = newRequestID()
			}
			c.Response().Header()[echo.HeaderXRequestID] = []string{id}
			return next(c)
		}
	}
}

// newRequestID returns 32 random base64url characters (192 bits from
// crypto/rand): unique without coordination between replicas, and safe.
func newRequestID() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read's documentation)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// keptRequestID returns the first candidate that matches safeRequestID,
// or generated when none does.
func keptRequestID(generated string, candidates ...string) string {
	for _, id := range candidates {
		if isSafeRequestID(id) {
			return id
		}
	}
	return generated
}

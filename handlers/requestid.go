package handlers

import (
	"regexp"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// safeRequestID is what a sender's request id must look like to be kept:
// short, and made of characters that need no escaping in a log line, a
// JSON answer or a header. Registries and proxies send UUIDs, hex or
// base64url ids, which all fit; anything else (a megabyte of text, a
// newline, markup) is replaced, since the id is echoed in every answer and
// written on every log line about the request.
var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestID is Echo's request id middleware (which keeps the sender's
// X-Request-Id when there is one, and generates one otherwise), with the
// sender's id dropped first unless it matches safeRequestID.
func requestID() echo.MiddlewareFunc {
	inner := middleware.RequestIDWithConfig(middleware.RequestIDConfig{})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := inner(next)
		return func(c echo.Context) error {
			hdr := c.Request().Header
			if id := hdr.Get(echo.HeaderXRequestID); id != "" && !safeRequestID.MatchString(id) {
				hdr.Del(echo.HeaderXRequestID)
			}
			return h(c)
		}
	}
}

// keptRequestID returns the first candidate that matches safeRequestID,
// or generated when none does.
func keptRequestID(generated string, candidates ...string) string {
	for _, id := range candidates {
		if safeRequestID.MatchString(id) {
			return id
		}
	}
	return generated
}

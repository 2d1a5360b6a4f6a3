package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// Images is what the admin API needs of the image lifecycle store.
// *lifecycle.Store implements it. Safe for concurrent use.
type Images interface {
	// List returns the records f selects, at most f.Limit.
	List(ctx context.Context, f lifecycle.Filter) ([]lifecycle.Record, error)
	// Pending returns the records in progress, oldest first, at most limit.
	Pending(ctx context.Context, limit int) ([]lifecycle.Record, error)
}

// ImagesAnswer is the body of GET /api/v1/images and
// GET /api/v1/images/pending.
type ImagesAnswer struct {
	Count int `json:"count"`
	// LimitReached: there may be more; narrow the filter or raise limit.
	LimitReached bool               `json:"limit_reached"`
	Images       []lifecycle.Record `json:"images"`
}

// imageQuery reads the query of the image routes: only the names in
// known, each at most once, the state one of lifecycle.States, the limit
// 1 to maxLimit (default defaultListLimit).
func imageQuery(q url.Values, known ...string) (lifecycle.Filter, error) {
	f := lifecycle.Filter{Limit: defaultListLimit}
	for name, vals := range q {
		if len(vals) != 1 {
			return f, fmt.Errorf("query parameter %s given %d times", name, len(vals))
		}
		if !contains(known, name) {
			return f, fmt.Errorf("unknown query parameter %q (known: %s)", name, strings.Join(known, ", "))
		}
		v := vals[0]
		switch name {
		case "namespace":
			f.Namespace = v
		case "image":
			f.Image = v
		case "tag":
			f.Tag = v
		case "state":
			f.State = lifecycle.State(v)
			if !f.State.Valid() {
				return f, fmt.Errorf("state %q: want one of %s", v, stateNames())
			}
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxLimit {
				return f, fmt.Errorf("limit %q: want 1 to %d per request (repeat the request with a narrower filter for more)", v, maxLimit)
			}
			f.Limit = n
		}
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func stateNames() string {
	names := make([]string, len(lifecycle.States))
	for i, s := range lifecycle.States {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func imagesAnswer(recs []lifecycle.Record, limit int) ImagesAnswer {
	if recs == nil {
		recs = []lifecycle.Record{}
	}
	return ImagesAnswer{Count: len(recs), LimitReached: len(recs) == limit, Images: recs}
}

func (a *api) listImages(c echo.Context, reqID string) reply {
	f, err := imageQuery(c.QueryParams(), "namespace", "image", "tag", "state", "limit")
	if err != nil {
		return badRequest(reqID, err)
	}
	recs, err := a.images.List(c.Request().Context(), f)
	if err != nil {
		return a.imagesError(reqID, "list images", err)
	}
	return reply{http.StatusOK, imagesAnswer(recs, f.Limit), outcomeOK}
}

func (a *api) pendingImages(c echo.Context, reqID string) reply {
	f, err := imageQuery(c.QueryParams(), "limit")
	if err != nil {
		return badRequest(reqID, err)
	}
	recs, err := a.images.Pending(c.Request().Context(), f.Limit)
	if err != nil {
		return a.imagesError(reqID, "list pending images", err)
	}
	return reply{http.StatusOK, imagesAnswer(recs, f.Limit), outcomeOK}
}

// imagesError answers a store failure: 503 when the store did not answer
// in time (NATS down or slow: retry), 500 otherwise.
func (a *api) imagesError(reqID, what string, err error) reply {
	a.log.Error(what, "request_id", reqID, "error", err)
	status := http.StatusInternalServerError
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
	}
	return reply{status, ErrorAnswer{Error: what + ": " + err.Error(), RequestID: reqID}, outcomeError}
}

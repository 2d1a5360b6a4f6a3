package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scan-bridge/scan-bridge/queue"
)

// maxBody bounds a filter body: a few short fields.
const maxBody = 64 << 10

// filterRequest is the filter of every admin request, from the query
// string or (redrive, purge) a JSON body.
type filterRequest struct {
	Namespace string `json:"namespace"`
	ErrorCode string `json:"error_code"`
	Reason    string `json:"reason"`
	// OlderThan is a Go duration ("72h", "90m").
	OlderThan string `json:"older_than"`
	Limit     *int   `json:"limit"`
	// DryRun defaults to true: only an explicit false acts.
	DryRun *bool `json:"dry_run"`
}

// parseFilter reads the filter from the query or, when withBody, from a
// JSON body; not both, so a request never means two things. Unknown names
// are refused rather than ignored: a misspelt namespace would otherwise
// widen a redrive or purge to every record.
func parseFilter(c echo.Context, withBody bool) (filterRequest, error) {
	var req filterRequest
	query := c.QueryParams()
	var body []byte
	if withBody {
		b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBody+1))
		if err != nil {
			return req, fmt.Errorf("read body: %w", err)
		}
		if len(b) > maxBody {
			return req, fmt.Errorf("body is over %d bytes", maxBody)
		}
		body = bytes.TrimSpace(b)
	}
	if len(body) > 0 {
		if len(query) > 0 {
			return req, errors.New("give the filter in the JSON body or in the query, not both")
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, fmt.Errorf("body: %w", err)
		}
		if dec.More() {
			return req, errors.New("body: one JSON object expected")
		}
		return req, nil
	}
	return req, filterFromQuery(query, withBody, &req)
}

func filterFromQuery(q url.Values, withDryRun bool, req *filterRequest) error {
	for name, vals := range q {
		if len(vals) != 1 {
			return fmt.Errorf("query parameter %s given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "namespace":
			req.Namespace = v
		case "error_code":
			req.ErrorCode = v
		case "reason":
			req.Reason = v
		case "older_than":
			req.OlderThan = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("limit %q: want an integer", v)
			}
			req.Limit = &n
		case "dry_run":
			if !withDryRun {
				return errors.New("dry_run: listing changes nothing")
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("dry_run %q: want true or false", v)
			}
			req.DryRun = &b
		default:
			known := "namespace, error_code, reason, older_than, limit"
			if withDryRun {
				known += ", dry_run"
			}
			return fmt.Errorf("unknown query parameter %q (known: %s)", name, known)
		}
	}
	return nil
}

// filter checks the request and makes the queue filter; limit defaults to
// def and may not exceed maxLimit.
func (r filterRequest) filter(def int) (queue.Filter, error) {
	f := queue.Filter{Namespace: r.Namespace, ErrorCode: r.ErrorCode, Reason: r.Reason, Limit: def}
	if r.OlderThan != "" {
		d, err := time.ParseDuration(r.OlderThan)
		if err != nil || d < 0 {
			return f, fmt.Errorf("older_than %q: want a positive duration such as 72h", r.OlderThan)
		}
		f.OlderThan = d
	}
	if r.Limit != nil {
		if *r.Limit < 1 || *r.Limit > maxLimit {
			return f, fmt.Errorf("limit %d: want 1 to %d per request (repeat the request for more)", *r.Limit, maxLimit)
		}
		f.Limit = *r.Limit
	}
	return f, nil
}

func (r filterRequest) dryRun() bool { return r.DryRun == nil || *r.DryRun }

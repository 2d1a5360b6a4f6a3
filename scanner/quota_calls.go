package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// CallRecord is one finished HSS call, for Quota.Record: what it asked for
// and how it ended.
type CallRecord struct {
	API API
	// Target is the HSS project the call went to (hssclient.Target's
	// String form).
	Target string
	// Images is how many images the call was about: asked to scan, or
	// looked up (0 for a list poll over a time window).
	Images int
	// Rows is how many rows a list call returned (0 otherwise).
	Rows int
	// JobIDs are the ids of the jobs the call served, at most a few
	// dozen are logged.
	JobIDs []string
	// RequestID is HSS's X-Request-Id when the call succeeded and the
	// client read it; a failure's comes from its *hssclient.APIError.
	RequestID string
	// Err is the call's error, nil when HSS accepted it.
	Err      error
	Duration time.Duration
}

// maxLoggedJobIDs bounds the job ids one log line carries.
const maxLoggedJobIDs = 20

// Record reports a finished call of api made under a permit of q: the
// rate feedback (a 429 cuts the API's rate, a success lets it climb) and
// one INFO line naming the API, the images, HSS's request id, the result
// and the job ids. The counter and the authentication health learn of the
// call from hssclient's Observer (HSS's metrics).
func (q *Quota) Record(ctx context.Context, c CallRecord) {
	class := hssclient.Classify(c.Err)
	status, reqID := 0, c.RequestID
	var ae *hssclient.APIError
	if errors.As(c.Err, &ae) {
		status, reqID = ae.StatusCode, ae.RequestID
	} else if c.Err == nil {
		status = http.StatusOK
	}
	throttled := status == http.StatusTooManyRequests
	if c.Err == nil || throttled {
		q.Feedback(ctx, c.API, throttled)
	}
	logCall(ctx, q.log, c, callResult(class, status), status, reqID)
}

// logCall writes the one INFO line of an HSS call.
func logCall(ctx context.Context, log *slog.Logger, c CallRecord, res string, status int, reqID string) {
	ids := c.JobIDs
	if len(ids) > maxLoggedJobIDs {
		ids = ids[:maxLoggedJobIDs]
	}
	attrs := []any{"api", string(c.API), "target", c.Target, "images", c.Images, "request_id", reqID,
		"result", res, "status", status, "duration_ms", c.Duration.Milliseconds()}
	if c.API == APISwrRepository || c.Rows > 0 {
		attrs = append(attrs, "rows", c.Rows)
	}
	if len(ids) > 0 {
		attrs = append(attrs, "job_ids", ids, "jobs", len(c.JobIDs))
	}
	if c.Err != nil {
		attrs = append(attrs, "error", c.Err.Error())
	}
	log.InfoContext(ctx, "hss call", attrs...)
}

// callResult is the result label: ok, throttled (429), auth (credentials,
// permission or account), rejected (the request is wrong) or failed (a
// passing fault: 5xx, timeout, network).
func callResult(class hssclient.Class, status int) string {
	switch {
	case class == hssclient.ClassOK:
		return "ok"
	case status == http.StatusTooManyRequests:
		return "throttled"
	case class == hssclient.ClassAuth:
		return "auth"
	case class == hssclient.ClassPermanent:
		return "rejected"
	}
	return "failed"
}

// AuthHealth is what /readyz says about HSS: not ready from the moment HSS
// refuses the bridge's account (401, 403, HSS.0010 access denied, HSS.0013
// insufficient permissions, HSS.1002 no scan quota left, or credentials
// that cannot be used at all: hssclient.ClassAuth) until a later call of
// any API succeeds. Without it a wrong secret key shows as accepted
// webhooks and a green /readyz while every job waits. Passing failures
// (5xx, 429, timeouts) and refused requests do not change it.
type AuthHealth struct {
	mu  sync.Mutex
	err error
}

// Ready implements handlers.Checker.
func (a *AuthHealth) Ready(context.Context) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// observe takes one call's outcome.
func (a *AuthHealth) observe(api API, class hssclient.Class, status int) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch class {
	case hssclient.ClassOK:
		a.err = nil
	case hssclient.ClassAuth:
		what := "no usable credentials"
		if status != 0 {
			what = fmt.Sprintf("answered %d", status)
		}
		a.err = fmt.Errorf("hss refuses the bridge's account: %s %s; check hss.auth and its credentials, "+
			"the IAM user's HSS permissions and the HSS quota (scanbridge_hss_calls_total{result=\"auth\"}, the log's hss call lines)", api, what)
	}
}

// apiOf maps hssclient's operation names to the quota's APIs.
func apiOf(op string) API {
	switch op {
	case hssclient.APIListSwrImageRepository:
		return APISwrRepository
	case hssclient.APIRunImageSynchronize:
		return APISynchronize
	case hssclient.APICreateManualImageScanTask:
		return APIScanTasks
	case hssclient.APIListImageScanTask:
		return APITasks
	case hssclient.APICreateImageSynchronizeTask:
		return APISyncTasks
	case hssclient.APIListRegistryImages:
		return APIRegistryImages
	}
	return APIBatchScan
}

// gateCall is how the presence gate's list and sync calls are made: under
// the quota at push priority, logged with the waiting jobs ctx names.
func (h *HSS) gateCall(ctx context.Context) Call {
	jobs := waitingOf(ctx)
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID()
	}
	return Call{Quota: h.quota(), Priority: PriorityPush, Images: len(jobs), JobIDs: ids, Log: true}
}

type waitingKey struct{}

// withWaiting returns ctx naming the jobs a presence check or sync is made
// for, for its log line.
func withWaiting(ctx context.Context, jobs []scanjob.Job) context.Context {
	return context.WithValue(ctx, waitingKey{}, jobs)
}

func waitingOf(ctx context.Context) []scanjob.Job {
	jobs, _ := ctx.Value(waitingKey{}).([]scanjob.Job)
	return jobs
}

package hsstest

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Fault changes how the fake answers requests that passed every check
// (authentication, throttling, validation), so a fault never hides a
// wrong request. Without Status or Reset it only delays or holds the
// request, which is then accepted.
type Fault struct {
	// Times is how many matching requests the fault applies to; 0 means
	// no limit.
	Times int
	// Until ends the fault at that time of the fake's clock; zero means
	// no end.
	Until time.Time
	// Match selects requests (see ContainsImage); nil matches all.
	Match func(Request) bool
	// APIs are the operations the fault applies to (API* constants);
	// empty means batch-scan only, as before the fake served other APIs.
	APIs []string

	// Status answers with this status and an error body of ErrorCode and
	// ErrorMsg (defaults per status: 400 HSS.0001, 401 APIG.0301, 429
	// APIGW.0308 with the gateway's message, 5xx APIG.0201).
	Status    int
	ErrorCode string
	ErrorMsg  string
	// Reset drops the connection without an answer (a TCP reset on a
	// server; a connection-reset error from Transport).
	Reset bool
	// Delay waits before answering (the fake's outage latency).
	Delay time.Duration
	// Hold waits until the channel is closed before answering: tests use
	// it to keep calls in flight.
	Hold <-chan struct{}
}

type faultEntry struct {
	Fault
	used int
}

// Inject adds a fault, checked after the faults added before it. The
// returned function removes it.
func (f *Fake) Inject(fault Fault) (remove func()) {
	e := &faultEntry{Fault: fault}
	f.mu.Lock()
	f.faults = append(f.faults, e)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, x := range f.faults {
			if x == e {
				f.faults = append(f.faults[:i], f.faults[i+1:]...)
				return
			}
		}
	}
}

// FailNext answers the next n requests with status and code.
func (f *Fake) FailNext(n, status int, code string) (remove func()) {
	return f.Inject(Fault{Times: n, Status: status, ErrorCode: code})
}

// ContainsImage matches requests whose image_info_list holds the image.
func ContainsImage(namespace, name, version string) func(Request) bool {
	return func(r Request) bool {
		for _, it := range r.items() {
			if it.Namespace == namespace && it.ImageName == name && it.ImageVersion == version {
				return true
			}
		}
		return false
	}
}

// RefuseImage answers 400 HSS.0001 to every batch holding the image, as
// HSS answers a batch with one bad item: the whole batch is refused.
func (f *Fake) RefuseImage(namespace, name, version string) (remove func()) {
	return f.Inject(Fault{
		Match: ContainsImage(namespace, name, version), Status: http.StatusBadRequest,
		ErrorCode: "HSS.0001", ErrorMsg: "Invalid parameter.",
	})
}

func (e *faultEntry) appliesTo(api string) bool {
	if len(e.APIs) == 0 {
		return api == APIBatchScan
	}
	return slices.Contains(e.APIs, api)
}

// applyFault applies the first active fault matching req; it reports
// whether the request was answered.
func (f *Fake) applyFault(w http.ResponseWriter, r *http.Request, req Request) bool {
	f.mu.Lock()
	var fault *Fault
	kept := f.faults[:0]
	for _, e := range f.faults {
		expired := (e.Times > 0 && e.used >= e.Times) || (!e.Until.IsZero() && !req.Time.Before(e.Until))
		if expired {
			continue
		}
		kept = append(kept, e)
		if fault == nil && e.appliesTo(req.API) && (e.Match == nil || e.Match(req)) {
			e.used++
			fault = &e.Fault
		}
	}
	f.faults = kept
	f.mu.Unlock()
	if fault == nil {
		return false
	}

	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-f.done:
		}
		t.Stop()
	}
	if fault.Hold != nil {
		select {
		case <-fault.Hold:
		case <-r.Context().Done():
		case <-f.done:
		}
	}
	select {
	case <-f.done:
		f.refuse(w, r, http.StatusServiceUnavailable, "APIG.0201", "Backend unavailable", "fake closed")
		return true
	case <-r.Context().Done():
		// The caller gave up during the delay: nothing is accepted.
		f.refuse(w, r, http.StatusServiceUnavailable, "APIG.0201", "Backend unavailable", "caller went away")
		return true
	default:
	}
	switch {
	case fault.Reset:
		f.mu.Lock()
		f.refusals = append(f.refusals, Refusal{Time: f.opts.Now(), Path: r.URL.Path, Reason: "injected connection reset"})
		f.mu.Unlock()
		resetConnection(w)
		return true
	case fault.Status != 0:
		code, msg := fault.ErrorCode, fault.ErrorMsg
		dcode, dmsg := defaultError(fault.Status, f.opts.CallsPerMinute)
		if code == "" {
			code = dcode
		}
		if msg == "" {
			msg = dmsg
		}
		f.refuse(w, r, fault.Status, code, msg, "injected fault")
		return true
	}
	return false
}

func defaultError(status, limit int) (code, msg string) {
	switch {
	case status == http.StatusBadRequest:
		return "HSS.0001", "Invalid parameter."
	case status == http.StatusUnauthorized:
		return "APIG.0301", "Incorrect IAM authentication information: token is not valid"
	case status == http.StatusTooManyRequests:
		if limit <= 0 {
			limit = 5
		}
		return "APIGW.0308", "The throttling threshold has been reached: policy user over ratelimit,limit:" +
			strconv.Itoa(limit) + ",time:1 minute"
	case status >= 500:
		return "APIG.0201", "Backend unavailable"
	}
	return "HSS.9999", http.StatusText(status)
}

// errAbortReset is the panic value the in-process Transport turns into a
// connection-reset error.
var errAbortReset = http.ErrAbortHandler

// resetConnection closes the client's TCP connection with RST (linger 0)
// when the handler runs on a real server, and otherwise aborts the handler
// so the in-process Transport reports a reset.
func resetConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(errAbortReset)
}

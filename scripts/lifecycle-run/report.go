package main

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

func target() hsstest.Target { return hsstest.Target{Region: region, ProjectID: projectID} }

// apiCalls counts one API's calls.
type apiCalls struct {
	Accepted  int `json:"accepted"`
	Throttled int `json:"throttled_429"`
	Refused   int `json:"refused_other"`
}

// dist summarises durations in seconds.
type dist struct {
	N   int     `json:"n"`
	Min float64 `json:"min_s"`
	P50 float64 `json:"p50_s"`
	P99 float64 `json:"p99_s"`
	Max float64 `json:"max_s"`
}

func distOf(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)].Seconds()
	}
	return dist{N: len(s), Min: s[0].Seconds(), P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1].Seconds()}
}

// scanCall is one accepted batch-scan call.
type scanCall struct {
	At     time.Time `json:"at"`
	Offset float64   `json:"offset_s"` // from the first push
	Images int       `json:"images"`
}

// imageResult is one image's raw numbers.
type imageResult struct {
	Ref          string   `json:"ref"`
	Late         bool     `json:"late,omitempty"`
	PushStatus   int      `json:"push_status"`
	PushTries    int      `json:"push_tries"`
	Type         string   `json:"result_type,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	ScanAttempts int      `json:"scan_attempts,omitempty"`
	PushToHSS    *float64 `json:"push_to_hss_s,omitempty"`
	PushToDone   *float64 `json:"push_to_finished_s,omitempty"`
	AcceptToDone *float64 `json:"accepted_to_finished_s,omitempty"`
}

// report is one scenario's figures.
type report struct {
	Name       string  `json:"name"`
	Title      string  `json:"title"`
	Images     int     `json:"images"`
	Namespaces int     `json:"namespaces_used"`
	Dist       string  `json:"distribution"`
	Late       int     `json:"late_images"`
	Pushed     int     `json:"pushes_accepted"`
	PushFailed int     `json:"pushes_refused"`
	PushRetry  int     `json:"push_retries"`
	PushSpan   float64 `json:"push_span_s"`

	Terminal int            `json:"terminal"`
	Lost     int            `json:"lost"`
	ByType   map[string]int `json:"results_by_type"`
	ByReason map[string]int `json:"given_up_by_reason,omitempty"`
	Dups     int            `json:"duplicate_events"`
	BadEvs   int            `json:"undecodable_events"`
	DoneAt   float64        `json:"all_done_s"` // from the first push to the last result

	CallsUntilDone map[string]apiCalls `json:"calls_until_done"`
	CallsTotal     map[string]apiCalls `json:"calls_total"`
	Throttled      int                 `json:"throttled_429_total"`
	ScanCalls      []scanCall          `json:"scan_calls"`
	ImagesPerScan  dist                `json:"-"`
	ScanCallSizes  [3]int              `json:"scan_call_images_min_median_max"`

	PushToScanned     dist `json:"push_to_scanned"`
	AcceptedToScanned dist `json:"accepted_to_finished_events"`
	PushToHSS         dist `json:"push_to_hss_request"`

	// Scenario C.
	FirstCallWaiting int     `json:"first_call_waiting,omitempty"`
	FirstCallImages  int     `json:"first_call_images,omitempty"`
	FirstCallShare   float64 `json:"first_call_share,omitempty"`
	Bound            float64 `json:"linger_plus_permit_s,omitempty"`
	// ListsBeforeScan are the list calls between the first push and the
	// first batch-scan: the presence check's pages.
	ListsBeforeScan int `json:"list_calls_before_first_scan,omitempty"`

	// States counts the bridge's lifecycle records by state at the end.
	States map[string]int `json:"lifecycle_states_at_end,omitempty"`

	PerImage      []imageResult `json:"per_image"`
	OK            bool          `json:"ok"`
	Problems      []string      `json:"problems,omitempty"`
	BridgeLogTail string        `json:"bridge_log_tail,omitempty"`
}

// lingerDefault is queue.consumer.linger's default (queue/config.go).
const lingerDefault = 5 * time.Second

func measure(o opts, sc scenario, e *env, imgs []*image, res *results, start time.Time) *report {
	evs, _, dups, bad := res.snapshot()
	calls := e.rec.snapshot()
	reqs := e.fake.Requests()
	r := &report{Name: sc.name, Title: sc.title, Images: len(imgs), Dist: sc.dist,
		ByType: map[string]int{}, ByReason: map[string]int{}, Dups: dups, BadEvs: bad,
		CallsUntilDone: map[string]apiCalls{}, CallsTotal: map[string]apiCalls{}}
	first := start
	if len(imgs) > 0 && !imgs[0].PushedAt.IsZero() {
		first = imgs[0].PushedAt
	}
	nss := map[string]bool{}
	var lastPush time.Time
	for _, im := range imgs {
		nss[im.Namespace] = true
		if im.Late {
			r.Late++
		}
		if im.Status/100 == 2 {
			r.Pushed++
		} else {
			r.PushFailed++
		}
		r.PushRetry += max(im.Tries-1, 0)
		if im.PushedAt.After(lastPush) {
			lastPush = im.PushedAt
		}
	}
	r.Namespaces = len(nss)
	r.PushSpan = lastPush.Sub(first).Seconds()

	// The first HSS request carrying each image.
	firstHSS := map[string]time.Time{}
	for _, q := range reqs {
		n := 0
		var list []hsstest.ImageInfo
		if q.Body.ImageInfoList != nil {
			list = *q.Body.ImageInfoList
		}
		for _, it := range list {
			ref := deref(it.Namespace) + "/" + deref(it.ImageName) + ":" + deref(it.ImageVersion)
			if _, ok := firstHSS[ref]; !ok {
				firstHSS[ref] = q.Time
			}
			n++
		}
		r.ScanCalls = append(r.ScanCalls, scanCall{At: q.Time, Offset: q.Time.Sub(first).Seconds(), Images: n})
	}
	if len(r.ScanCalls) > 0 {
		sizes := make([]int, len(r.ScanCalls))
		for i, c := range r.ScanCalls {
			sizes[i] = c.Images
		}
		slices.Sort(sizes)
		r.ScanCallSizes = [3]int{sizes[0], sizes[(len(sizes)-1)/2], sizes[len(sizes)-1]}
	}

	var toScanned, accToDone, toHSS []time.Duration
	doneAt := time.Time{}
	for _, im := range imgs {
		ir := imageResult{Ref: im.ref(), Late: im.Late, PushStatus: im.Status, PushTries: im.Tries}
		if t, ok := firstHSS[im.ref()]; ok && !im.PushedAt.IsZero() {
			d := t.Sub(im.PushedAt)
			toHSS = append(toHSS, d)
			ir.PushToHSS = secs(d)
		}
		ev, ok := evs[im.ref()]
		if ok {
			r.Terminal++
			d := ev.Event.Data
			r.ByType[ev.Event.Type]++
			if d.Reason != "" && ev.Event.Type != "scanbridge.image.scanned" {
				r.ByReason[d.Reason]++
			}
			ir.Type, ir.Reason, ir.ScanAttempts = ev.Event.Type, d.Reason, d.ScanAttempts
			if !d.FinishedAt.IsZero() {
				if d.FinishedAt.After(doneAt) {
					doneAt = d.FinishedAt
				}
				if ev.Event.Type == "scanbridge.image.scanned" {
					toScanned = append(toScanned, d.FinishedAt.Sub(im.PushedAt))
				}
				ir.PushToDone = secs(d.FinishedAt.Sub(im.PushedAt))
				if !d.AcceptedAt.IsZero() {
					accToDone = append(accToDone, d.FinishedAt.Sub(d.AcceptedAt))
					ir.AcceptToDone = secs(d.FinishedAt.Sub(d.AcceptedAt))
				}
			}
		} else if im.Status/100 == 2 {
			r.Lost++
		}
		r.PerImage = append(r.PerImage, ir)
	}
	if doneAt.IsZero() || r.Lost > 0 {
		// Not all done: the calls up to the end of the wait.
		doneAt = time.Now()
	}
	r.DoneAt = doneAt.Sub(first).Seconds()
	r.PushToScanned, r.AcceptedToScanned, r.PushToHSS = distOf(toScanned), distOf(accToDone), distOf(toHSS)

	for _, c := range calls {
		add := func(m map[string]apiCalls) {
			a := m[c.API]
			switch {
			case c.Status == http.StatusTooManyRequests:
				a.Throttled++
			case c.Status/100 == 2:
				a.Accepted++
			default:
				a.Refused++
			}
			m[c.API] = a
		}
		add(r.CallsTotal)
		if !c.At.After(doneAt) {
			add(r.CallsUntilDone)
		}
		if c.Status == http.StatusTooManyRequests {
			r.Throttled++
		}
	}

	if sc.preknown && len(reqs) > 0 {
		t1 := reqs[0].Time
		for _, im := range imgs {
			if im.Status/100 == 2 && !im.PushedAt.IsZero() && im.PushedAt.Before(t1) {
				r.FirstCallWaiting++
			}
		}
		r.FirstCallImages = r.ScanCalls[0].Images
		for _, c := range calls {
			if c.API == hsstest.APIListSwrImageRepository && !c.At.Before(first) && c.At.Before(t1) {
				r.ListsBeforeScan++
			}
		}
		if r.FirstCallWaiting > 0 {
			r.FirstCallShare = float64(r.FirstCallImages) / float64(r.FirstCallWaiting)
		}
		r.Bound = (lingerDefault + time.Minute/time.Duration(max(o.quota, 1))).Seconds()
	}

	if r.Lost > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d accepted images have no terminal result", r.Lost))
	}
	if r.PushFailed > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d pushes not accepted by the bridge", r.PushFailed))
	}
	if r.Throttled > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d calls answered 429", r.Throttled))
	}
	r.OK = len(r.Problems) == 0
	return r
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func secs(d time.Duration) *float64 { s := d.Seconds(); return &s }

// callSummary is "API accepted/429" for progress lines.
func callSummary(calls []call) string {
	m := map[string][2]int{}
	for _, c := range calls {
		v := m[c.API]
		if c.Status == http.StatusTooManyRequests {
			v[1]++
		} else {
			v[0]++
		}
		m[c.API] = v
	}
	var parts []string
	for api, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d (429: %d)", short(api), v[0], v[1]))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func short(api string) string {
	switch api {
	case hsstest.APIBatchScan:
		return "batch-scan"
	case hsstest.APIListSwrImageRepository:
		return "list"
	case hsstest.APIRunImageSynchronize:
		return "sync"
	}
	return api
}

// markdown is the scenario's table.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s\n\n| figure | value |\n|---|---|\n", r.Title)
	row := func(k, f string, a ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(f, a...)) }
	row("images pushed (accepted / refused, retries)", "%d (%d / %d, %d retries) over %d namespaces in %.1f s", r.Images, r.Pushed, r.PushFailed, r.PushRetry, r.Namespaces, r.PushSpan)
	if r.Late > 0 {
		row("late in SWR", "%d", r.Late)
	}
	row("terminal results / lost", "%d / %d (all done %.0f s after the first push)", r.Terminal, r.Lost, r.DoneAt)
	var types []string
	for t, n := range r.ByType {
		types = append(types, fmt.Sprintf("%s %d", strings.TrimPrefix(t, "scanbridge.image."), n))
	}
	sort.Strings(types)
	row("results by type", "%s", orNone(strings.Join(types, ", ")))
	if len(r.ByReason) > 0 {
		var rs []string
		for k, n := range r.ByReason {
			rs = append(rs, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(rs)
		row("reasons (not scanned)", "%s", strings.Join(rs, ", "))
	}
	apis := map[string]bool{}
	for a := range r.CallsTotal {
		apis[a] = true
	}
	var names []string
	for a := range apis {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		u, t := r.CallsUntilDone[a], r.CallsTotal[a]
		row("HSS calls until done: "+a, "%d accepted, %d 429, %d other refusals (whole run: %d / %d / %d)", u.Accepted, u.Throttled, u.Refused, t.Accepted, t.Throttled, t.Refused)
	}
	row("429s (must be 0)", "%d", r.Throttled)
	row("batch-scan calls; images per call min / median / max", "%d; %d / %d / %d", len(r.ScanCalls), r.ScanCallSizes[0], r.ScanCallSizes[1], r.ScanCallSizes[2])
	var seq []string
	for i, c := range r.ScanCalls {
		if i == 12 {
			seq = append(seq, "…")
			break
		}
		seq = append(seq, fmt.Sprintf("%d@%.0fs", c.Images, c.Offset))
	}
	row("batch-scan calls (images@s after first push)", "%s", orNone(strings.Join(seq, ", ")))
	row("push → scanned p50 / p99 / max", "%.1f / %.1f / %.1f s (n=%d; push = webhook sent, scanned = event finished_at)", r.PushToScanned.P50, r.PushToScanned.P99, r.PushToScanned.Max, r.PushToScanned.N)
	row("accepted → finished p50 / p99 (event times)", "%.1f / %.1f s", r.AcceptedToScanned.P50, r.AcceptedToScanned.P99)
	row("push → HSS request p50 / p99 / max", "%.1f / %.1f / %.1f s (n=%d)", r.PushToHSS.P50, r.PushToHSS.P99, r.PushToHSS.Max, r.PushToHSS.N)
	if r.FirstCallWaiting > 0 {
		row("first batch-scan call carries", "%d of %d images waiting (%.1f %%; goal ≥ 95 %%)", r.FirstCallImages, r.FirstCallWaiting, 100*r.FirstCallShare)
		row("p99 push → HSS vs linger + one permit", "%.1f s vs %.0f s (%d list calls, the presence check's pages, before the first batch-scan)", r.PushToHSS.P99, r.Bound, r.ListsBeforeScan)
	}
	if len(r.States) > 0 {
		var ss []string
		for k, n := range r.States {
			ss = append(ss, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(ss)
		row("lifecycle records at the end, by state", "%s", strings.Join(ss, ", "))
	}
	if r.Dups > 0 || r.BadEvs > 0 {
		row("duplicate / undecodable events", "%d / %d", r.Dups, r.BadEvs)
	}
	status := "ok"
	if !r.OK {
		status = "FAILED: " + strings.Join(r.Problems, "; ")
	}
	row("verdict", "%s", status)
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

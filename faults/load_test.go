//go:build linux

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// image is one pushed tag; its key is how HSS items are compared.
type image struct{ NS, Name, Tag string }

func (i image) key() string { return i.NS + "/" + i.Name + ":" + i.Tag }

// answer is the part of the bridge's webhook answer the suite checks (the
// README's Answers table).
type answer struct {
	Status string `json:"status"`
	Jobs   []struct {
		ID        string `json:"id"`
		Image     string `json:"image"`
		Duplicate bool   `json:"duplicate"`
	} `json:"jobs"`
}

// ledger is what the senders know: every image asked for, which were
// answered 202 (the accepted set), and every other outcome.
type ledger struct {
	mu       sync.Mutex
	sent     map[string]bool
	accepted map[string]int // image key → 202 answers naming it
	statuses map[int]int    // webhook answers by status
	noAnswer int            // connection refused, reset, timeout
	problems []string       // 202 answers that do not list every job
}

func newLedger() *ledger {
	return &ledger{sent: map[string]bool{}, accepted: map[string]int{}, statuses: map[int]int{}}
}

func (l *ledger) markSent(imgs []image) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, i := range imgs {
		l.sent[i.key()] = true
	}
}

// note records one webhook's outcome. A 202 must name every job of the
// body: a job left out of a 202 would be a silent drop.
func (l *ledger) note(imgs []image, status int, ans answer, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.noAnswer++
		return
	}
	l.statuses[status]++
	if status != http.StatusAccepted {
		return
	}
	if len(ans.Jobs) != len(imgs) {
		l.problems = append(l.problems, fmt.Sprintf("202 for %d images lists %d jobs", len(imgs), len(ans.Jobs)))
	}
	for _, i := range imgs {
		l.accepted[i.key()]++
	}
}

func (l *ledger) acceptedKeys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.accepted))
	for k := range l.accepted {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (l *ledger) count(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statuses[status]
}

func (l *ledger) unanswered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.noAnswer
}

func (l *ledger) isSent(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[key]
}

// driver sends webhooks to one bridge and writes every outcome in its
// ledger. Tags are unique per driver, so every image is a new job.
type driver struct {
	b      *bridge
	l      *ledger
	client *http.Client
	next   atomic.Int64
	spread int // namespaces ns0..ns<spread-1>
}

func newDriver(b *bridge, l *ledger) *driver {
	return &driver{b: b, l: l, spread: 4, client: &http.Client{
		Timeout: 20 * time.Second,
		// A new connection per webhook: a connection to a killed bridge
		// must not be reused for the restarted one.
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
}

// images returns n new images spread over the namespaces.
func (d *driver) images(n int) []image {
	imgs := make([]image, n)
	for k := range imgs {
		i := d.next.Add(1)
		imgs[k] = image{NS: fmt.Sprintf("ns%d", i%int64(d.spread)), Name: "app", Tag: fmt.Sprintf("t%07d", i)}
	}
	return imgs
}

// genericBody is the generic format: one event, or the events envelope
// (docs/formats/generic.md).
func genericBody(imgs []image) []byte {
	type event struct {
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
	}
	events := make([]event, len(imgs))
	for k, i := range imgs {
		events[k] = event{Repository: i.NS + "/" + i.Name, Tag: i.Tag}
	}
	var v any = map[string]any{"events": events}
	if len(events) == 1 {
		v = events[0]
	}
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return data
}

// harborBody is Harbor's default PUSH_ARTIFACT payload for one tag, as in
// https://goharbor.io/docs/2.11.0/working-with-projects/project-configuration/configure-webhooks/
// The digest makes it one registry delivery: resending it is a retry.
func harborBody(i image, digest string) []byte {
	return fmt.Appendf(nil, `{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci",`+
		`"event_data":{"resources":[{"digest":%q,"tag":%q,"resource_url":"harbor.example.com/%s/%s:%s"}],`+
		`"repository":{"date_created":1700000000,"name":%q,"namespace":%q,"repo_full_name":"%s/%s","repo_type":"private"}}}`,
		digest, i.Tag, i.NS, i.Name, i.Tag, i.Name, i.NS, i.NS, i.Name)
}

// pushGeneric sends imgs in one generic webhook.
func (d *driver) pushGeneric(ctx context.Context, imgs []image) (int, answer, error) {
	return d.post(ctx, "generic", genericToken, genericBody(imgs), imgs)
}

// pushHarbor sends one Harbor delivery.
func (d *driver) pushHarbor(ctx context.Context, i image, digest string) (int, answer, error) {
	return d.post(ctx, "harbor", harborToken, harborBody(i, digest), []image{i})
}

func (d *driver) post(ctx context.Context, receiver, token string, body []byte, imgs []image) (int, answer, error) {
	d.l.markSent(imgs)
	status, ans, err := d.do(ctx, receiver, token, body)
	d.l.note(imgs, status, ans, err)
	return status, ans, err
}

func (d *driver) do(ctx context.Context, receiver, token string, body []byte) (int, answer, error) {
	var ans answer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.b.url("/webhooks/"+receiver), bytes.NewReader(body))
	if err != nil {
		return 0, ans, fmt.Errorf("webhook %s: %w", receiver, err)
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, ans, fmt.Errorf("webhook %s: %w", receiver, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		// The status line came but not the whole answer: the sender
		// cannot know it was accepted, so it is not.
		return 0, ans, fmt.Errorf("webhook %s: read answer: %w", receiver, err)
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return 0, ans, fmt.Errorf("webhook %s: answer %q: %w", receiver, raw, err)
	}
	return resp.StatusCode, ans, nil
}

// flood keeps workers sending webhooks of perRequest new images each
// until stop is called; stop waits for the workers. A webhook cut off by
// stop counts as unanswered.
func (d *driver) flood(workers, perRequest int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, _, err := d.pushGeneric(ctx, d.images(perRequest)); err != nil && ctx.Err() == nil {
					// No answer (the bridge is down): do not spin.
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// send pushes n new images in webhooks of perRequest each, workers at a
// time, and fails the test unless every one is answered want.
func (d *driver) send(t *testing.T, n, perRequest, workers, want int) []image {
	t.Helper()
	imgs := d.images(n)
	d.sendImages(t, imgs, perRequest, workers, want)
	return imgs
}

// sendImages is send for images the scenario chose.
func (d *driver) sendImages(t *testing.T, imgs []image, perRequest, workers, want int) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		bad  []string
		work = make(chan []image)
	)
	for range workers {
		wg.Go(func() {
			for chunk := range work {
				status, _, err := d.pushGeneric(context.Background(), chunk)
				if err != nil || status != want {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%s: %d %v", chunk[0].key(), status, err))
					mu.Unlock()
				}
			}
		})
	}
	for start := 0; start < len(imgs); start += perRequest {
		work <- imgs[start:min(start+perRequest, len(imgs))]
	}
	close(work)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d webhooks not answered %d, first: %s", len(bad), (len(imgs)+perRequest-1)/perRequest, want, bad[0])
	}
}

// rig is one scenario's world: the fake HSS, NATS (in-test, or the
// bridge's embedded one), the bridge and the load driver with its ledger.
type rig struct {
	t *testing.T
	// bound is how long settle waits for the drain (drainBound unless a
	// long scenario needs more).
	bound time.Duration
	hss   *hsstest.Server
	nats  *natstest.Server // nil with the embedded NATS
	b     *bridge
	l     *ledger
	d     *driver
}

// newRig prepares everything; the bridge is not started, so the scenario
// can change its settings first.
func newRig(t *testing.T, embedded bool) *rig {
	t.Helper()
	hss := hsstest.NewServer(hsstest.Options{AccessKeys: map[string]hsstest.Key{testAK: {SecretKey: testSK}}})
	t.Cleanup(hss.Close)
	r := &rig{t: t, hss: hss, l: newLedger(), bound: drainBound}
	natsURL := ""
	if !embedded {
		r.nats = natstest.Start(t)
		natsURL = r.nats.URL()
	}
	r.b = newBridge(t, hss.URL, natsURL)
	r.d = newDriver(r.b, r.l)
	return r
}

// outcome compares the fake HSS's records with the ledger.
type outcome struct {
	accepted, delivered, deadLettered, lost, duplicates int
	// extra are images that reached HSS though their webhook got no 202
	// (stored, then the answer was lost): allowed, and counted.
	extra int
	// missing are accepted images not at HSS (nor excused); phantom are
	// items at HSS that no sender asked for.
	missing, phantom []string
}

// deliveries counts HSS items per image key.
func deliveries(hss *hsstest.Server) map[string]int {
	out := map[string]int{}
	for _, it := range hss.Items() {
		out[it.Namespace+"/"+it.ImageName+":"+it.ImageVersion]++
	}
	return out
}

// outcome is the comparison now. excused are accepted images the scenario
// expects in the dead-letter stream instead of at HSS.
func (r *rig) outcome(excused map[string]bool) outcome {
	var o outcome
	got := deliveries(r.hss)
	accepted := r.l.acceptedKeys()
	isAccepted := make(map[string]bool, len(accepted))
	for _, k := range accepted {
		isAccepted[k] = true
		switch {
		case got[k] > 0:
			o.delivered++
		case excused[k]:
			o.deadLettered++
		default:
			o.lost++
			o.missing = append(o.missing, k)
		}
	}
	o.accepted = len(accepted)
	for k, n := range got {
		o.duplicates += n - 1
		if !isAccepted[k] {
			if r.l.isSent(k) {
				o.extra++
			} else {
				o.phantom = append(o.phantom, k)
			}
		}
	}
	return o
}

// drainBound is how long a scenario waits for the accepted images to reach
// HSS once the fault is over: far beyond any honest drain, so only a lost
// job or a stuck bridge reaches it.
const drainBound = 60 * time.Second

// settle waits until every accepted image (but the excused) is at HSS,
// records the scenario's figures with the drain time counted from
// faultEnded, and fails on a lost image, an item nobody sent, or a 202
// that did not list every job.
func (r *rig) settle(fault string, faultEnded time.Time, excused map[string]bool, note string) outcome {
	r.t.Helper()
	o, drain := r.drain(faultEnded, excused)
	r.report(fault, o, drain, note)
	return o
}

// drain waits until every accepted image (but the excused) is at HSS, or
// r.bound passed; it returns the outcome and the time since faultEnded (0
// if something is still missing).
func (r *rig) drain(faultEnded time.Time, excused map[string]bool) (outcome, time.Duration) {
	deadline := time.Now().Add(r.bound)
	o := r.outcome(excused)
	// Comparing 100k images 50 times a second would take the CPU the
	// bridge needs: poll big backlogs less often.
	every := 20 * time.Millisecond
	if o.accepted > 5000 {
		every = 250 * time.Millisecond
	}
	for o.lost > 0 && time.Now().Before(deadline) {
		time.Sleep(every)
		o = r.outcome(excused)
	}
	if o.lost > 0 {
		return o, 0
	}
	return o, time.Since(faultEnded)
}

// report records the figures of o and fails on a lost image, an item
// nobody sent, or a 202 that did not list every job.
func (r *rig) report(fault string, o outcome, drain time.Duration, note string) {
	r.t.Helper()
	if o.extra > 0 {
		note = strings.TrimPrefix(note+fmt.Sprintf("; %d stored without a 202 (also delivered)", o.extra), "; ")
	}
	record(r.t, figure{
		Fault: fault, Accepted: o.accepted, Delivered: o.delivered, Lost: o.lost, DeadLettered: o.deadLettered,
		Duplicates: o.duplicates, Drain: drain, PeakRSS: r.b.peakRSS(), Note: note,
	})
	if o.accepted == 0 {
		r.t.Fatal("no webhook was accepted: the scenario exercised nothing")
	}
	if o.lost > 0 {
		r.t.Errorf("LOST %d accepted images (not at HSS %s after the fault ended), e.g. %v",
			o.lost, r.bound, o.missing[:min(10, len(o.missing))])
	}
	if len(o.phantom) > 0 {
		r.t.Errorf("HSS got %d images no sender asked for, e.g. %v", len(o.phantom), o.phantom[:min(10, len(o.phantom))])
	}
	r.l.mu.Lock()
	problems := slices.Clone(r.l.problems)
	r.l.mu.Unlock()
	if len(problems) > 0 {
		r.t.Errorf("%d answers broke the 202 contract, e.g. %s", len(problems), problems[0])
	}
}

//go:build linux

package security

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scan-bridge/scan-bridge/internal/bridgeproc"
)

// The memory scenarios' common bound and shape.
const (
	// rssLimit is the bridge's peak resident set allowed under an HTTP
	// flood: the Helm chart's default memory limit is 256 MiB, and the
	// bridge must keep well within it with the NATS server embedded.
	rssLimit = 120 << 20
	// attackers is how many senders attack at once: more than
	// http.max_in_flight (256), so that limit is reached too.
	attackers = 400
	// chartMemoryLimit is the Helm chart's default container memory limit
	// (deploy/helm/scan-bridge/values.yaml); the bridge runs here as the
	// chart runs it, with GOMEMLIMIT at 90 % of it (bridge_test.go).
	chartMemoryLimit = 256 << 20
	// natsFloodLimit is rssLimit's counterpart for the NATS intake flood,
	// from an authenticated internal publisher gone wild: the default
	// container is not killed. The embedded server holds part of such a
	// flood by design: up to its max_pending (64 MiB, natsconn/embedded.go
	// says why it stays) for the intake's connection, plus the intake's
	// own pending bound (8 MiB, handlers/natsintake.go), on top of the
	// bridge at rest (about 40 MiB); and the client library copies each
	// 1 MiB message, 400 MiB of garbage in under a second, which Go's
	// collector returns late. The peak went from 80 to 170 MiB run to run
	// on a busy 2-core machine, so no tighter bound holds every run.
	natsFloodLimit = chartMemoryLimit
	// attackFor bounds each flood in time.
	attackFor = 6 * time.Second
	// bodySize is what each sender means to send, trickle a chunk at a
	// time (8 KiB every 100 ms: a few KiB per 100 ms, as a slow sender
	// on a poor link does).
	bodySize   = 1 << 20
	trickle    = 8 << 10
	trickleGap = 100 * time.Millisecond
)

// TestSlowBodies has 400 unauthenticated senders each trickle a 1 MiB body
// at one receiver, and start again when the bridge answers, for the whole
// attack. A receiver that authenticates first (token) answers before
// reading the body; one that signs the body (hmac) reads at most its
// max_body_bytes (64 KiB) of it, and at most http.max_in_flight (256)
// bodies at once. Its senders send chunks without a declared length, the
// costlier case: a declared length over the budget is refused unread.
// Either way the bridge's memory stays bounded, /healthz answers
// throughout, and nothing is stored.
func TestSlowBodies(t *testing.T) {
	needBridge(t)
	tests := []struct {
		name     string
		receiver string
		method   string
		header   string // the receiver's credential header, with a wrong value
		chunked  bool   // no Content-Length: the bridge cannot refuse by size unread
		want     []int  // the answers allowed
	}{
		{"a token receiver authenticates before reading", "harbor", "token", "Authorization: wrong-token-0123456789", false, []int{http.StatusUnauthorized, http.StatusServiceUnavailable}},
		{"an hmac receiver reads at most its byte budget", "ci", "hmac", "X-Signature-256: sha256=00", true, []int{http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, "")
			b.start()
			stop := make(chan struct{})
			probes := probeHealth(b, stop)
			answers := slowSenders(b.addr, "/webhooks/"+tt.receiver, tt.header, tt.chunked, stop)
			time.Sleep(attackFor)
			close(stop)
			got := answers.wait()
			p := probes.wait()
			peak := b.peakRSS()

			stored := b.metric("scanbridge_queue_jobs_published_total")
			record(t, figure{
				Scenario: "slow 1 MiB bodies at a " + tt.method + " receiver",
				Attack:   fmt.Sprintf("%d unauthenticated senders × 1 MiB (%s), %d KiB per %s, for %s", attackers, framing(tt.chunked), trickle>>10, trickleGap, attackFor),
				Answer:   fmt.Sprintf("%s; /healthz %d/%d; %0.f stored", got, p.ok, p.sent, stored),
				PeakRSS:  peak,
				Limit:    fmt.Sprintf("RSS ≤ %d MiB, /healthz answers", rssLimit>>20),
			})
			if peak > rssLimit {
				t.Errorf("peak RSS %s, over the limit of %s", bridgeproc.MiB(peak), bridgeproc.MiB(rssLimit))
			}
			if p.sent == 0 || p.ok != p.sent {
				t.Errorf("/healthz answered %d of %d probes during the attack (first failure: %v)", p.ok, p.sent, p.err)
			}
			if got.total() == 0 {
				t.Error("the bridge answered none of the senders: the attack did not reach it")
			}
			for code := range got.codes {
				if !slices.Contains(tt.want, code) {
					t.Errorf("answer %d to an unauthenticated sender; want only %v (all: %s)", code, tt.want, got)
				}
			}
			if stored != 0 {
				t.Errorf("%0.f jobs stored from unauthenticated senders", stored)
			}
		})
	}
}

// TestNATSIntakeFlood publishes 400 messages of nearly the NATS maximum
// payload (1 MiB) at a bridge with the NATS intake on and its embedded
// NATS server listening, as fast as the publisher can. The intake refuses
// each over its receiver's max_body_bytes at once and drops what arrives
// past its pending limits; the bridge's memory stays bounded, it stays
// ready, and nothing is stored.
func TestNATSIntakeFlood(t *testing.T) {
	needBridge(t)
	const messages = attackers
	b := newBridge(t, "")
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	b.set("nats.listen", natsAddr)
	b.set("nats.intake.enabled", true)
	b.start()
	stop := make(chan struct{})
	probes := probeHealth(b, stop)

	// A listening embedded server admits only its own user, with the
	// password it wrote on first start (natsconn): the flood comes from a
	// client that has it, an internal service gone wild.
	pw, err := os.ReadFile(filepath.Join(b.dir, "nats", "client.password"))
	if err != nil {
		t.Fatalf("the embedded server's password file: %v", err)
	}
	nc, err := nats.Connect("nats://"+natsAddr, nats.Name("security-flood"), nats.UserInfo("bridge", strings.TrimSpace(string(pw))))
	if err != nil {
		t.Fatalf("connect to the embedded NATS: %v", err)
	}
	defer nc.Close()
	payload := []byte(`{"events":[{"repository":"team/app","tag":"` + strings.Repeat("x", int(nc.MaxPayload())-2048) + `"}]}`)
	for range messages {
		if err := nc.Publish("scanbridge.intake.generic", payload); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	// Every message ends refused or dropped; wait for the count, not for
	// a time.
	var refused, dropped float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		refused = b.metric("scanbridge_webhooks_total", `receiver="generic"`, `result="too_large"`)
		dropped = b.metric("scanbridge_nats_intake_dropped_total")
		if refused+dropped >= messages || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	p := probes.wait()
	peak := b.peakRSS()
	ready, _, err := get(b.url("/readyz"), nil)
	stored := b.metric("scanbridge_queue_jobs_published_total")
	record(t, figure{
		Scenario: "NATS intake flood",
		Attack:   fmt.Sprintf("%d messages × %d KiB, fire and forget", messages, len(payload)>>10),
		Answer:   fmt.Sprintf("413×%0.f, dropped %0.f; /healthz %d/%d; /readyz %d after; %0.f stored", refused, dropped, p.ok, p.sent, ready, stored),
		PeakRSS:  peak,
		Limit:    fmt.Sprintf("RSS ≤ %d MiB, stays ready", natsFloodLimit>>20),
	})
	if peak > natsFloodLimit {
		t.Errorf("peak RSS %s, over the limit of %s", bridgeproc.MiB(peak), bridgeproc.MiB(natsFloodLimit))
	}
	if refused+dropped < messages {
		t.Errorf("of %d messages %0.f were refused and %0.f dropped; the rest is unaccounted for", messages, refused, dropped)
	}
	if ready != http.StatusOK || err != nil {
		t.Errorf("/readyz after the flood: %d %v", ready, err)
	}
	if p.sent == 0 || p.ok != p.sent {
		t.Errorf("/healthz answered %d of %d probes during the flood (first failure: %v)", p.ok, p.sent, p.err)
	}
	if stored != 0 {
		t.Errorf("%0.f jobs stored from oversized messages", stored)
	}
}

// answers counts what the bridge answered the slow senders.
type answers struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	codes  map[int]int
	broken int // connections that ended without an answer
}

func (a *answers) add(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if code == 0 {
		a.broken++
		return
	}
	a.codes[code]++
}

func (a *answers) wait() *answers { a.wg.Wait(); return a }

func (a *answers) total() int {
	n := 0
	for _, c := range a.codes {
		n += c
	}
	return n
}

func (a *answers) String() string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(a.codes)) {
		parts = append(parts, fmt.Sprintf("%d×%d", code, a.codes[code]))
	}
	if a.broken > 0 {
		parts = append(parts, fmt.Sprintf("no answer×%d", a.broken))
	}
	return strings.Join(parts, ", ")
}

// slowSenders starts the attackers: each sends its slow body, and a new
// one after each answer, until stop.
func slowSenders(addr, path, header string, chunked bool, stop <-chan struct{}) *answers {
	a := &answers{codes: map[int]int{}}
	for range attackers {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for {
				a.add(slowPost(addr, path, header, chunked, stop))
				select {
				case <-stop:
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
		}()
	}
	return a
}

// slowPost sends one POST of bodySize bytes over a raw connection, trickle
// bytes every trickleGap, chunked or with a declared length, and returns
// the status of the answer, or 0 when the connection ended without one.
// It stops sending at the answer, at a write error or at stop.
func slowPost(addr, path, header string, chunked bool, stop <-chan struct{}) int {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(attackFor + 15*time.Second))
	length := fmt.Sprintf("Content-Length: %d", bodySize)
	if chunked {
		length = "Transfer-Encoding: chunked"
	}
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s\r\n%s\r\n\r\n", path, addr, header, length); err != nil {
		return 0
	}
	status := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	chunk := make([]byte, trickle)
	for i := range chunk {
		chunk[i] = 'a'
	}
	tick := time.NewTicker(trickleGap)
	defer tick.Stop()
	for sent := 0; sent < bodySize; sent += trickle {
		select {
		case code := <-status:
			return code
		case <-stop:
			conn.Close() // the attacker gives up; unblocks the reader
			return <-status
		case <-tick.C:
		}
		var err error
		if chunked {
			_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
		} else {
			_, err = conn.Write(chunk)
		}
		if err != nil {
			conn.Close()
			return <-status
		}
	}
	if chunked {
		fmt.Fprint(conn, "0\r\n\r\n")
	}
	return <-status
}

// framing names how a slow sender frames its body.
func framing(chunked bool) string {
	if chunked {
		return "chunked"
	}
	return "Content-Length"
}

// probed is what the health prober saw.
type probed struct {
	done     chan struct{}
	sent, ok int
	err      error // the first failure
}

func (p *probed) wait() *probed { <-p.done; return p }

// probeHealth GETs /healthz every 250 ms, each on a new connection, until
// stop.
func probeHealth(b *bridge, stop <-chan struct{}) *probed {
	p := &probed{done: make(chan struct{})}
	var sent, ok atomic.Int32
	go func() {
		defer close(p.done)
		for {
			select {
			case <-stop:
				p.sent, p.ok = int(sent.Load()), int(ok.Load())
				return
			case <-time.After(250 * time.Millisecond):
			}
			sent.Add(1)
			code, _, err := get(b.url("/healthz"), nil)
			if err == nil && code == http.StatusOK {
				ok.Add(1)
			} else if p.err == nil {
				p.err = fmt.Errorf("status %d: %v", code, err)
			}
		}
	}()
	return p
}

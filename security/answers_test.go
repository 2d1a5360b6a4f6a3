//go:build linux

package security

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/queue"
)

// TestRefusals runs one bridge on an external NATS, so the test can read
// its job stream, and sends it what a webhook port on the internet gets:
// oversized pushes, names outside the grammar, probes for receiver names,
// hostile request ids and requests for the admin surface. Each group is a
// subtest that records one line of figures.
func TestRefusals(t *testing.T) {
	needBridge(t)
	ns := natstest.Start(t)
	b := newBridge(t, ns.URL())
	b.set("debug.pprof", true)
	b.start()
	js, err := jetstream.New(ns.Connect())
	if err != nil {
		t.Fatal(err)
	}
	stored := func(t *testing.T) uint64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, queue.Config{}.WithDefaults().Stream.Name)
		if err != nil {
			t.Fatalf("job stream: %v", err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatalf("job stream info: %v", err)
		}
		return info.State.LastSeq // every job ever stored, acked ones too
	}

	t.Run("a Quay push of 110,000 tags", func(t *testing.T) { quayTags(t, b, stored) })
	t.Run("names outside the grammar", func(t *testing.T) { badNames(t, b, stored) })
	t.Run("unknown receiver and wrong secret look alike", func(t *testing.T) { probeReceivers(t, b) })
	t.Run("hostile request ids", func(t *testing.T) { hostileRequestIDs(t, b) })
	t.Run("the admin surface", func(t *testing.T) { adminSurface(t, b) })
}

// answer is the part of the bridge's JSON answer the tests read.
type answer struct {
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
	Errors    []any  `json:"errors"`
}

// post sends body to path on the webhook listener with the headers hdr
// and returns the answer's status and body. It reads the answer while it
// writes, over a connection of its own: the bridge answers a body it
// refuses by its declared length at once and closes the connection, and
// an HTTP client that is still writing may report the reset instead of
// the answer.
func post(t *testing.T, b *bridge, path string, hdr http.Header, body []byte) (int, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest(http.MethodPost, b.url(path), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	go req.Write(conn) // a write error is the bridge closing: the answer tells why
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("post %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("post %s: read the answer: %v", path, err)
	}
	return resp.StatusCode, raw
}

// quayBody is a Quay repository push naming n tags, the shape of
// handlers/formats/testdata/quay/repo_push-list.json.
func quayBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"name":"app","repository":"team/app","namespace":"team","docker_url":"quay.io/team/app","homepage":"https://quay.io/repository/team/app","updated_tags":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%d"`, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// quayTags sends the 110,000-tag push (about 1 MiB) to a Quay receiver
// whose byte budget lets it through to the jobs cap, and to one with the
// default budget: 413 from both, a short answer, nothing stored.
func quayTags(t *testing.T, b *bridge, stored func(*testing.T) uint64) {
	body := quayBody(110_000)
	before := stored(t)
	tests := []struct {
		name, receiver, wantReason string
	}{
		{"past max_jobs (a 2 MiB budget lets the body in)", "quay", "body holds 110000 tagged pushes; this receiver accepts at most 1000 per request"},
		{"past the default 64 KiB budget", "quay-default", "body is over 65536 bytes"},
	}
	var got []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, raw := post(t, b, "/webhooks/"+tt.receiver+"/"+pathToken, nil, body)
			var a answer
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatalf("answer %.200q: %v", raw, err)
			}
			if code != http.StatusRequestEntityTooLarge || !strings.Contains(a.Reason, tt.wantReason) {
				t.Fatalf("%d %q, want 413 saying %q", code, a.Reason, tt.wantReason)
			}
			if len(raw) > 1024 {
				t.Fatalf("the refusal is %d bytes", len(raw))
			}
			got = append(got, fmt.Sprintf("%s: %d", tt.receiver, code))
		})
	}
	n := stored(t) - before
	if n != 0 {
		t.Errorf("%d jobs stored from refused bodies", n)
	}
	record(t, figure{Scenario: "Quay push of 110,000 tags", Attack: fmt.Sprintf("one %d KiB body", len(body)>>10),
		Answer: fmt.Sprintf("%s; %d stored", strings.Join(got, ", "), n), Limit: "413, nothing stored"})
}

// badNames sends pushes whose names a registry would never produce: a
// header injection, a NUL, a wildcard, a right-to-left override. Each is
// 400, names the field, shows it escaped, and stores nothing.
func badNames(t *testing.T, b *bridge, stored func(*testing.T) uint64) {
	before := stored(t)
	tests := []struct {
		name, repository, tag, wantField string
	}{
		{"CR LF in the repository", "team/app\r\nX-Injected: 1", "1.0", "repository"},
		{"a NUL in the tag", "team/app", "1.0\x00", "tag"},
		{"a wildcard in the repository", "team/*", "1.0", "repository"},
		{"a right-to-left override in the tag", "team/app", "1.0\u202egnp.exe", "tag"},
	}
	hdr := http.Header{"Authorization": {harborToken}, "Content-Type": {"application/json"}}
	var codes []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{"events": []any{map[string]string{"repository": tt.repository, "tag": tt.tag}}})
			if err != nil {
				t.Fatal(err)
			}
			code, raw := post(t, b, "/webhooks/generic", hdr, body)
			codes = append(codes, fmt.Sprint(code))
			if code != http.StatusBadRequest || !bytes.Contains(raw, []byte(tt.wantField)) {
				t.Fatalf("%d %s, want 400 naming %s", code, raw, tt.wantField)
			}
			if i := bytes.IndexFunc(raw, func(r rune) bool { return r < ' ' && r != '\n' || r == '\u202e' }); i >= 0 {
				t.Fatalf("the answer holds a raw control or bidi character at %d: %q", i, raw)
			}
		})
	}
	n := stored(t) - before
	if n != 0 {
		t.Errorf("%d jobs stored from names outside the grammar", n)
	}
	record(t, figure{Scenario: "names with CR LF, NUL, *, U+202E", Attack: fmt.Sprintf("%d pushes, authenticated", len(tests)),
		Answer: fmt.Sprintf("%s; %d stored", strings.Join(codes, ", "), n), Limit: "400, nothing stored"})
}

// probeReceivers asks for a receiver that does not exist and for real
// ones with wrong credentials, with the same request id: the answers must
// be byte for byte the same, headers but Date included, so that receiver
// names cannot be listed by probing.
func probeReceivers(t *testing.T, b *bridge) {
	body := []byte(`{"events":[{"repository":"team/app","tag":"1.0"}]}`)
	probes := []struct {
		name, path string
		hdr        http.Header
	}{
		{"no such receiver", "/webhooks/no-such-receiver", http.Header{"Authorization": {"wrong-token-0123456789"}}},
		{"a token receiver, wrong token", "/webhooks/harbor", http.Header{"Authorization": {"wrong-token-0123456789"}}},
		{"an hmac receiver, wrong signature", "/webhooks/ci", http.Header{"X-Signature-256": {"sha256=00"}}},
		{"a path-token receiver, wrong token", "/webhooks/quay/wrong-path-token-0123456789abcdef", nil},
	}
	type seen struct {
		status int
		header http.Header
		body   []byte
	}
	var first *seen
	for _, p := range probes {
		conn, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, b.url(p.path), bytes.NewReader(body))
		for k, v := range p.hdr {
			req.Header[k] = v
		}
		req.Header.Set("X-Request-Id", "probe-0001")
		req.Header.Set("Content-Type", "application/json")
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		resp.Header.Del("Date")
		s := &seen{resp.StatusCode, resp.Header, raw}
		if s.status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", p.name, s.status, raw)
		}
		if first == nil {
			first = s
			continue
		}
		if s.status != first.status || !bytes.Equal(s.body, first.body) || fmt.Sprint(s.header) != fmt.Sprint(first.header) {
			t.Errorf("%s answers\n %d %v %s\nthe unknown receiver\n %d %v %s", p.name, s.status, s.header, s.body, first.status, first.header, first.body)
		}
	}
	record(t, figure{Scenario: "unknown receiver vs wrong secret", Attack: fmt.Sprintf("%d probes, one unknown name", len(probes)),
		Answer: fmt.Sprintf("%d %s, identical", first.status, bytes.TrimSpace(first.body)), Limit: "same status, headers and body"})
}

// hostileRequestIDs sends X-Request-Id values the bridge must not echo
// into its answer or its header: a huge one, and ones holding a CR, which
// a well-behaved client refuses to send (so they go over a raw
// connection). The raw answer must not hold the sent value.
func hostileRequestIDs(t *testing.T, b *bridge) {
	tests := []struct {
		name, id string
	}{
		{"10 KiB", strings.Repeat("r", 10<<10)},
		{"a CR in the middle", "req-1\rX-Injected: 1"},
		{"a CR at the end", "req-2\r"},
		{"65 safe characters, one over the bound", strings.Repeat("s", 65)},
	}
	var got []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			body := `{"events":[{"repository":"team/app","tag":"1.0"}]}`
			fmt.Fprintf(conn, "POST /webhooks/harbor HTTP/1.1\r\nHost: %s\r\nAuthorization: wrong-token-0123456789\r\nX-Request-Id: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
				b.addr, tt.id, len(body), body)
			raw, err := io.ReadAll(conn)
			if err != nil && len(raw) == 0 {
				t.Fatalf("read the answer: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
			if err != nil {
				t.Fatalf("the answer is not HTTP: %v: %.300q", err, raw)
			}
			resp.Body.Close()
			got = append(got, fmt.Sprint(resp.StatusCode))
			if bytes.Contains(raw, []byte(tt.id)) {
				t.Fatalf("the answer echoes the sent request id:\n%.300q", raw)
			}
			// What a CR splits off must not come back either.
			before, _, _ := strings.Cut(tt.id, "\r")
			if len(before) > 0 && strings.Contains(tt.id, "\r") && bytes.Contains(raw, []byte("X-Request-Id: "+before+"\r")) {
				t.Fatalf("the answer echoes the request id up to its CR:\n%.300q", raw)
			}
		})
	}
	record(t, figure{Scenario: "hostile X-Request-Id", Attack: fmt.Sprintf("%d ids: 10 KiB, CR, 65 chars", len(tests)),
		Answer: "answered " + strings.Join(got, ", ") + "; none echoed", Limit: "not echoed"})
}

// adminSurface asks both listeners for every admin path: the webhook
// listener has none of them, the admin listener wants the admin token for
// /admin and serves pprof only with debug.pprof (this bridge has it on;
// a second bridge, with the default off, has none).
func adminSurface(t *testing.T, b *bridge) {
	plain := newBridge(t, "")
	plain.start()
	bearer := http.Header{"Authorization": {"Bearer " + adminToken}}
	tests := []struct {
		name     string
		url      string
		hdr      http.Header
		wantCode int
	}{
		{"webhook port: /metrics", b.url("/metrics"), nil, http.StatusNotFound},
		{"webhook port: /admin, with the admin token", b.url("/admin/dlq"), bearer, http.StatusNotFound},
		{"webhook port: /debug/pprof/, pprof on", b.url("/debug/pprof/"), nil, http.StatusNotFound},
		{"webhook port: /debug/pprof/heap, pprof on", b.url("/debug/pprof/heap"), nil, http.StatusNotFound},
		{"admin port: /metrics without credentials", b.adminURL("/metrics"), nil, http.StatusOK},
		{"admin port: /admin without a token", b.adminURL("/admin/dlq"), nil, http.StatusUnauthorized},
		{"admin port: /admin with a wrong token", b.adminURL("/admin/dlq"), http.Header{"Authorization": {"Bearer wrong-admin-token-0123456789abcdef"}}, http.StatusUnauthorized},
		{"admin port: /admin with the token", b.adminURL("/admin/dlq"), bearer, http.StatusOK},
		{"admin port: /debug/pprof/, pprof on", b.adminURL("/debug/pprof/"), nil, http.StatusOK},
		{"admin port: /debug/pprof/, pprof off", plain.adminURL("/debug/pprof/"), nil, http.StatusNotFound},
		{"admin port: /debug/pprof/heap, pprof off", plain.adminURL("/debug/pprof/heap"), nil, http.StatusNotFound},
	}
	codes := map[string]map[int]int{} // port → status → count
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, raw, err := get(tt.url, tt.hdr)
			if err != nil {
				t.Fatal(err)
			}
			port, _, _ := strings.Cut(tt.name, ":")
			if codes[port] == nil {
				codes[port] = map[int]int{}
			}
			codes[port][code]++
			if code != tt.wantCode {
				t.Fatalf("GET %s = %d, want %d: %.200s", tt.url, code, tt.wantCode, raw)
			}
		})
	}
	var answer []string
	for _, port := range []string{"webhook port", "admin port"} {
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(codes[port])) {
			parts = append(parts, fmt.Sprintf("%d×%d", code, codes[port][code]))
		}
		answer = append(answer, port+" "+strings.Join(parts, ", "))
	}
	record(t, figure{Scenario: "admin surface on each port", Attack: fmt.Sprintf("%d GETs of /metrics, /admin, /debug/pprof", len(tests)),
		Answer: strings.Join(answer, "; "), Limit: "404 on the webhook port; 401 without a token; pprof only when on"})
}

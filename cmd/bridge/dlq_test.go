package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The dlq commands run against a real nats-server on loopback, with dead
// letters made the way production makes them: jobs published through the
// queue, a batching consumer whose Scanner refuses some images as
// Permanent, bisection isolating them, the consumer dead-lettering them.

// dlqRefusal is the error refusingScanner returns for a refused image.
type dlqRefusal struct{ code string }

func (r *dlqRefusal) Error() string { return "HSS refused the request: " + r.code }

// refusingScanner refuses the images in refuse (ref → HSS error_code) and
// accepts the rest; it counts permits and records accepted items.
type refusingScanner struct {
	mu       sync.Mutex
	refuse   map[string]string
	permits  int
	accepted []string
}

func (s *refusingScanner) Acquire(context.Context) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.permits++
	return func() {}, nil
}

func (s *refusingScanner) Scan(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range items {
		if code, ok := s.refuse[jobRef(j)]; ok {
			return &dlqRefusal{code: code}
		}
	}
	for _, j := range items {
		s.accepted = append(s.accepted, jobRef(j))
	}
	return nil
}

func (s *refusingScanner) Judge(err error) queue.Verdict {
	var r *dlqRefusal
	if errors.As(err, &r) {
		return queue.Verdict{Class: queue.Permanent, Status: http.StatusBadRequest, Code: r.code, Message: "invalid image", RequestID: "req-" + r.code}
	}
	return queue.Verdict{Class: queue.Retry}
}

func (s *refusingScanner) acceptedRefs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted)
}

func jobRef(j scanjob.Job) string { return j.Repository() + ":" + j.Tag }

// The dead letters every dlqEnv starts with, by label: a job's ref, or
// "malformed" for the message that is not a job.
const (
	badA      = "team-a/bad:1.0"   // refused with HSS.0011
	worseB    = "team-b/worse:2.0" // refused with HSS.0001
	goodA     = "team-a/good:1.0"  // accepted
	malformed = "malformed"
)

// dlqEnv is a NATS server holding the bridge's streams and three dead
// letters, and a bridge config file pointing at it.
type dlqEnv struct {
	t      *testing.T
	config string // path of the config the CLI is given
	js     jetstream.JetStream
	q      *queue.Queue
	jobs   map[string]scanjob.Job // by ref
	target scanjob.Target         // of every job
	seqs   map[string]uint64      // dead-letter seq by label, as set up
}

func writeDLQConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

// dlqConfigYAML is the bridge config of a dlqEnv: its NATS, and consumer
// timers short enough for a test (the CLI reads the same file).
func dlqConfigYAML(url string) string {
	return fmt.Sprintf("nats:\n  url: %s\nqueue:\n  consumer:\n    linger: 20ms\n    heartbeat: 1s\n    backoff_base: 10ms\n    backoff_cap: 50ms\n", url)
}

func newDLQEnv(t *testing.T) *dlqEnv {
	t.Helper()
	ns := natstest.Start(t)
	js := ns.JetStream()
	e := &dlqEnv{t: t, js: js, config: writeDLQConfig(t, dlqConfigYAML(ns.URL())), jobs: map[string]scanjob.Job{}}
	cfg, err := config.Load(e.config, func() []string { return nil })
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	if e.q, err = queue.Open(t.Context(), js, cfg.Queue, nil, nil); err != nil {
		t.Fatalf("open queue: %v", err)
	}
	target := scanjob.Target{Region: "cn-north-4", ProjectID: "p1", ImageType: scanjob.PrivateImage}
	e.target = target
	for _, r := range []string{badA, worseB, goodA} {
		repo, tag, _ := strings.Cut(r, ":")
		ns, image := scanjob.SplitRepository(repo)
		j := scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: ns, Image: image, Tag: tag, Target: target}
		if _, err := e.q.Publish(t.Context(), j); err != nil {
			t.Fatalf("publish %s: %v", r, err)
		}
		e.jobs[r] = j
	}
	if _, err := js.Publish(t.Context(), "scanjobs.private_image.team-c", []byte("{not a job")); err != nil {
		t.Fatalf("publish malformed: %v", err)
	}

	sc := &refusingScanner{refuse: map[string]string{badA: "HSS.0011", worseB: "HSS.0001"}}
	e.runConsumer(sc, func() bool { return len(e.deadLetters()) == 3 && len(sc.acceptedRefs()) == 1 })
	e.seqs = e.labels()
	if got := e.jobStream(); len(got) != 0 {
		t.Fatalf("job stream holds %d messages after setup, want 0", len(got))
	}
	return e
}

// runConsumer runs the batching consumer with s until done holds and the
// job stream is empty, then stops it. Every message is settled by then, so
// a hard stop (cancel) loses nothing and spares the graceful stop's wait
// for the last pull to run out.
func (e *dlqEnv) runConsumer(s queue.Scanner, done func() bool) {
	e.t.Helper()
	c := e.q.NewConsumer(s, queue.AllowTargets(e.target))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	natstest.Eventually(e.t, 30*time.Second, "the consumer's work", func() bool { return done() && len(e.jobStream()) == 0 })
	cancel()
	if err := <-ran; err != nil {
		e.t.Fatalf("consumer run: %v", err)
	}
}

func (e *dlqEnv) deadLetters() []queue.DeadLetter {
	e.t.Helper()
	recs, err := e.q.DeadLetters().List(e.t.Context(), queue.Filter{})
	if err != nil {
		e.t.Fatalf("list dead letters: %v", err)
	}
	return recs
}

func dlqLabel(r queue.DeadLetter) string {
	if r.Job == nil {
		return r.Reason
	}
	return jobRef(*r.Job)
}

// labels maps each dead letter's label to its seq.
func (e *dlqEnv) labels() map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range e.deadLetters() {
		out[dlqLabel(r)] = r.Seq
	}
	return out
}

// left is the sorted labels of the dead letters now stored.
func (e *dlqEnv) left() []string {
	var out []string
	for l := range e.labels() {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// jobStream returns the messages of the job stream: Nats-Msg-Id → job.
func (e *dlqEnv) jobStream() map[string]scanjob.Job {
	e.t.Helper()
	ctx := e.t.Context()
	s, err := e.js.Stream(ctx, queue.DefaultStreamName)
	if err != nil {
		e.t.Fatalf("job stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatalf("job stream info: %v", err)
	}
	out := map[string]scanjob.Job{}
	if info.State.Msgs == 0 {
		return out
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatalf("get job %d: %v", seq, err)
		}
		var j scanjob.Job
		if err := json.Unmarshal(m.Data, &j); err != nil {
			e.t.Fatalf("job %d: %v", seq, err)
		}
		out[m.Header.Get(jetstream.MsgIDHeader)] = j
	}
	return out
}

// cli runs `bridge dlq ARGS -c <config>` and returns stdout and stderr.
func (e *dlqEnv) cli(args ...string) (string, string, error) {
	e.t.Helper()
	return runDLQCLI(e.t, append(append([]string{"dlq"}, args...), "-c", e.config)...)
}

func runDLQCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func decodeDLQLines(t *testing.T, out string) []admin.DeadLetterRecord {
	t.Helper()
	var recs []admin.DeadLetterRecord
	for line := range strings.Lines(out) {
		var r admin.DeadLetterRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q is not a JSON record: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestDLQList(t *testing.T) {
	e := newDLQEnv(t)
	oldest := []string{}
	for _, r := range e.deadLetters() {
		oldest = append(oldest, dlqLabel(r))
	}
	tests := []struct {
		name string
		args []string
		want []string // labels, in order
	}{
		{"every record, oldest first", nil, oldest},
		{"--namespace keeps one namespace", []string{"--namespace", "team-a"}, []string{badA}},
		{"--namespace matches the malformed message's subject too", []string{"--namespace", "team-c"}, []string{malformed}},
		{"--error-code keeps one HSS error code", []string{"--error-code", "HSS.0001"}, []string{worseB}},
		{"filters combine", []string{"--namespace", "team-a", "--error-code", "HSS.0001"}, nil},
		{"--older-than leaves out what failed since", []string{"--older-than", "1h"}, nil},
		{"--older-than keeps what failed before", []string{"--older-than", "1ns"}, oldest},
		{"--limit keeps the oldest", []string{"--limit", "2"}, oldest[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := e.cli(append([]string{"list", "--json"}, tt.args...)...)
			if err != nil {
				t.Fatalf("list: %v (stderr %s)", err, stderr)
			}
			var got []string
			var prev uint64
			for _, r := range decodeDLQLines(t, out) {
				got = append(got, dlqLabel(r.DeadLetter))
				if r.Seq <= prev || r.Seq != e.seqs[dlqLabel(r.DeadLetter)] {
					t.Errorf("record %s has seq %d (previous %d, stored as %d)", dlqLabel(r.DeadLetter), r.Seq, prev, e.seqs[dlqLabel(r.DeadLetter)])
				}
				prev = r.Seq
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDLQListTable(t *testing.T) {
	e := newDLQEnv(t)
	out, _, err := e.cli("list")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SEQ") {
		t.Fatalf("table = %q, want a header and 3 rows", out)
	}
	for _, want := range []string{fmt.Sprint(e.seqs[badA]), badA, "400", "HSS.0011", "req-HSS.0011", worseB, "(malformed) scanjobs.private_image.team-c"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	out, _, err = e.cli("list", "--namespace", "nobody")
	if err != nil || !strings.Contains(out, "no dead letters match") {
		t.Fatalf("empty list = %q, %v", out, err)
	}
}

func TestDLQShow(t *testing.T) {
	e := newDLQEnv(t)
	out, _, err := e.cli("show", fmt.Sprint(e.seqs[badA]))
	if err != nil {
		t.Fatalf("show: %v", err)
	}
	var r admin.DeadLetterRecord
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("show printed %q: %v", out, err)
	}
	if r.Seq != e.seqs[badA] || r.Job == nil || r.Job.ID() != e.jobs[badA].ID() || r.Reason != queue.ReasonRejected ||
		r.Class != "permanent" || r.Status != 400 || r.ErrorCode != "HSS.0011" || r.ErrorMsg != "invalid image" ||
		r.RequestID != "req-HSS.0011" || r.Attempts < 1 || r.FirstSeen.IsZero() || r.FailedAt.Before(r.FirstSeen) {
		t.Fatalf("show = %s, want the full record of %s", out, badA)
	}

	errTests := []struct {
		name    string
		seq     string
		wantErr error // nil: any error
	}{
		{"an unknown seq is not found", "9999", queue.ErrNotFound},
		{"a seq that is not a number is refused", "abc", nil},
		{"seq 0 is refused", "0", nil},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.cli("show", tt.seq)
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("show %s = %v, want %v", tt.seq, err, tt.wantErr)
			}
		})
	}
}

func TestDLQRedrive(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantErr   bool
		wantJobs  []string // refs republished into the job stream
		wantLeft  []string // dead letters left, sorted
		wantOut   string
		wantStder string
	}{
		{name: "without --yes it is a dry run that changes nothing",
			args:     []string{"redrive"},
			wantLeft: []string{malformed, badA, worseB}, wantOut: "would redrive 2 job(s) into stream SCANJOBS and skip 1 record(s)"},
		{name: "a filtered dry run shows only what it selects",
			args:     []string{"redrive", "--error-code", "HSS.0011"},
			wantLeft: []string{malformed, badA, worseB}, wantOut: "would redrive 1 job(s)"},
		{name: "--yes redrives the namespace's job and removes its record",
			args:     []string{"redrive", "--namespace", "team-a", "--yes"},
			wantJobs: []string{badA}, wantLeft: []string{malformed, worseB}, wantOut: "redrove 1 job(s)"},
		{name: "--dry-run=false acts like --yes",
			args:     []string{"redrive", "--error-code", "HSS.0001", "--dry-run=false"},
			wantJobs: []string{worseB}, wantLeft: []string{malformed, badA}},
		{name: "everything is redriven but the malformed record, which is reported",
			args:     []string{"redrive", "--yes"},
			wantJobs: []string{badA, worseB}, wantLeft: []string{malformed}, wantOut: "skipped 1 record(s) without a job"},
		{name: "republishes go through the pacer, batch by batch",
			args:     []string{"redrive", "--yes", "--batch", "1", "--pause", "1ms"},
			wantJobs: []string{badA, worseB}, wantLeft: []string{malformed}, wantStder: "1 republished, pausing 1ms"},
		{name: "--yes and --dry-run=true contradict each other",
			args: []string{"redrive", "--yes", "--dry-run=true"}, wantErr: true, wantLeft: []string{malformed, badA, worseB}},
		{name: "a pause that would outlast the stream reader is refused",
			args: []string{"redrive", "--yes", "--batch", "1", "--pause", "1s"}, wantErr: true, wantLeft: []string{malformed, badA, worseB}},
		{name: "a batch of 0 is refused rather than taken as no pacing",
			args: []string{"redrive", "--yes", "--batch", "0"}, wantErr: true, wantLeft: []string{malformed, badA, worseB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDLQEnv(t)
			out, stderr, err := e.cli(tt.args...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("redrive error = %v, want error %v (stderr %s)", err, tt.wantErr, stderr)
			}
			if !strings.Contains(out, tt.wantOut) || !strings.Contains(stderr, tt.wantStder) {
				t.Errorf("output %q / stderr %q, want %q / %q", out, stderr, tt.wantOut, tt.wantStder)
			}
			if got := e.left(); !slices.Equal(got, tt.wantLeft) {
				t.Errorf("dead letters left %v, want %v", got, tt.wantLeft)
			}
			// Each redriven job is in the job stream once, under a new
			// message id naming the record it came from.
			want := map[string]string{}
			for _, r := range tt.wantJobs {
				want[fmt.Sprintf("%s-redrive-%d", e.jobs[r].ID(), e.seqs[r])] = r
			}
			got := e.jobStream()
			if len(got) != len(want) {
				t.Fatalf("job stream holds %d jobs, want %d (%v)", len(got), len(want), tt.wantJobs)
			}
			for id, j := range got {
				r, ok := want[id]
				if !ok || id == j.ID() || j.ID() != e.jobs[r].ID() {
					t.Errorf("job stream holds %s under msg id %q, want the redrive id of %s", jobRef(j), id, r)
				}
			}
		})
	}
}

// A redriven job is sent to HSS by the bridge's consumer, through its
// permits (the rate limit), like a job from a webhook.
func TestDLQRedrivenJobIsScannedUnderThePermits(t *testing.T) {
	e := newDLQEnv(t)
	if _, _, err := e.cli("redrive", "--namespace", "team-a", "--yes"); err != nil {
		t.Fatalf("redrive: %v", err)
	}
	fixed := &refusingScanner{refuse: map[string]string{}} // the cause was fixed
	e.runConsumer(fixed, func() bool { return len(fixed.acceptedRefs()) == 1 })
	fixed.mu.Lock()
	permits := fixed.permits
	fixed.mu.Unlock()
	if got := fixed.acceptedRefs(); !slices.Equal(got, []string{badA}) || permits < 1 {
		t.Fatalf("HSS got %v with %d permits, want %s under a permit", got, permits, badA)
	}
	if got := e.left(); !slices.Equal(got, []string{malformed, worseB}) {
		t.Fatalf("dead letters left %v", got)
	}
}

func TestDLQPurge(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantLeft []string
		wantOut  string
	}{
		{"without --yes it is a dry run that deletes nothing", []string{"purge"}, []string{malformed, badA, worseB}, "would purge 3 record(s)"},
		{"--yes with an error code deletes only those records", []string{"purge", "--error-code", "HSS.0011", "--yes"}, []string{malformed, worseB}, "purged 1 record(s)"},
		{"--yes with a namespace removes the malformed record of it", []string{"purge", "--namespace", "team-c", "--yes"}, []string{badA, worseB}, "purged 1"},
		{"--yes with a limit deletes the oldest", []string{"purge", "--limit", "3", "--yes"}, nil, "purged 3"},
		{"--yes with an age none has reached deletes nothing", []string{"purge", "--older-than", "1h", "--yes"}, []string{malformed, badA, worseB}, "purged 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDLQEnv(t)
			out, stderr, err := e.cli(tt.args...)
			if err != nil {
				t.Fatalf("purge: %v (stderr %s)", err, stderr)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q, want %q", out, tt.wantOut)
			}
			if got := e.left(); !slices.Equal(got, tt.wantLeft) {
				t.Errorf("dead letters left %v, want %v", got, tt.wantLeft)
			}
			if n := len(e.jobStream()); n != 0 {
				t.Errorf("purge put %d jobs into the job stream", n)
			}
		})
	}
}

func TestDLQRefusesToChangeTheBridgesSetup(t *testing.T) {
	e := newDLQEnv(t)
	cfg, err := config.Load(e.config, func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	other := writeDLQConfig(t, dlqConfigYAML(cfg.NATS.URL)+"  stream:\n    max_age: 1h\n")
	_, _, err = runDLQCLI(t, "dlq", "list", "-c", other)
	if err == nil || !strings.Contains(err.Error(), "queue.stream.max_age") {
		t.Fatalf("list with another max_age = %v, want a refusal naming queue.stream.max_age", err)
	}
	s, err := e.js.Stream(t.Context(), queue.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if s.CachedInfo().Config.MaxAge != queue.DefaultMaxAge {
		t.Fatalf("the job stream's max_age became %s", s.CachedInfo().Config.MaxAge)
	}

	// A NATS without the bridge's streams is not set up by the CLI.
	bare := natstest.Start(t)
	bareJS := bare.JetStream()
	_, _, err = runDLQCLI(t, "dlq", "list", "-c", e.config, "--nats-url", bare.URL())
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("list on a bare server = %v, want stream not found", err)
	}
	if names := bareJS.StreamNames(t.Context()); len(collectNames(names.Name())) != 0 {
		t.Fatal("the CLI created streams on a server that had none")
	}
}

func collectNames(ch <-chan string) []string {
	var out []string
	for s := range ch {
		out = append(out, s)
	}
	return out
}

// Command loadtest drives a webhook endpoint at a fixed rate and reports
// throughput, latency percentiles and whether every 202 became a stored
// job. It also serves the bare reference handler (Echo → JetStream publish
// → 202, no auth, no decoding) that the bridge's intake is compared with.
//
// It is open-loop on purpose: requests start on a schedule whatever the
// server's latency, so a slow server shows as latency instead of hiding as
// a lower request rate (wrk, which Debian ships, is closed-loop and has no
// rate flag, and cannot check the store count afterwards).
//
// Every run is bounded by --duration and --max-requests, and it talks only
// to the URL it is given (use loopback).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) > 1 && os.Args[1] == "reference" {
		if err := serveReference(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "otlpsink" {
		if err := serveOTLPSink(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "nats" {
		if err := serveNATS(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := drive(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

// serveReference is the yardstick: the least an HTTP → JetStream intake
// can do per request.
func serveReference(args []string) error {
	fs := flag.NewFlagSet("reference", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:18081", "address to serve on")
	natsURL := fs.String("nats", nats.DefaultURL, "NATS URL")
	dedupe := fs.Bool("dedupe", false, "publish with Nats-Msg-Id (a hash of the body) into a stream with a 10m duplicate window, as the bridge stores jobs")
	fs.Parse(args)
	nc, err := nats.Connect(*natsURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "LOADREF", Subjects: []string{"loadref.>"}, Storage: jetstream.FileStorage,
		Duplicates: 10 * time.Minute}); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/:receiver", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		var opts []jetstream.PublishOpt
		if *dedupe {
			sum := sha256.Sum256(body)
			opts = append(opts, jetstream.WithMsgID(hex.EncodeToString(sum[:16])))
		}
		if _, err := js.Publish(c.Request().Context(), "loadref.jobs", body, opts...); err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.JSON(http.StatusAccepted, map[string]string{"status": "accepted"})
	})
	go func() { <-ctx.Done(); e.Close() }()
	if err := e.Start(*listen); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveOTLPSink answers every OTLP/HTTP export with 200 and counts them,
// so a bridge with tracing on pays for making and exporting its spans
// (scripts/bench.sh TRACED=1) without a collector's cost in the figures.
func serveOTLPSink(args []string) error {
	fs := flag.NewFlagSet("otlpsink", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:14318", "address to serve on")
	fs.Parse(args)
	var exports, bytesIn atomic.Int64
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		exports.Add(1)
		bytesIn.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	err := srv.ListenAndServe()
	log.Printf("otlpsink: %d exports, %d bytes", exports.Load(), bytesIn.Load())
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// serveNATS runs a standalone nats-server with JetStream, so the bridge
// and the reference handler reach the same server the same way (TCP on
// loopback) and neither gets the in-process shortcut.
func serveNATS(args []string) error {
	fs := flag.NewFlagSet("nats", flag.ExitOnError)
	port := fs.Int("port", 14222, "client port on 127.0.0.1")
	dir := fs.String("dir", "", "JetStream store directory")
	fs.Parse(args)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: *port, JetStream: true, StoreDir: *dir, NoSigs: true})
	if err != nil {
		return err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return errors.New("nats not ready")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return nil
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func drive(args []string) error {
	fs := flag.NewFlagSet("loadtest", flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:8080/webhooks/load", "webhook URL (loopback)")
	rate := fs.Int("rate", 1000, "requests per second")
	conc := fs.Int("concurrency", 64, "most requests in flight")
	dur := fs.Duration("duration", 10*time.Second, "how long to send (at most 5m)")
	maxReq := fs.Int("max-requests", 1_000_000, "stop after this many requests")
	format := fs.String("format", "harbor", "body format: harbor, distribution or generic")
	namespaces := fs.Int("namespaces", 20, "spread pushes over this many namespaces")
	metricsURL := fs.String("metrics-url", "", "the bridge's /metrics URL, on its admin listener: check stored jobs against 202s")
	natsURL := fs.String("nats", "", "NATS URL: check stored jobs in --stream against 202s")
	stream := fs.String("stream", "LOADREF", "stream to count with --nats")
	label := fs.String("label", "", "name printed on the result line")
	intakeNATS := fs.String("intake-nats", "", "send over the bridge's NATS intake at this NATS URL instead of HTTP")
	subject := fs.String("subject", "scanbridge.intake.load", "with --intake-nats: the intake subject")
	var headers headerFlags
	fs.Var(&headers, "H", "extra header 'Name: value' (repeatable)")
	fs.Parse(args)
	if *dur > 5*time.Minute {
		return errors.New("--duration is capped at 5m")
	}
	for _, u := range []string{*url, *intakeNATS} {
		if u == "" {
			continue
		}
		_, rest, _ := strings.Cut(u, "://")
		if !strings.HasPrefix(rest, "127.") && !strings.HasPrefix(rest, "localhost") && !strings.HasPrefix(rest, "[::1]") {
			return fmt.Errorf("%s: only loopback addresses", u)
		}
	}
	var nc *nats.Conn
	if *intakeNATS != "" {
		var err error
		if nc, err = nats.Connect(*intakeNATS); err != nil {
			return fmt.Errorf("connect %s: %w", *intakeNATS, err)
		}
		defer nc.Close()
	}

	before, err := storedCount(*metricsURL, *natsURL, *stream)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}, Timeout: 10 * time.Second}
	run := time.Now().UnixNano()
	var (
		seq      atomic.Int64
		codes    sync.Map // int → *atomic.Int64
		errCount atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, *rate*int(dur.Seconds()+1))
		wg       sync.WaitGroup
		sem      = make(chan struct{}, *conc)
		dropped  int
	)
	interval := time.Second / time.Duration(*rate)
	start := time.Now()
	next := start
	for i := 0; i < *maxReq && time.Since(start) < *dur; i++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		select {
		case sem <- struct{}{}:
		default:
			dropped++ // the server is slower than the schedule: count it, do not queue
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n := seq.Add(1)
			body := makeBody(*format, run, n, *namespaces)
			if nc != nil {
				t0 := time.Now()
				status, err := natsRequest(nc, *subject, body)
				d := time.Since(t0)
				if err != nil {
					errCount.Add(1)
					return
				}
				c, _ := codes.LoadOrStore(status, new(atomic.Int64))
				c.(*atomic.Int64).Add(1)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				return
			}
			req, _ := http.NewRequest(http.MethodPost, *url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for _, h := range headers {
				k, v, _ := strings.Cut(h, ":")
				req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			t0 := time.Now()
			resp, err := client.Do(req)
			d := time.Since(t0)
			if err != nil {
				errCount.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c, _ := codes.LoadOrStore(resp.StatusCode, new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	var accepted int64
	codeText := []string{}
	codes.Range(func(k, v any) bool {
		n := v.(*atomic.Int64).Load()
		if k.(int) == http.StatusAccepted {
			accepted = n
		}
		codeText = append(codeText, fmt.Sprintf("%d:%d", k.(int), n))
		return true
	})
	slices.Sort(codeText)
	fmt.Printf("%-10s sent=%d ok_rps=%.0f p50=%s p90=%s p99=%s max=%s codes=[%s] errors=%d skipped_by_concurrency=%d\n",
		*label, seq.Load(), float64(len(lat))/elapsed.Seconds(), pct(.50), pct(.90), pct(.99), pct(1),
		strings.Join(codeText, " "), errCount.Load(), dropped)
	if *metricsURL == "" && *natsURL == "" {
		return nil
	}
	// The store is checked after the last answer: every 202 must be a
	// stored job by then (202 is sent only after the PubAck).
	after, err := storedCount(*metricsURL, *natsURL, *stream)
	if err != nil {
		return err
	}
	fmt.Printf("%-10s stored=%d accepted_202=%d match=%v\n", *label, after-before, accepted, after-before == accepted)
	if after-before != accepted {
		return errors.New("stored jobs do not match the 202 answers")
	}
	return nil
}

// natsRequest sends one body to the NATS intake and returns the status
// code its reply carries.
func natsRequest(nc *nats.Conn, subject string, body []byte) (int, error) {
	reply, err := nc.Request(subject, body, 10*time.Second)
	if err != nil {
		return 0, err
	}
	var ans struct {
		Code int `json:"code"`
	}
	if err := json.Unmarshal(reply.Data, &ans); err != nil {
		return 0, err
	}
	return ans.Code, nil
}

// makeBody returns a push of a tag never sent before in this run, so each
// request is one new job (no duplicate suppression flatters the figures).
func makeBody(format string, run, n int64, namespaces int) []byte {
	ns := "load" + strconv.FormatInt(n%int64(namespaces), 10)
	tag := fmt.Sprintf("r%d-%d", run%1_000_000, n)
	switch format {
	case "distribution":
		return fmt.Appendf(nil, `{"events":[{"id":"%d-%d","timestamp":"2026-01-01T00:00:00Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%064d","size":1234,"length":1234,"repository":"%s/app","url":"http://127.0.0.1:5000/v2/%s/app/manifests/sha256:%064d","tag":"%s"},"request":{"id":"r%d","addr":"127.0.0.1","host":"127.0.0.1:5000","method":"PUT","useragent":"loadtest"},"actor":{},"source":{"addr":"127.0.0.1:5000","instanceID":"loadtest"}}]}`,
			run, n, n, ns, ns, n, tag, n)
	case "generic":
		return fmt.Appendf(nil, `{"events":[{"repository":"%s/app","tag":"%s","digest":"sha256:%064d"}]}`, ns, tag, n)
	default:
		return fmt.Appendf(nil, `{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci","event_data":{"resources":[{"digest":"sha256:%064d","tag":"%s","resource_url":"harbor.local/%s/app:%s"}],"repository":{"date_created":1700000000,"name":"app","namespace":"%s","repo_full_name":"%s/app","repo_type":"private"}}}`,
			n, tag, ns, tag, ns, ns)
	}
}

// storedCount reads the bridge's published-jobs counter, or the message
// count of a stream.
func storedCount(metricsURL, natsURL, stream string) (int64, error) {
	switch {
	case metricsURL != "":
		resp, err := http.Get(metricsURL)
		if err != nil {
			return 0, fmt.Errorf("scrape %s: %w", metricsURL, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var total float64
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "scanbridge_queue_jobs_published_total") {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				total += v
			}
		}
		return int64(total), nil
	case natsURL != "":
		nc, err := nats.Connect(natsURL)
		if err != nil {
			return 0, fmt.Errorf("connect: %w", err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", stream, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0, err
		}
		return int64(info.State.LastSeq), nil
	}
	return 0, nil
}

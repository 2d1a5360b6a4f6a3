// Command lifecycle-run measures the bridge's whole scan lifecycle, push
// to scanned, in a real run: the bridge binary (cmd/bridge) against the
// fake HSS (hssclient/hsstest) over loopback at HSS's real quotas, with a
// nats-server in this process. It prints one markdown table per scenario,
// writes the raw numbers as JSON, and exits non-zero when an image got no
// terminal result or HSS answered a 429. See README.md beside it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// opts are the flags.
type opts struct {
	scenarios    string
	repo         string
	bridgeBin    string
	jsonOut      string
	keep         bool
	logLevel     string
	seed         uint64
	quota        int
	scanDuration time.Duration
	syncDelay    time.Duration
	autoSync     time.Duration
	unknown      string

	images, namespaces int
	window             time.Duration
	dist               string
	lateShare          float64
	lateDelay          time.Duration
	deadline           time.Duration
	lateDeadline       time.Duration

	burstImages, burstNamespaces int
	burstDeadline                time.Duration
	burstIdle                    time.Duration
	zipfS                        float64
}

// scenario is one run.
type scenario struct {
	name, title string
	images      int
	namespaces  int
	dist        string
	zipfS       float64
	window      time.Duration
	lateShare   float64
	lateDelay   time.Duration
	deadline    time.Duration
	preknown    bool          // images in SWR and known to HSS before the pushes
	idle        time.Duration // wait after the bridge is ready, before the pushes
}

func main() {
	var o opts
	flag.StringVar(&o.scenarios, "scenarios", "A,B,C", "scenarios to run, in order (A, B, C)")
	flag.StringVar(&o.repo, "repo", ".", "module root to build ./cmd/bridge from")
	flag.StringVar(&o.bridgeBin, "bridge", "", "a bridge binary to run instead of building one")
	flag.StringVar(&o.jsonOut, "json", "lifecycle-run.json", "file for the raw numbers")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dirs (bridge config, log, stores)")
	flag.StringVar(&o.logLevel, "log-level", "info", "the bridge's log.level")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the push plans")
	flag.IntVar(&o.quota, "quota", 5, "calls per minute per API at the fake, and hss.calls_per_minute")
	flag.DurationVar(&o.scanDuration, "scan-duration", time.Minute, "time a scan takes at the fake")
	flag.DurationVar(&o.syncDelay, "sync-delay", 10*time.Second, "time an image sync takes at the fake")
	flag.DurationVar(&o.autoSync, "auto-sync-after", 0, "the fake learns an SWR image this long after it appears without a sync (0: only syncs)")
	flag.StringVar(&o.unknown, "unknown", "silent200", "how the fake answers a scan of an image it does not know: silent200 or 400")
	flag.IntVar(&o.images, "images", 1000, "A, B: images pushed")
	flag.IntVar(&o.namespaces, "namespaces", 100, "A, B: namespaces")
	flag.DurationVar(&o.window, "window", time.Minute, "A, B: the pushes are spread evenly over this")
	flag.StringVar(&o.dist, "dist", "uniform", "A, B: namespace of each image: uniform or zipf")
	flag.Float64Var(&o.lateShare, "late-share", 0.10, "B: share of images that appear in SWR late")
	flag.DurationVar(&o.lateDelay, "late-delay", 5*time.Minute, "B: how late")
	flag.DurationVar(&o.deadline, "deadline", 20*time.Minute, "A: bound on the wait for every result")
	flag.DurationVar(&o.lateDeadline, "late-deadline", 25*time.Minute, "B: bound on the wait for every result")
	flag.IntVar(&o.burstImages, "burst-images", 500, "C: images pushed at once")
	flag.IntVar(&o.burstNamespaces, "burst-namespaces", 300, "C: namespaces (Zipf)")
	flag.DurationVar(&o.burstDeadline, "burst-deadline", 10*time.Minute, "C: bound on the wait for every result")
	flag.DurationVar(&o.burstIdle, "burst-idle", 70*time.Second, "C: idle time between the bridge's start and the burst (a fresh quota minute)")
	flag.Float64Var(&o.zipfS, "zipf-s", 1.1, "Zipf exponent (s > 1)")
	flag.Parse()
	if o.unknown != "silent200" && o.unknown != "400" {
		log.Fatalf("-unknown %q: silent200 or 400", o.unknown)
	}
	if o.dist != "uniform" && o.dist != "zipf" {
		log.Fatalf("-dist %q: uniform or zipf", o.dist)
	}
	if o.zipfS <= 1 {
		log.Fatalf("-zipf-s %v: must be above 1", o.zipfS)
	}
	if o.images < 1 || o.images > 20000 || o.burstImages < 1 || o.burstImages > 20000 || o.namespaces < 1 || o.burstNamespaces < 2 {
		log.Fatalf("-images and -burst-images: 1 to 20000; -namespaces at least 1, -burst-namespaces at least 2")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, o))
}

func scenarios(o opts) (map[string]scenario, error) {
	all := map[string]scenario{
		"A": {name: "A", title: fmt.Sprintf("A: %d images over %d namespaces (%s) pushed in %s, all in SWR at push", o.images, o.namespaces, o.dist, o.window),
			images: o.images, namespaces: o.namespaces, dist: o.dist, zipfS: o.zipfS, window: o.window, deadline: o.deadline},
		"B": {name: "B", title: fmt.Sprintf("B: as A, %.0f %% of the images in SWR only %s after their push", o.lateShare*100, o.lateDelay),
			images: o.images, namespaces: o.namespaces, dist: o.dist, zipfS: o.zipfS, window: o.window,
			lateShare: o.lateShare, lateDelay: o.lateDelay, deadline: o.lateDeadline},
		"C": {name: "C", title: fmt.Sprintf("C: burst of %d pushes over %d namespaces (Zipf s=%.2f) into an idle bridge, images already known to HSS", o.burstImages, o.burstNamespaces, o.zipfS),
			images: o.burstImages, namespaces: o.burstNamespaces, dist: "zipf", zipfS: o.zipfS,
			deadline: o.burstDeadline, preknown: true, idle: o.burstIdle},
	}
	return all, nil
}

func run(ctx context.Context, o opts) int {
	all, _ := scenarios(o)
	var todo []scenario
	for _, n := range strings.Split(o.scenarios, ",") {
		sc, ok := all[strings.ToUpper(strings.TrimSpace(n))]
		if !ok {
			log.Printf("-scenarios: unknown scenario %q (A, B, C)", n)
			return 2
		}
		todo = append(todo, sc)
	}
	bin := o.bridgeBin
	if bin == "" {
		dir, err := os.MkdirTemp("", "lifecycle-run-bin-")
		if err != nil {
			log.Printf("temp dir: %v", err)
			return 2
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "bridge")
		log.Printf("building %s/cmd/bridge", o.repo)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bridge")
		cmd.Dir, cmd.Stdout, cmd.Stderr = o.repo, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Printf("go build ./cmd/bridge: %v", err)
			return 2
		}
	}
	var reports []*report
	failed := false
	for _, sc := range todo {
		rep, err := runScenario(ctx, o, sc, bin)
		if rep != nil {
			reports = append(reports, rep)
			fmt.Println(rep.markdown())
			if !rep.OK {
				failed = true
			}
		}
		if err != nil {
			log.Printf("scenario %s: %v", sc.name, err)
			failed = true
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := writeJSON(o.jsonOut, o, reports); err != nil {
		log.Printf("write %s: %v", o.jsonOut, err)
		failed = true
	} else {
		log.Printf("raw numbers in %s", o.jsonOut)
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

func writeJSON(path string, o opts, reps []*report) error {
	doc := map[string]any{
		"settings": map[string]any{
			"quota_per_minute_per_api": o.quota, "scan_duration": o.scanDuration.String(),
			"sync_delay": o.syncDelay.String(), "auto_sync_after": o.autoSync.String(),
			"unknown_images": o.unknown, "seed": o.seed,
			"bridge": "every queue.consumer, hss.presence_check, hss.sync_interval and hss.watch setting at its default; receiver harbor, token auth, rate_limit 1000/s burst 1000",
		},
		"scenarios": reps,
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// runScenario runs one scenario in a fresh world and measures it.
func runScenario(ctx context.Context, o opts, sc scenario, bin string) (*report, error) {
	log.Printf("scenario %s", sc.title)
	e, err := startEnv(ctx, o, sc, bin)
	keep := o.keep
	defer func() {
		if keep {
			log.Printf("scenario %s: kept %s (bridge log %s)", sc.name, e.dir, e.logPath)
		}
		e.stop(keep)
	}()
	if err != nil {
		keep = true
		return nil, err
	}
	res, err := readResults(ctx, e.natsURL)
	if err != nil {
		keep = true
		return nil, err
	}
	defer res.close()

	imgs := plan(sc, o.seed)
	if sc.preknown {
		// In SWR and known to HSS before the burst: a sync, then its delay.
		before := time.Now().Add(-30 * time.Second)
		for _, im := range imgs {
			e.fake.PushToSWR(target(), imageType, im.Namespace, im.Name, im.Tag, im.Digest, before)
		}
		e.fake.Synchronize(target(), imageType)
	}
	if sc.preknown {
		// HSS must have finished that sync before the burst.
		sc.idle = max(sc.idle, o.syncDelay+2*time.Second)
	}
	if sc.idle > 0 {
		log.Printf("scenario %s: bridge idle for %s before the pushes", sc.name, sc.idle)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(sc.idle):
		}
	}
	start := time.Now()
	pushDone := make(chan struct{})
	go func() {
		pushAll(ctx, e, imgs, start, sc.lateDelay)
		close(pushDone)
	}()

	deadline := start.Add(sc.deadline)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	pushed := false
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-pushDone:
			pushDone, pushed = nil, true
			log.Printf("scenario %s: %d pushes sent in %s", sc.name, len(imgs), time.Since(start).Round(time.Millisecond))
		case <-tick.C:
			log.Printf("scenario %s: %s: %d/%d results; calls %s", sc.name, time.Since(start).Round(time.Second),
				res.count(), len(imgs), callSummary(e.rec.snapshot()))
		case <-poll.C:
			if pushed && res.count() >= accepted(imgs) {
				break wait
			}
			if time.Now().After(deadline) {
				log.Printf("scenario %s: deadline %s reached with %d/%d results", sc.name, sc.deadline, res.count(), len(imgs))
				break wait
			}
		}
	}
	if pushDone != nil {
		<-pushDone // bounded: pushes stop with ctx, each try by pushTimeout
	}
	rep := measure(o, sc, e, imgs, res, start)
	if states, err := lifecycleStates(context.WithoutCancel(ctx), e.natsURL); err != nil {
		log.Printf("scenario %s: lifecycle states: %v", sc.name, err)
	} else {
		rep.States = states
	}
	if !rep.OK {
		keep = true
		rep.BridgeLogTail = tail(e.logPath, 40)
	}
	return rep, nil
}

// accepted is the number of images the bridge accepted (202).
func accepted(imgs []*image) int {
	n := 0
	for _, im := range imgs {
		if im.Status/100 == 2 {
			n++
		}
	}
	return n
}

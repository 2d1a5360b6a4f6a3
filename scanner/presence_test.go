package scanner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// fakeCatalog is HSS's image list as the gate sees it: rows that appear
// at a time, listed newest window only, with counted calls.
type fakeCatalog struct {
	mu      sync.Mutex
	rows    []catalogRow
	lists   int
	syncs   int
	listErr error
}

type catalogRow struct {
	presenceRow
	appears time.Time // known to HSS from then on
}

func (c *fakeCatalog) add(r presenceRow, appears time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows = append(c.rows, catalogRow{r, appears})
}

func (c *fakeCatalog) listPage(_ context.Context, _ scanjob.Target, since time.Time, offset, limit int) ([]presenceRow, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lists++
	if c.listErr != nil {
		return nil, 0, c.listErr
	}
	now := time.Now()
	var match []presenceRow
	for _, r := range c.rows {
		if !r.appears.After(now) && !r.appears.Before(since) {
			match = append(match, r.presenceRow)
		}
	}
	if offset >= len(match) {
		return nil, len(match), nil
	}
	return match[offset:min(len(match), offset+limit)], len(match), nil
}

func (c *fakeCatalog) sync(context.Context, scanjob.Target) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncs++
	return nil
}

func (c *fakeCatalog) calls() (lists, syncs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists, c.syncs
}

var presenceTarget = scanjob.Target{Region: "cn-north-4", ProjectID: "p1", ImageType: scanjob.PrivateImage}

func presenceJob(namespace, image, tag string) scanjob.Job {
	return scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: namespace, Image: image, Tag: tag,
		Target: presenceTarget, AcceptedAt: time.Now()}
}

func rowOf(j scanjob.Job) presenceRow {
	return presenceRow{Namespace: j.Namespace, Name: j.Image, Version: j.Tag, Digest: j.Digest}
}

// fate follows one job through the gate as the queue would: split, wait
// the deferral, split again, until it is known or given up. It returns
// what became of it, the deferrals' reasons and the time it took.
func fate(t *testing.T, g *presenceGate, j scanjob.Job) (outcome string, reasons []string, took time.Duration) {
	t.Helper()
	start := time.Now()
	for range 1000 {
		s, err := g.split(t.Context(), j.Target, []scanjob.Job{j})
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		switch {
		case len(s.Known) == 1:
			return "known", reasons, time.Since(start)
		case len(s.GivenUp) == 1:
			gu := s.GivenUp[j.ItemKey()]
			if gu.Reason != queue.ReasonNotInSWR {
				t.Errorf("given up with reason %q", gu.Reason)
			}
			return "given up", reasons, time.Since(start)
		}
		d, ok := s.Deferred[j.ItemKey()]
		if !ok || d.Delay <= 0 {
			t.Fatalf("split settled nothing: %+v", s)
		}
		reasons = append(reasons, d.Reason)
		time.Sleep(d.Delay)
	}
	t.Fatal("no outcome after 1000 rounds")
	return "", nil, 0
}

func TestPresenceGateWaitsForAnImageThatAppearsLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := &fakeCatalog{}
		g := newPresenceGate(presenceConfig{}, cat, nil)
		j := presenceJob("team", "app", "1")
		cat.add(rowOf(j), time.Now().Add(3*time.Minute)) // replicated and synced after 3m
		outcome, reasons, took := fate(t, g, j)
		if outcome != "known" {
			t.Fatalf("outcome %s, want known", outcome)
		}
		// Deferred on the 15s, 30s, 1m, 2m grid: known at the first tick
		// of the 2m grid after 3m.
		if took < 3*time.Minute || took > 5*time.Minute {
			t.Errorf("known after %s; the backoff should find it within a doubling of 3m", took)
		}
		lists, syncs := cat.calls()
		if lists < 2 || lists > len(reasons)+1 || syncs != 1 {
			t.Errorf("%d lists and %d syncs for %d deferrals; want at most a list per look and one sync (sync_interval 5m)",
				lists, syncs, len(reasons))
		}
		if reasons[0] != deferSyncing {
			t.Errorf("first deferral reason %q, want %q", reasons[0], deferSyncing)
		}
	})
}

func TestPresenceGateGivesUpAfterTheReceiversTimeout(t *testing.T) {
	tests := []struct {
		name     string
		timeouts map[string]time.Duration
		want     time.Duration
	}{
		{"the default 30m", nil, 30 * time.Minute},
		{"the receiver's own", map[string]time.Duration{"harbor": 2 * time.Minute}, 2 * time.Minute},
		{"another receiver's does not apply", map[string]time.Duration{"ghcr": 2 * time.Minute}, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cat := &fakeCatalog{}
				g := newPresenceGate(presenceConfig{Timeouts: tt.timeouts}, cat, nil)
				outcome, _, took := fate(t, g, presenceJob("team", "never", "1"))
				if outcome != "given up" {
					t.Fatalf("outcome %s", outcome)
				}
				// Given up by the first check after the deadline.
				if took < tt.want || took > tt.want+defaultListInterval {
					t.Errorf("given up after %s, want %s (+ at most one list interval)", took, tt.want)
				}
				_, syncs := cat.calls()
				if max := int(tt.want/DefaultSyncInterval) + 1; syncs > max {
					t.Errorf("%d syncs in %s, want at most one per sync_interval (%d)", syncs, took, max)
				}
			})
		})
	}
}

func TestDeferredItemsComeBackTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newPresenceGate(presenceConfig{}, &fakeCatalog{}, nil)
		// Jobs accepted at different times, looked at at different times:
		// each comes back on a tick of its step's grid, and the ticks of
		// the larger steps are ticks of the smaller ones.
		back := map[time.Time]int{}
		for i := range 20 {
			j := presenceJob("team", fmt.Sprint("app", i), "1")
			j.AcceptedAt = time.Now().Add(-time.Duration(i) * 37 * time.Second)
			time.Sleep(1300 * time.Millisecond)
			s, err := g.split(t.Context(), presenceTarget, []scanjob.Job{j})
			if err != nil {
				t.Fatal(err)
			}
			d := s.Deferred[j.ItemKey()].Delay
			step := g.backoff(time.Since(j.AcceptedAt))
			at := time.Now().Add(d)
			if d < step/2 || d > step+step/2 || at.UnixNano()%int64(step) != 0 {
				t.Errorf("job of age %s: back in %s at %s, want a tick of the %s grid within 1.5 steps",
					time.Since(j.AcceptedAt), d, at.Format(time.TimeOnly), step)
			}
			back[at]++
		}
		if len(back) > 8 {
			t.Errorf("20 jobs come back at %d distinct times, want them grouped on the grid", len(back))
		}
	})
}

func TestPresenceGateOneListAnswersForManyNamespaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := &fakeCatalog{}
		g := newPresenceGate(presenceConfig{}, cat, nil)
		var jobs []scanjob.Job
		for i := range 100 {
			j := presenceJob(fmt.Sprintf("ns%03d", i), "app", "1")
			jobs = append(jobs, j)
			if i%2 == 0 {
				cat.add(rowOf(j), time.Now())
			}
		}
		// One call with all of them, then the same items in calls of
		// ten (other replicas' packing): one list call in all.
		s, err := g.split(t.Context(), presenceTarget, jobs)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Known) != 50 || len(s.Deferred) != 50 || s.Checks != 1 {
			t.Errorf("known %d, deferred %d, checks %d; want 50, 50, 1", len(s.Known), len(s.Deferred), s.Checks)
		}
		for i := 0; i < 100; i += 10 {
			if _, err := g.split(t.Context(), presenceTarget, jobs[i:i+10]); err != nil {
				t.Fatal(err)
			}
		}
		if lists, _ := cat.calls(); lists != 1 {
			t.Errorf("%d list calls for 100 namespaces, want 1", lists)
		}
	})
}

func TestPresenceGateMatchesRowsExactly(t *testing.T) {
	digest := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	tests := []struct {
		name string
		job  func(j *scanjob.Job)
		row  func(r *presenceRow)
		want bool
	}{
		{"same name and tag", nil, nil, true},
		{"the row's digest when the job has none", nil, func(r *presenceRow) { r.Digest = digest('a') }, true},
		{"the same digest", func(j *scanjob.Job) { j.Digest = digest('a') }, func(r *presenceRow) { r.Digest = digest('a') }, true},
		{"the tag re-pushed: another digest", func(j *scanjob.Job) { j.Digest = digest('b') }, func(r *presenceRow) { r.Digest = digest('a') }, false},
		{"a tag that only contains the job's", nil, func(r *presenceRow) { r.Version = "1.0" }, false},
		{"an image in another namespace", nil, func(r *presenceRow) { r.Namespace = "team-b" }, false},
		{"an image whose name starts like the job's", nil, func(r *presenceRow) { r.Name = "app-web" }, false},
		{"another SWR Enterprise instance", func(j *scanjob.Job) { j.InstanceID = "i1" }, func(r *presenceRow) { r.InstanceID = "i2" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := presenceJob("team", "app", "1")
				if tt.job != nil {
					tt.job(&j)
				}
				r := presenceRow{Namespace: "team", Name: "app", Version: "1"}
				if tt.row != nil {
					tt.row(&r)
				}
				cat := &fakeCatalog{}
				cat.add(r, time.Now())
				g := newPresenceGate(presenceConfig{}, cat, nil)
				s, err := g.split(t.Context(), presenceTarget, []scanjob.Job{j})
				if err != nil {
					t.Fatal(err)
				}
				if got := len(s.Known) == 1; got != tt.want {
					t.Errorf("known = %v, want %v", got, tt.want)
				}
			})
		})
	}
}

func TestPresenceGateDoesNotGiveUpOnWhatItCouldNotRead(t *testing.T) {
	t.Run("a list cut at its page bound goes on at the next check", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cat := &fakeCatalog{}
			g := newPresenceGate(presenceConfig{PageSize: 10, MaxPages: 2,
				Timeouts: map[string]time.Duration{"harbor": time.Minute}}, cat, nil)
			for i := range 25 { // more rows than one check reads
				cat.add(presenceRow{Namespace: "busy", Name: "img", Version: fmt.Sprint(i)}, time.Now())
			}
			late := presenceJob("team", "late", "1") // on the third page
			cat.add(presenceRow{Namespace: "team", Name: "late", Version: "1"}, time.Now())
			absent := presenceJob("team", "app", "1")
			accepted := time.Now()
			found := false
			for range 40 {
				s, err := g.split(t.Context(), presenceTarget, []scanjob.Job{late, absent})
				if err != nil {
					t.Fatal(err)
				}
				found = found || slices.ContainsFunc(s.Known, func(j scanjob.Job) bool { return j.Image == "late" })
				if len(s.GivenUp) > 0 {
					if since := time.Since(accepted); since < time.Minute {
						t.Fatalf("given up %s after it was accepted, before its presence_timeout", since)
					}
					if !found {
						t.Fatal("the image on the third page was never found")
					}
					return
				}
				time.Sleep(s.Deferred[absent.ItemKey()].Delay)
			}
			t.Fatal("an image HSS never listed was not given up once every row had been read after its deadline")
		})
	})
	t.Run("a list that fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cat := &fakeCatalog{listErr: errors.New("HSS 503")}
			g := newPresenceGate(presenceConfig{Timeouts: map[string]time.Duration{"harbor": time.Minute}}, cat, nil)
			j := presenceJob("team", "app", "1")
			for range 20 {
				s, err := g.split(t.Context(), presenceTarget, []scanjob.Job{j})
				if err != nil {
					t.Fatalf("a failed list is the call's error: %v", err)
				}
				if len(s.GivenUp) > 0 {
					t.Fatal("given up while HSS could not be asked")
				}
				time.Sleep(s.Deferred[j.ItemKey()].Delay)
			}
			if _, syncs := cat.calls(); syncs != 0 {
				t.Errorf("%d syncs after failed lists, want none", syncs)
			}
		})
	})
}

func TestPresenceGateNeverSyncsInstanceImages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := &fakeCatalog{}
		g := newPresenceGate(presenceConfig{Timeouts: map[string]time.Duration{"harbor": 10 * time.Minute}}, cat, nil)
		j := presenceJob("team", "app", "1")
		j.Target.ImageType, j.InstanceID = scanjob.InstanceImage, "i1"
		if outcome, reasons, _ := fate(t, g, j); outcome != "given up" || reasons[0] != deferWaiting {
			t.Errorf("outcome %s, reasons %v", outcome, reasons)
		}
		if _, syncs := cat.calls(); syncs != 0 {
			t.Errorf("%d syncs of instance_image, want none (the API has no such type)", syncs)
		}
	})
}

func TestPresenceGateForgetsOnNotFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := &fakeCatalog{}
		g := newPresenceGate(presenceConfig{}, cat, nil)
		j := presenceJob("team", "app", "1")
		cat.add(rowOf(j), time.Now())
		if s, _ := g.split(t.Context(), presenceTarget, []scanjob.Job{j}); len(s.Known) != 1 {
			t.Fatal("not known")
		}
		g.forget(presenceTarget)
		out := presenceSplit{Deferred: map[string]queue.Deferral{}, GivenUp: map[string]queue.GiveUp{}}
		g.notFound(&out, presenceTarget, []scanjob.Job{j}, queue.Verdict{Class: queue.Permanent, Status: 400, Code: "HSS.0011"})
		if d := out.Deferred[j.ItemKey()]; d.Reason != deferNotFound || d.Delay != defaultPresenceBackoff {
			t.Errorf("deferral %+v", d)
		}
		// The next split lists afresh although the last list was just now.
		if s, _ := g.split(t.Context(), presenceTarget, []scanjob.Job{j}); len(s.Known) != 1 || s.Checks != 1 {
			t.Errorf("after forget: known %d, checks %d; want a fresh list", len(s.Known), s.Checks)
		}
	})
}

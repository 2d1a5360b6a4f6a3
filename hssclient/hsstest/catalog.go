package hsstest

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"time"
)

// The catalog models what real HSS keeps apart: the images that exist in
// SWR, and HSS's own copy of that list, which only a sync (or, with
// Options.AutoSyncAfter, time) brings up to date. Scans run only on images
// HSS knows, take Options.ScanQueueDelay in waiting_for_scan and
// Options.ScanDuration in scanning, and end in success with findings or in
// a failure with a reason.
//
// Every state is computed from times recorded when something happened
// (a push, a sync request, a scan request) and the clock at the moment of
// the question (advance), never by timers: the fake needs no goroutine,
// and a test that moves the clock (synctest, a settable Now) sees every
// step exactly when it is due.
//
// The catalog is keyed by region, project, image type, namespace, image
// name and tag; the enterprise project is not part of the key.

// UnknownMode says how a scan call answers when it names an image HSS does
// not know. Real HSS's answer is undocumented; a client must handle both.
type UnknownMode int

const (
	// UnknownImageSilent200 (the default) accepts the call with 200 and
	// scans only the images HSS knows: the unknown ones simply never start
	// scanning.
	UnknownImageSilent200 UnknownMode = iota
	// UnknownImage400 refuses the whole call with 400 HSS.0011 "Requested
	// resource not found." when any named image is unknown; nothing is
	// scanned.
	UnknownImage400
)

// Ref names an image tag in the catalog, across targets and image types.
type Ref struct {
	Namespace, Image, Tag string
}

func (r Ref) String() string { return r.Namespace + "/" + r.Image + ":" + r.Tag }

// Findings are the counts a successful scan reports.
type Findings struct {
	Vul, UnsafeSetting, MaliciousFile int
}

// imageKey identifies a catalog entry.
type imageKey struct {
	region, project, imageType string
	Ref
}

type scanRun struct {
	requested, started, ended time.Time
	// status is the terminal status: success, failed, download_failed or
	// image_oversized.
	status   string
	desc     string
	findings Findings
}

// image is one tag: its SWR side and, once known, HSS's side.
type image struct {
	key         imageKey
	instanceID  string
	instanceURL string
	// SWR side.
	inSWRAt      time.Time // when it appears in SWR (may be in the future)
	swrUpdatedAt time.Time // when swrDigest was pushed
	swrDigest    string
	// HSS side; id 0 means HSS does not know it.
	id        int64
	knownAt   time.Time
	hssDigest string
	// lastSync is the time of the newest sync that saw it.
	lastSync time.Time
	// cur is the newest scan request, prev the one before it, whose
	// result shows while cur runs.
	cur, prev *scanRun
}

type pendingSync struct {
	region, project, imageType string
	at                         time.Time
}

// catalog holds the images; the Fake's mutex guards it.
type catalog struct {
	images map[imageKey]*image
	// order is the images' keys as they were added, for evicting the
	// oldest past Options.MaxImages.
	order   []imageKey
	syncs   []pendingSync
	nextID  int64
	fails   map[Ref]string
	finding map[Ref]Findings
}

func newCatalog() *catalog {
	return &catalog{images: map[imageKey]*image{}, fails: map[Ref]string{}, finding: map[Ref]Findings{}}
}

// PushToSWR makes an image tag exist in SWR from time at (which may be in
// the future: the tag then appears only then, as after a replication
// lag). HSS does not know it until a sync that completes after at, or
// Options.AutoSyncAfter past at. Pushing a known tag again with another
// digest changes it in SWR; HSS sees the new digest after the next sync,
// which also resets its scan state.
func (f *Fake) PushToSWR(t Target, imageType, namespace, imageName, tag, digest string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := imageKey{region: t.Region, project: t.ProjectID, imageType: imageType, Ref: Ref{namespace, imageName, tag}}
	im := f.cat.images[k]
	if im == nil {
		im = &image{key: k, inSWRAt: at}
		f.cat.add(k, im, f.opts.MaxImages)
	} else if at.Before(im.inSWRAt) {
		im.inSWRAt = at
	}
	im.swrDigest, im.swrUpdatedAt = digest, at
}

// Pushed is the registry's side of the simulator: the push of a tag that
// a registry reported at `at` (the bridge's dry run calls it for each job
// it takes, with the time the webhook was accepted) reaches SWR
// Options.ReplicationDelay later, and HSS learns it as any SWR image: after
// a sync that completes then or later, or Options.AutoSyncAfter past it.
// So a dry run's presence check, sync and scan meet an HSS that learns
// images the way HSS does, not from the scans that name them. Reporting
// the same push again changes nothing.
func (f *Fake) Pushed(t Target, imageType string, ref Ref, digest string, at time.Time) {
	f.PushToSWR(t, imageType, ref.Namespace, ref.Image, ref.Tag, digest, at.Add(f.opts.ReplicationDelay))
}

// FailScan makes every later scan of ref (any target or type) end in
// failure with scan_failed_desc desc. download_failed and
// image_oversized (or image_over_sized) end with that scan_status, any
// other desc with failed. An empty desc removes the override.
func (f *Fake) FailScan(ref Ref, desc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if desc == "" {
		delete(f.cat.fails, ref)
		return
	}
	f.cat.fails[ref] = desc
}

// SetFindings sets what later successful scans of ref report, instead of
// the counts derived from its name.
func (f *Fake) SetFindings(ref Ref, fd Findings) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cat.finding[ref] = fd
}

// DefaultFindings are the counts a scan of ref reports without
// SetFindings: derived from the name, so every run agrees.
func DefaultFindings(ref Ref) Findings {
	h := fnv.New32a()
	h.Write([]byte(ref.String()))
	s := h.Sum32()
	fd := Findings{Vul: int(s % 23), UnsafeSetting: int(s>>8) % 4}
	if (s>>16)%10 == 0 {
		fd.MaliciousFile = 1
	}
	return fd
}

// requestSync records a sync of the type that completes after SyncDelay.
// f.mu must be held.
func (f *Fake) requestSync(region, project, imageType string, now time.Time) {
	f.cat.syncs = append(f.cat.syncs, pendingSync{region: region, project: project, imageType: imageType, at: now.Add(f.opts.SyncDelay)})
}

// advance brings HSS's side up to now: completed syncs and automatic syncs
// make SWR images known. f.mu must be held.
func (f *Fake) advance(now time.Time) {
	kept := f.cat.syncs[:0]
	var done []pendingSync
	for _, s := range f.cat.syncs {
		if s.at.After(now) {
			kept = append(kept, s)
		} else {
			done = append(done, s)
		}
	}
	f.cat.syncs = kept
	// Every sighting due by now, in time order (images in name order
	// within one time), so ids follow the order HSS learned the images.
	// Only the sightings are sorted: a call costs one pass over the
	// catalog.
	type sighting struct {
		at time.Time
		im *image
	}
	var due []sighting
	for _, im := range f.cat.images {
		for _, s := range done {
			if s.region == im.key.region && s.project == im.key.project && s.imageType == im.key.imageType {
				due = append(due, sighting{s.at, im})
			}
		}
		if a := f.opts.AutoSyncAfter; a > 0 && (im.id == 0 || im.hssDigest != im.swrDigest) {
			if at := im.swrUpdatedAt.Add(a); !at.After(now) {
				due = append(due, sighting{at, im})
			}
		}
	}
	slices.SortFunc(due, func(a, b sighting) int {
		return cmp.Or(a.at.Compare(b.at), compareKeys(a.im.key, b.im.key))
	})
	for _, s := range due {
		f.learn(s.im, s.at)
	}
}

// learn is a sync at time at that reads im from SWR.
func (f *Fake) learn(im *image, at time.Time) {
	if im.inSWRAt.After(at) {
		return // not in SWR yet
	}
	if im.id == 0 {
		f.cat.nextID++
		im.id = f.cat.nextID
		im.knownAt, im.hssDigest = at, im.swrDigest
	} else if im.hssDigest != im.swrDigest && !im.swrUpdatedAt.After(at) {
		im.knownAt, im.hssDigest = at, im.swrDigest
		im.cur, im.prev = nil, nil
	}
	if at.After(im.lastSync) {
		im.lastSync = at
	}
}

func (f *Fake) sortedImages() []*image {
	out := make([]*image, 0, len(f.cat.images))
	for _, im := range f.cat.images {
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b *image) int { return compareKeys(a.key, b.key) })
	return out
}

func compareKeys(a, b imageKey) int {
	return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.project, b.project),
		cmp.Compare(a.imageType, b.imageType), cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Image, b.Image), cmp.Compare(a.Tag, b.Tag))
}

// maxAssumed bounds the catalog that AssumeInSWR grows, so a long dry run
// holds a bounded number of images; beyond it, newly named images stay
// unknown. The simulator also sets it as MaxImages, which bounds what
// PushToSWR (and so a dry run's Pushed) adds.
const maxAssumed = 100_000

// add puts im in the catalog under k, evicting the oldest images while
// it holds more than max (0: no bound). An evicted image is forgotten by
// SWR and HSS alike, as if deleted from the registry.
func (c *catalog) add(k imageKey, im *image, max int) {
	c.images[k] = im
	c.order = append(c.order, k)
	for max > 0 && len(c.images) > max && len(c.order) > 0 {
		delete(c.images, c.order[0])
		c.order = c.order[1:]
	}
}

// lookup finds the image a scan names, adding it to SWR at now under
// AssumeInSWR. It returns nil when HSS does not know it. f.mu must be
// held, and advance(now) done.
func (f *Fake) lookup(k imageKey, now time.Time) *image {
	im := f.cat.images[k]
	if im == nil && f.opts.AssumeInSWR && (f.opts.MaxImages > 0 || len(f.cat.images) < maxAssumed) {
		// In SWR from now; HSS cannot know it yet: an automatic sync is
		// due AutoSyncAfter (> 0) later, a requested one completes later.
		im = &image{key: k, inSWRAt: now, swrUpdatedAt: now, swrDigest: syntheticDigest(k.Ref)}
		f.cat.add(k, im, f.opts.MaxImages)
	}
	if im == nil || im.id == 0 || im.knownAt.After(now) {
		return nil
	}
	return im
}

// scan starts a scan of a known image at now, unless one is running.
// f.mu must be held.
func (f *Fake) scan(im *image, now time.Time) {
	if im.cur != nil && now.Before(im.cur.ended) {
		return
	}
	run := &scanRun{requested: now, started: now.Add(f.opts.ScanQueueDelay)}
	run.ended = run.started.Add(f.opts.ScanDuration)
	if desc, ok := f.cat.fails[im.key.Ref]; ok {
		run.desc = desc
		switch desc {
		case "download_failed":
			run.status = "download_failed"
		case "image_oversized", "image_over_sized":
			run.status = "image_oversized"
		default:
			run.status = "failed"
		}
	} else {
		run.status = "success"
		run.findings = DefaultFindings(im.key.Ref)
		if fd, ok := f.cat.finding[im.key.Ref]; ok {
			run.findings = fd
		}
	}
	if im.cur != nil {
		im.prev = im.cur
	}
	im.cur = run
}

// state is what the image list shows of im at now.
type state struct {
	status, desc string
	scanTime     int64 // ms, 0 when never scanned
	findings     Findings
}

func (im *image) state(now time.Time) state {
	done := im.cur
	var st state
	switch {
	case im.cur == nil:
		return state{status: "unscan"}
	case now.Before(im.cur.started):
		st.status, done = "waiting_for_scan", im.prev
	case now.Before(im.cur.ended):
		st.status, done = "scanning", im.prev
	default:
		st.status, st.desc = im.cur.status, im.cur.desc
	}
	if done != nil {
		st.scanTime = done.ended.UnixMilli()
		st.findings = done.findings
	}
	return st
}

// syntheticDigest is the digest of an image the fake invents (AssumeInSWR).
func syntheticDigest(r Ref) string {
	h := fnv.New64a()
	h.Write([]byte(r.String()))
	return fmt.Sprintf("sha256:%016x%048x", h.Sum64(), 0)
}

// Synchronize starts a sync of the image type in t, as RunImageSynchronize
// does (it completes after SyncDelay), without a request: for tests that
// set up HSS's side directly.
func (f *Fake) Synchronize(t Target, imageType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requestSync(t.Region, t.ProjectID, imageType, f.opts.Now())
}

// SimulatorAutoSync is how long after an image reaches the simulator's
// SWR (Pushed, or a scan naming it) its HSS learns it without a sync
// (SimulatorOptions).
const SimulatorAutoSync = 10 * time.Second

// SimulatorReplication is the simulator's replication lag (Pushed).
const SimulatorReplication = 2 * time.Second

// SimulatorOptions returns o set up for the --dry-run simulator: a push
// reported with Pushed reaches SWR SimulatorReplication later, unless o
// sets ReplicationDelay; every image a scan names exists in SWR
// (AssumeInSWR, for scans asked for by hand); and HSS learns an SWR image
// SimulatorAutoSync later without a sync, unless o already sets
// AutoSyncAfter. Scan timing and the unknown-image mode keep o's values
// (defaults: 5s waiting, 60s scanning, silent 200). Throttling is left as
// o sets it: the bridge paces itself.
func SimulatorOptions(o Options) Options {
	o.AssumeInSWR = true
	if o.MaxImages == 0 {
		o.MaxImages = maxAssumed
	}
	if o.ReplicationDelay == 0 {
		o.ReplicationDelay = SimulatorReplication
	}
	if o.AutoSyncAfter == 0 {
		o.AutoSyncAfter = SimulatorAutoSync
	}
	return o
}

// SetInstance names the SWR Enterprise Edition instance of an
// instance_image tag pushed with PushToSWR, which the lists then show in
// instance_id, instance_name and instance_url (and filter on instance_id).
// It reports whether the tag is in the catalog.
func (f *Fake) SetInstance(t Target, ref Ref, instanceID, instanceURL string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	im := f.cat.images[imageKey{region: t.Region, project: t.ProjectID, imageType: "instance_image", Ref: ref}]
	if im == nil {
		return false
	}
	im.instanceID, im.instanceURL = instanceID, instanceURL
	return true
}

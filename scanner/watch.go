package scanner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The watcher follows every requested scan to its result. HSS's scan APIs
// return no scan id and no result (a batch-scan answers 200 with no body),
// so the only way to learn that an image was scanned, and with what
// outcome, is HSS's image list (ListSwrImageRepository).
//
// One round:
//
//  1. Take the records in scan_requested and scanning from the lifecycle
//     store (the KV bucket every replica shares): in Run, from one KV
//     watch of the bucket kept while the lease is held (watch_index.go),
//     so finished records, kept for days, are not re-read every round.
//  2. Give up the ones whose first scan request is older than
//     hss.watch.scan_timeout: given_up with reason scan_timeout, one
//     result event (lifecycle's Finish) and a dead-letter record.
//  3. Per target and image type, list the images whose latest scan ended
//     after the oldest request (minus hss.watch.skew), across namespaces,
//     hss.watch.page_limit rows a call and at most hss.watch.max_pages
//     calls, each under a permit of the list API's budget at watch
//     priority (a presence check of a fresh push goes first). One call
//     answers for every image of the target, not one per image or
//     namespace.
//  4. Match rows exactly (namespace, image name, version, the SWR
//     Enterprise instance, and the digest when both sides know it): the
//     list's filters may match substrings and a re-pushed tag keeps its
//     name. Accept a terminal row only when its latest_scan_time is at
//     or after this attempt's request (before, it is the previous scan's
//     result), or when this attempt was seen scanning. scanning and
//     waiting_for_scan rows move the record to scanning; success to
//     scanned, the failures to scan_failed with HSS's scan_failed_desc as
//     the reason, both with the row's counts, through Finish (one event).
//  5. While a record waits in scan_requested unseen, at most every 30 s,
//     one call with scan_status=scanning shows the scans that started
//     (a first scan has no scan time yet, so the window cannot show it
//     running).
//  6. A record still in scan_requested hss.watch.rescan_after after its
//     request, with no sign at HSS, is the silent-200 case (HSS accepted a
//     scan of an image it does not know and scanned nothing). First one
//     call per target and image type with scan_status=scanning and one
//     with waiting_for_scan (whose rows the time window cannot show: a
//     first scan has no scan time yet) makes sure it is not merely slow.
//     Then its job goes into the job stream again under a new message id
//     (<job id>-rescan-<request time in ms>: the same for every try of
//     one attempt, so a watcher that crashed after publishing and
//     publishes again is deduplicated by the stream) and the record moves
//     to waiting_presence: the push path checks presence, syncs if need
//     be, and requests the scan again.
//
// Every change is a compare-and-set on the image's record (lifecycle
// Store.Update, Publisher.Finish) that first checks the record is still
// the attempt the row was matched against, so a result, a rescan and a
// give-up cannot overtake one another, and a restarted watcher (or a
// second one) repeats nothing: no second event, no extra scan.
//
// Only one replica watches at a time (Lease): the others would spend the
// same list budget on the same answers.
type Watcher struct {
	cfg   WatchConfig
	quota *Quota
	// cat is the catalog the watcher lists through (hss.api).
	cat   Catalog
	store watchStore
	// records, when set, is the lifecycle bucket: Run keeps the watched
	// records in memory from one watch of it (watch_index.go) instead of
	// reading the bucket every round.
	records jetstream.KeyValue
	finish  finisher
	resend  JobResender
	dead    DeadLetterer
	log     *slog.Logger

	// page is where the next round starts reading each group's rows when
	// the last round stopped at max_pages (row order is undocumented, so
	// this is best effort; a row missed now is read next time).
	page map[groupKey]int
	// progressAt is when each group's rows in progress were last asked for.
	progressAt map[groupKey]time.Time
	// taskAt is when each group's scan tasks were last read (failFast),
	// at most every taskEvery (0: progressEvery).
	taskAt    map[groupKey]time.Time
	taskEvery time.Duration
}

// progressEvery spaces the queries for rows in progress (scan_status
// scanning) of one target and image type: they only show a scan started,
// which the result will show anyway, so they get a small share of the
// list budget.
const progressEvery = 30 * time.Second

// imageLister is the part of hssclient.Client the watcher calls.
type imageLister interface {
	ListSwrImageRepository(ctx context.Context, t hssclient.Target, r hssclient.ListImagesRequest) (hssclient.ImagePage, error)
}

// watchStore is the part of lifecycle.Store the watcher uses.
type watchStore interface {
	Pending(ctx context.Context, limit int) ([]lifecycle.Record, error)
	Update(ctx context.Context, key string, fn func(*lifecycle.Record) error) (lifecycle.Record, error)
}

// finisher is lifecycle.Publisher's Finish: the terminal write and its one
// result event.
type finisher interface {
	Finish(ctx context.Context, key string, fn func(*lifecycle.Record)) (lifecycle.Record, error)
}

// JobResender puts a job into the job stream again under msgID.
type JobResender interface {
	Resend(ctx context.Context, job scanjob.Job, msgID string) error
}

// DeadLetterer records an image the watcher gave up, whose job was
// settled long ago (queue.Queue.DeadLetterJob, through an adapter).
type DeadLetterer interface {
	DeadLetter(ctx context.Context, job scanjob.Job, reason, msg string) error
}

// WatcherDeps are what a Watcher works with. Dead may be nil (no
// dead-letter record for a given-up image; its event still says why).
type WatcherDeps struct {
	Quota *Quota
	// Catalog is the HSS APIs the push path uses (HSS.Catalog). Nil:
	// Client, listed through ListSwrImageRepository (hss.api swr-v5).
	Catalog Catalog
	Client  imageLister
	Store   watchStore
	// Records is the lifecycle bucket (optional, recommended): Run then
	// follows it with one KV watch rather than reading it every round.
	Records jetstream.KeyValue
	Finish  finisher
	Resend  JobResender
	Dead    DeadLetterer
	Logger  *slog.Logger
}

// NewWatcher returns a watcher with cfg (zero fields take the defaults).
func NewWatcher(cfg WatchConfig, d WatcherDeps) (*Watcher, error) {
	def := DefaultWatchConfig()
	cfg.RescanAfter = cmp.Or(cfg.RescanAfter, def.RescanAfter)
	cfg.ScanTimeout = cmp.Or(cfg.ScanTimeout, def.ScanTimeout)
	cfg.PageLimit = cmp.Or(cfg.PageLimit, def.PageLimit)
	cfg.MaxPages = cmp.Or(cfg.MaxPages, def.MaxPages)
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if d.Quota == nil || (d.Catalog == nil && d.Client == nil) || d.Store == nil || d.Finish == nil || d.Resend == nil {
		return nil, errors.New("watcher: quota, catalog or client, store, finish and resend are required")
	}
	if d.Catalog == nil {
		d.Catalog = swrV5{c: listOnly{d.Client}}
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, quota: d.Quota, cat: d.Catalog, store: d.Store, finish: d.Finish,
		resend: d.Resend, dead: d.Dead, records: d.Records, log: log.With("component", "watch"), page: map[groupKey]int{}, progressAt: map[groupKey]time.Time{}}, nil
}

// idleWait is the pause between two reads of the store when nothing is
// watched: a KV scan, no HSS call.
const idleWait = 5 * time.Second

// Run watches until ctx is done. Call it under the lease (Lease.Run).
func (w *Watcher) Run(ctx context.Context) {
	w.log.Info("watching requested scans", "rescan_after", w.cfg.RescanAfter.String(), "scan_timeout", w.cfg.ScanTimeout.String())
	var ix *recordIndex
	defer func() {
		if ix != nil {
			ix.stop()
		}
	}()
	for ctx.Err() == nil {
		began := time.Now()
		var src pendingSource = w.store
		if w.records != nil {
			if ix != nil && ix.ended() {
				ix.stop()
				ix = nil
			}
			if ix == nil {
				var err error
				if ix, err = watchRecords(ctx, w.records, w.log); err != nil {
					w.log.Warn("watch lifecycle bucket; reading it instead", "error", err)
				}
			}
			if ix != nil {
				src = ix
			}
		}
		watched, err := w.round(ctx, src)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("watch round", "error", err)
		}
		wait := w.cfg.Interval - time.Since(began)
		if watched == 0 || err != nil {
			wait = max(wait, idleWait)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
}

// groupKey is one list query: a target and an image type.
type groupKey struct {
	target    hssclient.Target
	imageType hssclient.ImageType
}

// watched is one record in the round, with what the round learnt.
type watched struct {
	rec     lifecycle.Record
	seen    bool // a matching row of this attempt was found
	settled bool // the round changed it
}

// pendingSource gives the records in progress: the store (a read of the
// bucket) or the index (memory).
type pendingSource interface {
	Pending(ctx context.Context, limit int) ([]lifecycle.Record, error)
}

// Round runs one round, reading the records from the store, and returns
// how many records it watched.
func (w *Watcher) Round(ctx context.Context) (int, error) { return w.round(ctx, w.store) }

func (w *Watcher) round(ctx context.Context, src pendingSource) (int, error) {
	pending, err := src.Pending(ctx, 0)
	if err != nil {
		return 0, fmt.Errorf("read pending lifecycles: %w", err)
	}
	now := time.Now()
	groups := map[groupKey][]*watched{}
	n := 0
	for _, r := range pending {
		if r.State != lifecycle.ScanRequested && r.State != lifecycle.Scanning {
			continue
		}
		n++
		if now.Sub(firstRequest(r)) >= w.cfg.ScanTimeout {
			w.giveUp(ctx, r)
			continue
		}
		k := groupKey{target: hssTarget(r.Target), imageType: hssclient.ImageType(r.Target.ImageType)}
		groups[k] = append(groups[k], &watched{rec: r})
	}
	keys := make([]groupKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(a.target.String(), b.target.String()), cmp.Compare(a.imageType, b.imageType))
	})
	var errs []error
	for _, k := range keys {
		if err := w.watchGroup(ctx, k, groups[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// watchGroup reads one target and image type's recent results and acts on
// its records.
func (w *Watcher) watchGroup(ctx context.Context, k groupKey, recs []*watched) error {
	oldest := requestedAt(recs[0].rec)
	for _, x := range recs[1:] {
		if t := requestedAt(x.rec); t.Before(oldest) {
			oldest = t
		}
	}
	start := oldest.Add(-w.cfg.Skew)
	if start.Before(time.UnixMilli(0)) {
		start = time.UnixMilli(0)
	}
	req := ListQuery{ImageType: k.imageType, Limit: w.cfg.PageLimit, ScannedSince: start}
	offset := w.page[k]
	rows, next, err := w.listPages(ctx, k, req, offset, recs)
	w.page[k] = next
	w.apply(ctx, recs, rows)
	if err != nil {
		return err
	}
	w.failFast(ctx, k, recs, start)

	// Rows in progress: a first scan has no scan time yet, so the time
	// window cannot show it scanning. Asked for while a record waits
	// unseen, at most every progressEvery per group, and always before a
	// rescan (the silent-200 check: it must not be merely slow).
	now := time.Now()
	var unseen, due []*watched
	for _, x := range recs {
		if x.settled || x.seen || x.rec.State != lifecycle.ScanRequested {
			continue
		}
		unseen = append(unseen, x)
		if now.Sub(requestedAt(x.rec)) >= w.cfg.RescanAfter {
			due = append(due, x)
		}
	}
	if len(unseen) == 0 {
		return nil
	}
	if len(due) == 0 && now.Sub(w.progressAt[k]) < progressEvery {
		return nil
	}
	w.progressAt[k] = now
	statuses := []hssclient.ScanStatus{hssclient.ScanScanning}
	if len(due) > 0 {
		statuses = append(statuses, hssclient.ScanWaitingForScan)
	}
	for _, st := range statuses {
		r := ListQuery{ImageType: k.imageType, Limit: w.cfg.PageLimit, ScanStatus: st}
		rows, _, err := w.listPages(ctx, k, r, 0, unseen)
		if err != nil {
			return err
		}
		w.apply(ctx, unseen, rows)
	}
	for _, x := range due {
		if !x.settled && !x.seen {
			w.rescan(ctx, x.rec)
		}
	}
	return nil
}

// listPages reads up to max_pages pages of req from offset and returns
// the rows and where the next round should start (0: from the top).
func (w *Watcher) listPages(ctx context.Context, k groupKey, req ListQuery, offset int, recs []*watched) ([]hssclient.Image, int, error) {
	ids := make([]string, 0, len(recs))
	for _, x := range recs {
		ids = append(ids, x.rec.JobID)
	}
	var rows []hssclient.Image
	for range w.cfg.MaxPages {
		req.Offset = offset
		page, err := w.cat.List(ctx, k.target, req, Call{Quota: w.quota, Priority: PriorityWatch, Images: len(recs),
			JobIDs: ids, Log: true})
		if err != nil {
			return rows, offset, fmt.Errorf("list %s %s: %w", k.target, k.imageType, err)
		}
		rows = append(rows, page.Images...)
		offset += len(page.Images)
		if len(page.Images) == 0 || offset >= page.Total {
			return rows, 0, nil
		}
	}
	return rows, offset, nil
}

// apply matches rows to records and moves the records they tell about.
func (w *Watcher) apply(ctx context.Context, recs []*watched, rows []hssclient.Image) {
	for _, x := range recs {
		if x.settled {
			continue
		}
		row, ok := match(x.rec, rows)
		if !ok {
			continue
		}
		status := row.ScanStatus
		switch {
		case status == hssclient.ScanScanning || status == hssclient.ScanWaitingForScan:
			x.seen = true
			if x.rec.State == lifecycle.ScanRequested {
				w.markScanning(ctx, x, row)
			}
		case status.IsTerminal():
			// A result of this attempt: newer than the request, or after
			// this attempt was seen scanning.
			if x.rec.State != lifecycle.Scanning && row.LatestScanTime < requestedAt(x.rec).UnixMilli() {
				continue
			}
			x.seen = true
			w.finishScan(ctx, x, row)
		}
	}
}

// match finds rec's row: namespace, name and version exactly, the SWR
// Enterprise instance when the record names one, and the digest when both
// know it.
func match(rec lifecycle.Record, rows []hssclient.Image) (hssclient.Image, bool) {
	for _, row := range rows {
		if row.Namespace != rec.Namespace || row.ImageName != rec.Image || row.ImageVersion != rec.Tag {
			continue
		}
		if rec.InstanceID != "" && row.InstanceID != "" && row.InstanceID != rec.InstanceID {
			continue
		}
		if rec.Digest != "" && row.ImageDigest != "" && row.ImageDigest != rec.Digest {
			continue
		}
		return row, true
	}
	return hssclient.Image{}, false
}

// sameAttempt: the record is still the scan attempt x was read as.
func sameAttempt(r *lifecycle.Record, x *watched) bool {
	return r.Generation == x.rec.Generation && r.ScanRequestedAt.Equal(x.rec.ScanRequestedAt) &&
		(r.State == lifecycle.ScanRequested || r.State == lifecycle.Scanning)
}

func facts(row hssclient.Image) lifecycle.HSSFacts {
	return lifecycle.HSSFacts{ID: row.ID, ImageID: row.ImageID, ImageDigest: row.ImageDigest, ScanStatus: string(row.ScanStatus),
		Vulnerabilities: int64(row.VulNum), MaliciousFiles: int64(row.MaliciousFileNum), UnsafeSettings: int64(row.UnsafeSettingNum),
		ScannedAt: row.ScannedAt()}
}

func (w *Watcher) listAnswer() lifecycle.Answer {
	return lifecycle.Answer{API: hssAPIName(w.cat.ListAPI()), Status: 200, At: time.Now().UTC()}
}

func (w *Watcher) markScanning(ctx context.Context, x *watched, row hssclient.Image) {
	rec, err := w.store.Update(ctx, x.rec.Key, func(r *lifecycle.Record) error {
		if !sameAttempt(r, x) || r.State != lifecycle.ScanRequested {
			return nil
		}
		r.SetState(lifecycle.Scanning, "hss shows "+string(row.ScanStatus))
		r.HSS = facts(row)
		r.LastAnswer = w.listAnswer()
		return nil
	})
	if err != nil {
		w.log.Warn("mark scanning", "image", x.rec.Ref(), "key", x.rec.Key, "error", err)
		return
	}
	if rec.State == lifecycle.Scanning && x.rec.State != lifecycle.Scanning {
		w.log.Info("image scanning", "image", rec.Ref(), "job_id", rec.JobID, "hss_status", string(row.ScanStatus))
	}
	x.rec = rec
}

func (w *Watcher) finishScan(ctx context.Context, x *watched, row hssclient.Image) {
	rec, err := w.finish.Finish(ctx, x.rec.Key, func(r *lifecycle.Record) {
		if !sameAttempt(r, x) {
			return // moved on: Finish reports ErrNotTerminal, nothing written
		}
		r.HSS = facts(row)
		r.LastAnswer = w.listAnswer()
		if row.ScanStatus == hssclient.ScanSuccess {
			r.SetState(lifecycle.Scanned, "hss scan succeeded")
			return
		}
		r.Reason = cmp.Or(row.ScanFailedDesc, string(row.ScanStatus))
		r.SetState(lifecycle.ScanFailed, "hss scan "+string(row.ScanStatus))
	})
	x.settled = true
	if errors.Is(err, lifecycle.ErrNotTerminal) {
		return
	}
	if err != nil {
		w.log.Warn("finish scan", "image", x.rec.Ref(), "key", x.rec.Key, "error", err)
		return
	}
	w.log.Info("image "+string(rec.State), "image", rec.Ref(), "job_id", rec.JobID, "reason", rec.Reason,
		"vulnerabilities", rec.HSS.Vulnerabilities, "malicious_files", rec.HSS.MaliciousFiles,
		"unsafe_settings", rec.HSS.UnsafeSettings, "scan_attempts", rec.ScanAttempts)
}

// RescanMsgID is the message id of the job sent again for the scan
// attempt requested at requested: one per attempt, so publishing it twice
// stores it once.
func RescanMsgID(jobID string, requested time.Time) string {
	return fmt.Sprintf("%s-rescan-%d", jobID, requested.UnixMilli())
}

// rescan sends the job of a scan HSS shows no sign of again.
func (w *Watcher) rescan(ctx context.Context, rec lifecycle.Record) {
	job := rec.Job()
	id := cmp.Or(rec.JobID, job.ID())
	msgID := RescanMsgID(id, requestedAt(rec))
	// Publish first: if the record change below is lost (a crash), the
	// next round publishes again under the same id, which the stream
	// drops. The other order could leave a record waiting for a job that
	// was never sent.
	if err := w.resend.Resend(ctx, job, msgID); err != nil {
		w.log.Warn("send job again", "image", rec.Ref(), "job_id", id, "error", err)
		return
	}
	x := &watched{rec: rec}
	out, err := w.store.Update(ctx, rec.Key, func(r *lifecycle.Record) error {
		if !sameAttempt(r, x) || r.State != lifecycle.ScanRequested {
			return nil
		}
		r.SetState(lifecycle.WaitingPresence, fmt.Sprintf("no sign of the scan at hss after %s: job sent again", w.cfg.RescanAfter))
		return nil
	})
	if err != nil {
		w.log.Warn("record rescan", "image", rec.Ref(), "key", rec.Key, "error", err)
		return
	}
	if out.State == lifecycle.WaitingPresence {
		w.log.Info("scan sent again: hss shows no sign of it", "image", rec.Ref(), "job_id", id, "msg_id", msgID,
			"requested_at", rec.ScanRequestedAt, "scan_attempts", rec.ScanAttempts)
	}
}

// giveUp ends a lifecycle whose scan never finished in time.
func (w *Watcher) giveUp(ctx context.Context, rec lifecycle.Record) {
	x := &watched{rec: rec}
	msg := fmt.Sprintf("no scan result from hss %s after the first scan request (hss.watch.scan_timeout)", w.cfg.ScanTimeout)
	out, err := w.finish.Finish(ctx, rec.Key, func(r *lifecycle.Record) {
		if !sameAttempt(r, x) {
			return
		}
		r.Reason = lifecycle.ReasonScanTimeout
		r.SetState(lifecycle.GivenUp, msg)
	})
	if errors.Is(err, lifecycle.ErrNotTerminal) {
		return
	}
	if err != nil {
		w.log.Warn("give up scan", "image", rec.Ref(), "key", rec.Key, "error", err)
		return
	}
	if out.Reason != lifecycle.ReasonScanTimeout || out.Generation != rec.Generation {
		return // someone else ended it another way
	}
	w.log.Warn("image given up", "image", rec.Ref(), "job_id", rec.JobID, "reason", out.Reason, "scan_attempts", out.ScanAttempts)
	if w.dead != nil {
		if err := w.dead.DeadLetter(ctx, rec.Job(), lifecycle.ReasonScanTimeout, msg); err != nil {
			w.log.Warn("dead-letter given-up image", "image", rec.Ref(), "job_id", rec.JobID, "error", err)
		}
	}
}

// requestedAt is when r's scan was requested: ScanRequestedAt, which the
// push path stamps, or else the record's last change, so a record written
// without it is still watched, sent again and timed out.
func requestedAt(r lifecycle.Record) time.Time {
	if r.ScanRequestedAt.IsZero() {
		return r.UpdatedAt
	}
	return r.ScanRequestedAt
}

// firstRequest is when this lifecycle's first scan was requested: the
// oldest scan_requested entry of its History since it began (AcceptedAt),
// since ScanRequestedAt moves with every request. With the History cut
// short (it keeps 16 entries) it is the oldest left, at worst the last
// request: the timeout then counts from later, never from earlier.
func firstRequest(r lifecycle.Record) time.Time {
	first := requestedAt(r)
	for _, t := range r.History {
		if t.State == lifecycle.ScanRequested && !t.At.Before(r.AcceptedAt) && (first.IsZero() || t.At.Before(first)) {
			first = t.At
		}
	}
	return first
}

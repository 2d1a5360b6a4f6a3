package scanner

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// listOnly is a watcher's Client as a catalogClient, for a watcher built
// without a Catalog (swr-v5): it only lists. The other calls are never
// made by the watcher.
type listOnly struct{ imageLister }

var errListOnly = errors.New("watcher's client only lists")

func (listOnly) RunImageSynchronize(context.Context, hssclient.Target, hssclient.ImageType) error {
	return errListOnly
}

func (listOnly) BatchScan(context.Context, hssclient.Target, hssclient.BatchScanRequest) error {
	return errListOnly
}

func (listOnly) ListRegistryImages(context.Context, hssclient.Target, hssclient.ListRegistryImagesRequest) (hssclient.ImagePage, error) {
	return hssclient.ImagePage{}, errListOnly
}

func (listOnly) CreateImageSynchronizeTask(context.Context, hssclient.Target, hssclient.SyncTaskRequest) error {
	return errListOnly
}

func (listOnly) CreateManualImageScanTask(context.Context, hssclient.Target, hssclient.ScanTaskRequest) error {
	return errListOnly
}

func (listOnly) ListImageScanTask(context.Context, hssclient.Target, hssclient.ListTasksRequest) (hssclient.TaskPage, error) {
	return hssclient.TaskPage{}, errListOnly
}

// failFast ends the group's records whose image a scan task of this
// attempt reports failed (hss.api tasks; swr-v5 has no tasks and makes no
// call). The image list shows the same failure, possibly later (how far
// the two lists agree is undocumented): this only ends the wait sooner.
// A task counts for a record only when it began at or after the record's
// request (less hss.watch.skew) and names the same image (and id when
// both know it). Read at most every taskEvery per group while a record is
// unsettled: ListImageScanTask has its own 5 calls a minute.
func (w *Watcher) failFast(ctx context.Context, k groupKey, recs []*watched, since time.Time) {
	open := 0
	for _, x := range recs {
		if !x.settled {
			open++
		}
	}
	if open == 0 {
		return
	}
	if w.taskAt == nil {
		w.taskAt = map[groupKey]time.Time{}
	}
	now := time.Now()
	every := w.taskEvery
	if every <= 0 {
		every = progressEvery
	}
	if now.Sub(w.taskAt[k]) < every {
		return
	}
	w.taskAt[k] = now
	failed, err := w.cat.FailedScans(ctx, k.target, since, Call{Quota: w.quota, Priority: PriorityWatch, Images: open, Log: true})
	if err != nil {
		w.log.Warn("read scan tasks", "target", k.target.String(), "error", err)
		return
	}
	for _, x := range recs {
		if x.settled {
			continue
		}
		for _, f := range failed {
			fi := f.Image
			if fi.Namespace != x.rec.Namespace || fi.ImageName != x.rec.Image || fi.ImageVersion != x.rec.Tag {
				continue
			}
			if fi.ID != 0 && x.rec.HSS.ID != 0 && fi.ID != x.rec.HSS.ID {
				continue
			}
			// A task begun before this attempt was asked for is an
			// earlier attempt's (the skew allows for HSS's clock).
			// HSS's times are milliseconds: compare in them.
			if f.TaskBegan.UnixMilli() < requestedAt(x.rec).Add(-w.cfg.Skew).UnixMilli() {
				continue
			}
			w.failFromTask(ctx, x, fi)
			break
		}
	}
}

// failFromTask ends x as scan_failed with the task's failed_reason.
func (w *Watcher) failFromTask(ctx context.Context, x *watched, fi hssclient.FailedImage) {
	rec, err := w.finish.Finish(ctx, x.rec.Key, func(r *lifecycle.Record) {
		if !sameAttempt(r, x) {
			return
		}
		if fi.ID != 0 {
			r.HSS.ID = fi.ID
		}
		r.HSS.ScanStatus = string(hssclient.ScanFailed)
		r.LastAnswer = lifecycle.Answer{API: hssclient.APIListImageScanTask, Status: 200, At: time.Now().UTC()}
		r.Reason = cmp.Or(fi.FailedReason, string(hssclient.ScanFailed))
		r.SetState(lifecycle.ScanFailed, "hss scan task reports the image failed")
	})
	x.settled = true
	if errors.Is(err, lifecycle.ErrNotTerminal) {
		return
	}
	if err != nil {
		w.log.Warn("finish failed scan", "image", x.rec.Ref(), "key", x.rec.Key, "error", err)
		return
	}
	w.log.Info("image "+string(rec.State), "image", rec.Ref(), "job_id", rec.JobID, "reason", rec.Reason,
		"source", "scan task", "scan_attempts", rec.ScanAttempts)
}

package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// taskCatalog is hss.api tasks: the successor APIs of the SDK
// (services/hss/v5), each under its own budget.
//
//   - List: ListRegistryImages (GET /image/registries/images). Its model
//     has every filter the gate and the watcher use (image_type,
//     scan_status, start_latest_update_time, start_latest_scan_time,
//     offset, limit) and its rows carry the id a scan task takes, so
//     ListSwrImageRepository is not needed. It has no region header
//     (none is sent); the endpoint is regional anyway.
//   - Sync: CreateImageSynchronizeTask with registry_info naming the
//     image type's registry_type only (SwrPrivate, SwrShared,
//     SwrEnterprise): the bridge knows no registry_id. That a type alone
//     is enough is unverified; if HSS refuses it, the sync fails with
//     HSS's answer in the log ("image sync failed") and the images wait
//     for their presence_timeout, as with any refused sync. SwrEnterprise
//     could be synced here, but the gate asks for no instance_image sync
//     (presence.go), as with RunImageSynchronize.
//   - Scan: CreateManualImageScanTask, is_all false, one image_info item
//     per job with everything known of it: the list row's id (from the
//     rows this catalog listed), the name triple, the digest, the
//     registry_type and the SWR Enterprise instance. Which of these HSS
//     matches on is unverified, so all are sent. An image no list showed
//     yet (hss.presence_check off) goes without id.
//   - FailedScans: ListImageScanTask type=image_scan task_type=manual,
//     one page, newest first as far as HSS orders them (undocumented: the
//     begin times are compared here). That HSS lists the task a
//     CreateManualImageScanTask made is unverified (no task id comes
//     back): when it shows none begun after a scan task this catalog made
//     a while ago, a warning says so once, and failed scans are seen
//     through the image list's scan_status only, as with swr-v5.
//
// How HSS answers a scan task naming an image it does not know (400
// HSS.0011 or 200 and nothing scanned) is unverified, as for batch-scan:
// both are handled by the same lifecycle (the gate defers on HSS.0011,
// the watcher sends the job again after hss.watch.rescan_after).
type taskCatalog struct {
	c   catalogClient
	log *slog.Logger

	mu sync.Mutex
	// rows are the rows listed, by target, image type and name triple:
	// their id goes into a scan task. Bounded by maxTaskRows.
	rows map[string][]hssclient.Image
	// lastTask is when the last scan task was asked for.
	lastTask time.Time
	// warnedRow and warnedTask: the warnings about an unverified guess
	// that proved wrong were given (once each).
	warnedRow, warnedTask bool
}

// maxTaskRows bounds the rows remembered; past it the memory starts over
// (an image then goes without its id until listed again).
const maxTaskRows = 100_000

// taskListGrace is how long after a scan task ListImageScanTask may still
// not show it before the catalog warns.
const taskListGrace = 2 * time.Minute

// taskPage is the page of tasks FailedScans reads.
const taskPage = 50

func newTaskCatalog(c catalogClient, log *slog.Logger) *taskCatalog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &taskCatalog{c: c, log: log, rows: map[string][]hssclient.Image{}}
}

func (*taskCatalog) Name() string { return CatalogTasks }
func (*taskCatalog) ListAPI() API { return APIRegistryImages }
func (*taskCatalog) ScanAPI() API { return APIScanTasks }

func taskRowKey(t hssclient.Target, it hssclient.ImageType, namespace, name, version string) string {
	return t.String() + "\x00" + string(it) + "\x00" + rowKey(namespace, name, version)
}

func (k *taskCatalog) List(ctx context.Context, t hssclient.Target, q ListQuery, c Call) (hssclient.ImagePage, error) {
	req := hssclient.ListRegistryImagesRequest{ImageType: q.ImageType, ScanStatus: q.ScanStatus, Offset: q.Offset,
		Limit: q.Limit, StartLatestUpdateTime: millisOrNil(q.UpdatedSince), StartLatestScanTime: millisOrNil(q.ScannedSince)}
	var page hssclient.ImagePage
	err := under(ctx, APIRegistryImages, t, c, func(ctx context.Context) (int, error) {
		var err error
		page, err = k.c.ListRegistryImages(ctx, t, req)
		return len(page.Images), err
	})
	if err != nil {
		return page, err
	}
	k.remember(t, q.ImageType, page.Images)
	return page, nil
}

// remember keeps the rows' ids for the scan tasks. A row without id or
// scan_status cannot serve the lifecycle: said loudly, once.
func (k *taskCatalog) remember(t hssclient.Target, it hssclient.ImageType, rows []hssclient.Image) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range rows {
		if (r.ID == 0 || r.ScanStatus == "") && !k.warnedRow {
			k.warnedRow = true
			k.log.Warn("hss.api tasks: ListRegistryImages answered a row without id or scan_status; "+
				"scan tasks then name it without id and the watcher cannot follow it (set hss.api: swr-v5 if this persists)",
				"image", r.Namespace+"/"+r.ImageName+":"+r.ImageVersion, "id", r.ID, "scan_status", string(r.ScanStatus))
		}
		if r.ID == 0 {
			continue
		}
		typ := it
		if typ == "" {
			typ = r.ImageType
		}
		key := taskRowKey(t, typ, r.Namespace, r.ImageName, r.ImageVersion)
		if len(k.rows) >= maxTaskRows && k.rows[key] == nil {
			clear(k.rows)
		}
		have := k.rows[key]
		replaced := false
		for i, h := range have {
			if h.ID == r.ID {
				have[i], replaced = r, true
			}
		}
		if !replaced {
			// Newest first: a re-pushed tag's new row wins a lookup
			// without digest.
			have = append([]hssclient.Image{r}, have...)
			if len(have) > 4 {
				have = have[:4]
			}
		}
		k.rows[key] = have
	}
}

// row is the listed row of j, if any: the same names, instance and
// digest when both sides know them.
func (k *taskCatalog) row(t hssclient.Target, it hssclient.ImageType, j scanjob.Job) (hssclient.Image, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.rows[taskRowKey(t, it, j.Namespace, j.Image, j.Tag)] {
		if j.Digest != "" && r.ImageDigest != "" && !strings.EqualFold(j.Digest, r.ImageDigest) {
			continue
		}
		if j.InstanceID != "" && r.InstanceID != "" && j.InstanceID != r.InstanceID {
			continue
		}
		return r, true
	}
	return hssclient.Image{}, false
}

func (k *taskCatalog) Sync(ctx context.Context, t hssclient.Target, it hssclient.ImageType, c Call) error {
	rt := hssclient.RegistryTypeOf(it)
	if rt == "" {
		return fmt.Errorf("sync %s %s: no registry type for this image type", t, it)
	}
	return under(ctx, APISyncTasks, t, c, func(ctx context.Context) (int, error) {
		err := k.c.CreateImageSynchronizeTask(ctx, t, hssclient.SyncRegistries(rt))
		if err != nil && !isThrottled(err) && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("hss.api tasks: image sync task by registry_type %s (HSS may need a registry_id; unverified): %w", rt, err)
		}
		return 0, err
	})
}

// maxDigest is the limit of image_info's image_digest, image_id,
// registry_id and registry_name in the SDK's model.
const maxDigest = 128

// registryTypes are the registry_type values the SDK's model accepts: a
// row's other value is not copied into a scan task.
var registryTypes = []hssclient.RegistryType{hssclient.RegistrySwrPrivate, hssclient.RegistrySwrShared,
	hssclient.RegistrySwrEnterprise, hssclient.RegistryHarbor, hssclient.RegistryJfrog, hssclient.RegistryOther}

func (k *taskCatalog) Scan(ctx context.Context, t hssclient.Target, it hssclient.ImageType, jobs []scanjob.Job) error {
	items := make([]hssclient.ScanTaskImage, len(jobs))
	for i, j := range jobs {
		im := hssclient.ScanTaskImage{Namespace: j.Namespace, ImageName: j.Image, ImageVersion: j.Tag,
			InstanceID: j.InstanceID, InstanceURL: j.InstanceURL, RegistryType: hssclient.RegistryTypeOf(it)}
		if len(j.Digest) <= maxDigest {
			im.ImageDigest = j.Digest
		}
		if r, ok := k.row(t, it, j); ok {
			im.ID, im.ImageID = r.ID, r.ImageID
			if im.ImageDigest == "" && len(r.ImageDigest) <= maxDigest {
				im.ImageDigest = r.ImageDigest
			}
			if rt := hssclient.RegistryType(r.RegistryType); slices.Contains(registryTypes, rt) {
				im.RegistryType = rt
			}
			if len(r.ImageID) > maxDigest {
				im.ImageID = ""
			}
			if len(r.RegistryID) <= maxDigest {
				im.RegistryID = r.RegistryID
			}
			if len(r.RegistryName) <= maxDigest {
				im.RegistryName = r.RegistryName
			}
			if im.InstanceID == "" {
				im.InstanceID, im.InstanceURL = r.InstanceID, r.InstanceURL
			}
		}
		items[i] = im
	}
	asked := time.Now()
	err := k.c.CreateManualImageScanTask(ctx, t, hssclient.ScanTaskRequest{Images: items})
	if err == nil {
		k.mu.Lock()
		k.lastTask = asked
		k.mu.Unlock()
	}
	return err
}

func (k *taskCatalog) FailedScans(ctx context.Context, t hssclient.Target, since time.Time, c Call) ([]FailedScan, error) {
	req := hssclient.ListTasksRequest{Type: hssclient.TaskImageScan, GlobalImageType: "registry", TaskType: "manual",
		Limit: taskPage}
	var page hssclient.TaskPage
	err := under(ctx, APITasks, t, c, func(ctx context.Context) (int, error) {
		var err error
		page, err = k.c.ListImageScanTask(ctx, t, req)
		return len(page.Tasks), err
	})
	if err != nil {
		return nil, err
	}
	var out []FailedScan
	newest := time.Time{}
	for _, task := range page.Tasks {
		began := time.UnixMilli(task.BeginTime)
		newest = later(newest, began)
		if task.BeginTime == 0 || task.BeginTime < since.UnixMilli() {
			continue
		}
		for _, fi := range task.FailedImages {
			out = append(out, FailedScan{Image: fi, TaskBegan: began})
		}
	}
	k.mu.Lock()
	last := k.lastTask
	if !last.IsZero() && !last.Before(since) && time.Since(last) > taskListGrace && newest.Before(last.Add(-time.Minute)) && !k.warnedTask {
		k.warnedTask = true
		k.log.Warn("hss.api tasks: ListImageScanTask shows no manual scan task begun when this bridge created one; "+
			"failed scans are seen from the image list only", "task_created", last, "newest_listed", newest)
	}
	k.mu.Unlock()
	return out, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Catalog is HSS's image catalog as the bridge drives it: list the images
// HSS knows with their scan state, make HSS re-read a registry, ask it to
// scan images, and (where the APIs have tasks) read which scans failed.
// Every step of the lifecycle goes through it, so the presence gate, the
// scan and the watcher speak to one set of HSS APIs, chosen by hss.api:
//
//   - swr-v5 (the default): ListSwrImageRepository, RunImageSynchronize and
//     BatchScanSwrImage, the APIs the bridge always used. HSS's docs now
//     mark all three deprecated.
//   - tasks: ListRegistryImages, CreateImageSynchronizeTask and
//     CreateManualImageScanTask, with ListImageScanTask for the failed
//     images of the manual scan tasks: the successors the SDK carries.
//
// Both flavours run the same lifecycle (presence gate, scan, watch) under
// the same quota scheduler; each call waits for a permit of its own API's
// budget (quota.go), except Scan, whose permit the consumer took before
// it packed the call (HSS.Acquire waits on ScanAPI's budget).
type Catalog interface {
	// Name is the hss.api value.
	Name() string
	// ListAPI and ScanAPI are the budgets List and Scan spend.
	ListAPI() API
	ScanAPI() API
	// List reads one page of t's images of q.ImageType.
	List(ctx context.Context, t hssclient.Target, q ListQuery, c Call) (hssclient.ImagePage, error)
	// Sync asks HSS to re-read the registry of image type it.
	Sync(ctx context.Context, t hssclient.Target, it hssclient.ImageType, c Call) error
	// Scan asks HSS to scan the images of jobs, all of image type it. The
	// caller holds a permit of ScanAPI's budget and gives the rate
	// feedback.
	Scan(ctx context.Context, t hssclient.Target, it hssclient.ImageType, jobs []scanjob.Job) error
	// FailedScans are the images the scan tasks begun at or after since
	// report failed. A flavour without tasks returns nil without a call.
	FailedScans(ctx context.Context, t hssclient.Target, since time.Time, c Call) ([]FailedScan, error)
}

// ListQuery is what the lifecycle asks of an image list: one image type,
// optionally one scan status, the rows updated or scanned since a time,
// one page. Zero fields are not sent.
type ListQuery struct {
	ImageType    hssclient.ImageType
	ScanStatus   hssclient.ScanStatus
	UpdatedSince time.Time
	ScannedSince time.Time
	Offset       int
	// Limit is the page size, 10-200 (both lists accept it).
	Limit int
}

// Call says how one catalog call is made: under which quota, at which
// priority, and for which jobs (the log line names them).
type Call struct {
	Quota    *Quota
	Priority Priority
	// Images and JobIDs are what the call is about, for the log line.
	Images int
	JobIDs []string
	// Log writes the call's INFO line (Quota.Record); without it the call
	// only gives its rate feedback.
	Log bool
}

// FailedScan is one image a scan task reports failed, with when the task
// began: a failure of an older attempt must not end a newer one.
type FailedScan struct {
	Image     hssclient.FailedImage
	TaskBegan time.Time
}

// The hss.api values.
const (
	CatalogSWRv5 = "swr-v5"
	CatalogTasks = "tasks"
)

// DefaultCatalog is the default of hss.api.
const DefaultCatalog = CatalogSWRv5

// catalogClient is the part of hssclient.Client the catalogs call.
type catalogClient interface {
	ListSwrImageRepository(ctx context.Context, t hssclient.Target, r hssclient.ListImagesRequest) (hssclient.ImagePage, error)
	RunImageSynchronize(ctx context.Context, t hssclient.Target, imageType hssclient.ImageType) error
	BatchScan(ctx context.Context, t hssclient.Target, r hssclient.BatchScanRequest) error
	ListRegistryImages(ctx context.Context, t hssclient.Target, r hssclient.ListRegistryImagesRequest) (hssclient.ImagePage, error)
	CreateImageSynchronizeTask(ctx context.Context, t hssclient.Target, r hssclient.SyncTaskRequest) error
	CreateManualImageScanTask(ctx context.Context, t hssclient.Target, r hssclient.ScanTaskRequest) error
	ListImageScanTask(ctx context.Context, t hssclient.Target, r hssclient.ListTasksRequest) (hssclient.TaskPage, error)
}

var _ catalogClient = (*hssclient.Client)(nil)

// newCatalog is the catalog hss.api names, calling c.
// log gets the warnings of a guess about the successor APIs that proved
// wrong.
func newCatalog(api string, c catalogClient, log *slog.Logger) (Catalog, error) {
	switch api {
	case "", CatalogSWRv5:
		return swrV5{c: c}, nil
	case CatalogTasks:
		return newTaskCatalog(c, log), nil
	}
	return nil, fmt.Errorf("hss.api %q: must be %s or %s", api, CatalogSWRv5, CatalogTasks)
}

// hssAPIName is the SDK's operation name of api, as lifecycle answers and
// the fake name it.
func hssAPIName(api API) string {
	switch api {
	case APIBatchScan:
		return hssclient.APIBatchScan
	case APISwrRepository:
		return hssclient.APIListSwrImageRepository
	case APISynchronize:
		return hssclient.APIRunImageSynchronize
	case APIScanTasks:
		return hssclient.APICreateManualImageScanTask
	case APITasks:
		return hssclient.APIListImageScanTask
	case APISyncTasks:
		return hssclient.APICreateImageSynchronizeTask
	case APIRegistryImages:
		return hssclient.APIListRegistryImages
	}
	return string(api)
}

// under makes one call of api under a permit of c.Quota at c.Priority,
// then gives the feedback (and the log line when c.Log). call gets a ctx
// that collects HSS's answer (its request id goes into the log line).
func under(ctx context.Context, api API, t hssclient.Target, c Call, call func(ctx context.Context) (rows int, err error)) error {
	release, err := c.Quota.Wait(ctx, api, c.Priority)
	if err != nil {
		return err
	}
	start := time.Now()
	var a hssclient.Answer
	rows, err := call(hssclient.WithAnswer(ctx, &a))
	release()
	rec := CallRecord{API: api, Target: t.String(), Images: c.Images, Rows: rows, JobIDs: c.JobIDs,
		RequestID: a.RequestID, Err: err, Duration: time.Since(start)}
	if c.Log {
		c.Quota.Record(ctx, rec)
	} else if throttled := isThrottled(err); err == nil || throttled {
		c.Quota.Feedback(ctx, api, throttled)
	}
	return err
}

// HSS's wiring: the catalog of h calls h's client as it is at the call
// (a dry run's lifecycle simulator replaces it), batch-scan with its span.

// hssCalls is h's client, batch-scan traced.
type hssCalls struct{ h *HSS }

func (c hssCalls) ListSwrImageRepository(ctx context.Context, t hssclient.Target, r hssclient.ListImagesRequest) (hssclient.ImagePage, error) {
	return c.h.client.ListSwrImageRepository(ctx, t, r)
}

func (c hssCalls) RunImageSynchronize(ctx context.Context, t hssclient.Target, it hssclient.ImageType) error {
	return c.h.client.RunImageSynchronize(ctx, t, it)
}

func (c hssCalls) BatchScan(ctx context.Context, t hssclient.Target, r hssclient.BatchScanRequest) error {
	return c.h.tracedBatchScan(ctx, t, r)
}

func (c hssCalls) ListRegistryImages(ctx context.Context, t hssclient.Target, r hssclient.ListRegistryImagesRequest) (hssclient.ImagePage, error) {
	return c.h.client.ListRegistryImages(ctx, t, r)
}

func (c hssCalls) CreateImageSynchronizeTask(ctx context.Context, t hssclient.Target, r hssclient.SyncTaskRequest) error {
	return c.h.client.CreateImageSynchronizeTask(ctx, t, r)
}

func (c hssCalls) CreateManualImageScanTask(ctx context.Context, t hssclient.Target, r hssclient.ScanTaskRequest) error {
	return c.h.client.CreateManualImageScanTask(ctx, t, r)
}

func (c hssCalls) ListImageScanTask(ctx context.Context, t hssclient.Target, r hssclient.ListTasksRequest) (hssclient.TaskPage, error) {
	return c.h.client.ListImageScanTask(ctx, t, r)
}

// Catalog is h's catalog (hss.api), for the watcher: the same APIs as
// the push path, and (tasks) the same memory of the rows' ids.
func (h *HSS) Catalog() Catalog { return h.catalog }

// scanVia is one scan call of the items through h's catalog (batch-scan
// under swr-v5, a scan task under tasks), with rate feedback and the
// call's INFO line (the target, the images, HSS's request id, the result
// and the job ids; hssclient logs calls at debug level only). It returns
// HSS's request id.
func (h *HSS) scanVia(ctx context.Context, t scanjob.Target, items []scanjob.Job) (string, error) {
	ids := make([]string, len(items))
	for i, j := range items {
		ids[i] = j.ID()
	}
	h.markSent(ctx)
	start := time.Now()
	var a hssclient.Answer
	err := h.catalog.Scan(hssclient.WithAnswer(ctx, &a), hssTarget(t), hssclient.ImageType(t.ImageType), items)
	h.feedback(ctx, err)
	c := CallRecord{API: h.catalog.ScanAPI(), Target: hssTarget(t).String(), Images: len(items), JobIDs: ids,
		RequestID: a.RequestID, Err: err, Duration: time.Since(start)}
	logCall(ctx, h.log, c, callResult(hssclient.Classify(err), a.Status), a.Status, a.RequestID)
	return a.RequestID, err
}

// isThrottled: HSS's gateway answered 429.
func isThrottled(err error) bool {
	var apiErr *hssclient.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests
}

// imageTypeOfRegistry is the SWR image type of a registry type ("" for
// the others).
func imageTypeOfRegistry(rt hssclient.RegistryType) hssclient.ImageType {
	for _, it := range []hssclient.ImageType{hssclient.PrivateImage, hssclient.SharedImage, hssclient.InstanceImage} {
		if hssclient.RegistryTypeOf(it) == rt {
			return it
		}
	}
	return ""
}

package scanner

import (
	"context"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// swrV5 is hss.api swr-v5: ListSwrImageRepository, RunImageSynchronize
// and BatchScanSwrImage (hss-image-apis in the API reference:
// https://support.huaweicloud.com/intl/en-us/api-hss2.0/BatchScanSwrImage.html).
type swrV5 struct{ c catalogClient }

func (swrV5) Name() string { return CatalogSWRv5 }
func (swrV5) ListAPI() API { return APISwrRepository }
func (swrV5) ScanAPI() API { return APIBatchScan }

func (s swrV5) List(ctx context.Context, t hssclient.Target, q ListQuery, c Call) (hssclient.ImagePage, error) {
	req := hssclient.ListImagesRequest{ImageType: q.ImageType, ScanStatus: q.ScanStatus, Offset: q.Offset, Limit: q.Limit,
		StartLatestUpdateTime: millisOrNil(q.UpdatedSince), StartLatestScanTime: millisOrNil(q.ScannedSince)}
	var page hssclient.ImagePage
	err := under(ctx, APISwrRepository, t, c, func(ctx context.Context) (int, error) {
		var err error
		page, err = s.c.ListSwrImageRepository(ctx, t, req)
		return len(page.Images), err
	})
	return page, err
}

func (s swrV5) Sync(ctx context.Context, t hssclient.Target, it hssclient.ImageType, c Call) error {
	return under(ctx, APISynchronize, t, c, func(ctx context.Context) (int, error) {
		return 0, s.c.RunImageSynchronize(ctx, t, it)
	})
}

func (s swrV5) Scan(ctx context.Context, t hssclient.Target, it hssclient.ImageType, jobs []scanjob.Job) error {
	infos := make([]hssclient.ImageInfo, len(jobs))
	for i, j := range jobs {
		infos[i] = hssclient.ImageInfo{Namespace: j.Namespace, ImageName: j.Image, ImageVersion: j.Tag,
			InstanceID: j.InstanceID, InstanceURL: j.InstanceURL}
	}
	return s.c.BatchScan(ctx, t, hssclient.TargetedScan(it, infos...))
}

// FailedScans: batch-scan makes no task, so there is nothing to read; the
// image list's scan_status says a scan failed.
func (swrV5) FailedScans(context.Context, hssclient.Target, time.Time, Call) ([]FailedScan, error) {
	return nil, nil
}

// millisOrNil is t for a time filter, nil (not sent) when zero.
func millisOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	return hssclient.Millis(t)
}

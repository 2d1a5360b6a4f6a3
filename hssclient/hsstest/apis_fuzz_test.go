package hsstest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// apiRoutes are the method and path of every API, in a fixed order for the
// fuzzer.
var apiRoutes = []struct{ method, path string }{
	{"POST", "/image/batch-scan"}, {"GET", "/image/swr-repository"}, {"POST", "/image/synchronize"},
	{"POST", "/image/image-scan/tasks"}, {"GET", "/image/tasks"}, {"POST", "/image/image-sync/tasks"},
	{"GET", "/image/registries/images"},
}

// FuzzTheFakeDecodesAnything sends any query and body to every API with a
// valid token: the fake must answer 200 with JSON or nothing, or 400 with
// an HSS error body, and never panic.
func FuzzTheFakeDecodesAnything(f *testing.F) {
	seeds := []struct {
		route       uint8
		query, body string
	}{
		{0, "", `{"image_type":"private_image","image_info_list":[{"namespace":"a","image_name":"b","image_version":"c"}]}`},
		{1, "image_type=private_image&limit=10&offset=0&scan_status=success", ""},
		{2, "enterprise_project_id=0", `{"image_type":"shared_image"}`},
		{3, "global_image_type=registry", `{"is_all":false,"image_info":[{"id":1,"namespace":"a","image_name":"b","image_version":"c","registry_type":"SwrPrivate"}]}`},
		{3, "", `{"is_all":true,"query_info":{"image_type":"private_image"}}`},
		{4, "type=image_scan&task_status=finished&create_time=1", ""},
		{5, "", `{"sync_all_registries":false,"registry_info":[{"registry_type":"SwrShared"}]}`},
		{6, "sort_key=latest_scan_time&sort_dir=desc&limit=1&start_latest_sync_time=5", ""},
		{1, "image_type=private_image&start_latest_update_time=9223372036854775807", ""},
		{3, "", `{"image_info":null}`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, route uint8, query, body string) {
		// A fresh fake each time: state carried between inputs would make
		// every run slower than the last and a failure unreproducible.
		fake := hsstest.New(hsstest.Options{Tokens: []string{token}, AssumeInSWR: true, AutoSyncAfter: time.Second})
		fake.PushToSWR(fakeTgt, "private_image", "a", "b", "c", "sha256:c", time.Now().Add(-time.Hour))
		rt := apiRoutes[int(route)%len(apiRoutes)]
		req := httptest.NewRequest(rt.method, "/v5/"+project+rt.path, strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header = jsonHeader(rt.path != "/image/tasks" && rt.path != "/image/registries/images")
		req.Header.Set("X-Auth-Token", token)
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if b := rec.Body.Bytes(); len(b) > 0 && !json.Valid(b) {
				t.Fatalf("200 with a body that is not JSON: %q", b)
			}
		case http.StatusBadRequest:
			var doc map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || !strings.HasPrefix(doc["error_code"], "HSS.") {
				t.Fatalf("400 without an HSS error: %q", rec.Body.String())
			}
		default:
			t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
		}
	})
}

// TestEveryAPIIsSafeForConcurrentUse calls every API from many goroutines
// while the catalog changes (run with -race).
func TestEveryAPIIsSafeForConcurrentUse(t *testing.T) {
	fake, c := inProcess(t, hsstest.Options{CallsPerMinute: 1000, SyncDelay: -1, ScanQueueDelay: -1, ScanDuration: -1, AssumeInSWR: true})
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			tag := string(rune('a' + i))
			fake.PushToSWR(fakeTgt, "private_image", "ns", "app", tag, "sha256:"+tag, time.Now())
			_ = c.RunImageSynchronize(ctx, tgt, hssclient.PrivateImage)
			_ = c.CreateImageSynchronizeTask(ctx, tgt, hssclient.SyncAll())
			_ = c.BatchScan(ctx, tgt, hssclient.TargetedScan(hssclient.PrivateImage, hssclient.ImageInfo{Namespace: "ns", ImageName: "app", ImageVersion: tag}))
			_ = c.CreateManualImageScanTask(ctx, tgt, hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{
				{Namespace: "ns", ImageName: "app", ImageVersion: tag, RegistryType: hssclient.RegistrySwrPrivate}}})
			_, _ = c.ListSwrImageRepository(ctx, tgt, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage})
			_, _ = c.ListRegistryImages(ctx, tgt, hssclient.ListRegistryImagesRequest{})
			_, _ = c.ListImageScanTask(ctx, tgt, hssclient.ListTasksRequest{Type: hssclient.TaskImageScan})
			fake.FailScan(hsstest.Ref{Namespace: "ns", Image: "app", Tag: tag}, "unknown_error")
			_ = fake.Catalog()
			_ = fake.Calls(hsstest.APIListSwrImageRepository)
		})
	}
	wg.Wait()
	for _, api := range []string{hsstest.APIBatchScan, hsstest.APIListSwrImageRepository, hsstest.APIRunImageSynchronize,
		hsstest.APICreateManualImageScanTask, hsstest.APIListImageScanTask, hsstest.APICreateImageSynchronizeTask, hsstest.APIListRegistryImages} {
		if got := fake.Calls(api); got.Calls != 12 || got.Refused != 0 {
			t.Errorf("%s: %+v, want 12 accepted calls", api, got)
		}
	}
	if n := len(fake.Catalog()); n != 12 {
		t.Fatalf("catalog holds %d tags, want 12", n)
	}
}

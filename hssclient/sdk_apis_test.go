package hssclient_test

// The request shapes of the image APIs beside batch-scan, proven as
// sdk_test.go proves batch-scan's: for each API and input, the SDK's own
// client and hssclient.Client send to one capturing server, and the two
// requests must agree byte for byte (method, path, query, body, every
// header, the signature); then the SDK's request goes to the strict fake,
// which must accept it, and for the lists the SDK's decoding of the fake's
// answer must agree with hssclient's.

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	hss "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/hss/v5"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/hss/v5/model"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// sameCall is one call expressed in both clients. sdk and ours return the
// rows they decoded (nil for APIs without rows).
type sameCall struct {
	name   string
	api    string
	target hssclient.Target
	// wantRows is the rows the fake answers (0: not checked).
	wantRows int
	sdk      func(*hss.HssClient) (any, error)
	ours     func(context.Context, *hssclient.Client, hssclient.Target) (any, error)
}

var (
	plainTarget = hssclient.Target{Region: "cn-north-4", ProjectID: testProject}
	epTarget    = hssclient.Target{Region: "ap-southeast-1", ProjectID: testProject, EnterpriseProjectID: "all_granted_eps"}
)

// swrRows and registryRows reduce both decodings to the same fields.
type row struct {
	ID                                                    int64
	Namespace, ImageName, ImageVersion, Digest, ImageType string
	Status, FailedDesc, RegistryType                      string
	Update, Scan                                          int64
	Vul, Unsafe, Malicious                                int
	Scannable, Latest                                     bool
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ourRows(p hssclient.ImagePage) []row {
	var out []row
	for _, im := range p.Images {
		out = append(out, row{im.ID, im.Namespace, im.ImageName, im.ImageVersion, im.ImageDigest, string(im.ImageType),
			string(im.ScanStatus), im.ScanFailedDesc, im.RegistryType, im.LatestUpdateTime, im.LatestScanTime,
			im.VulNum, im.UnsafeSettingNum, im.MaliciousFileNum, deref(im.Scannable), im.LatestVersion})
	}
	return out
}

var sameCalls = []sameCall{
	{
		name: "ListSwrImageRepository: image_type alone", api: hssclient.APIListSwrImageRepository, target: plainTarget, wantRows: 3,
		sdk: func(c *hss.HssClient) (any, error) {
			r, err := c.ListSwrImageRepository(&model.ListSwrImageRepositoryRequest{Region: ptr("cn-north-4"), ImageType: "private_image"})
			if err != nil {
				return nil, err
			}
			var out []row
			for _, im := range deref(r.DataList) {
				out = append(out, row{deref(im.Id), deref(im.Namespace), deref(im.ImageName), deref(im.ImageVersion), deref(im.ImageDigest),
					deref(im.ImageType), deref(im.ScanStatus), deref(im.ScanFailedDesc), "", deref(im.LatestUpdateTime), deref(im.LatestScanTime),
					int(deref(im.VulNum)), int(deref(im.UnsafeSettingNum)), int(deref(im.MaliciousFileNum)), deref(im.Scannable), deref(im.LatestVersion)})
			}
			return out, nil
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			p, err := c.ListSwrImageRepository(ctx, t, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage})
			return ourRows(p), err
		},
	},
	{
		name: "ListSwrImageRepository: every filter, an enterprise project", api: hssclient.APIListSwrImageRepository, target: epTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.ListSwrImageRepository(&model.ListSwrImageRepositoryRequest{
				Region: ptr("ap-southeast-1"), EnterpriseProjectId: ptr("all_granted_eps"), ImageType: "instance_image",
				Namespace: ptr("team a"), ImageName: ptr("app/api"), ImageVersion: ptr("v1+b"), LatestVersion: ptr(true),
				Offset: ptr(int32(200)), Limit: ptr(int32(200)), ScanStatus: ptr("waiting_for_scan"), InstanceName: ptr("inst"),
				ImageSize: ptr(int64(1024)), StartLatestUpdateTime: ptr(int64(1700000000000)), EndLatestUpdateTime: ptr(int64(1800000000000)),
				StartLatestScanTime: ptr(int64(0)), EndLatestScanTime: ptr(int64(1)), HasMaliciousFile: ptr(false),
				HasUnsafeSetting: ptr(true), HasVul: ptr(true), InstanceId: ptr("inst-1"),
			})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			_, err := c.ListSwrImageRepository(ctx, t, hssclient.ListImagesRequest{
				ImageType: hssclient.InstanceImage, Namespace: "team a", ImageName: "app/api", ImageVersion: "v1+b", LatestVersion: new(true),
				Offset: 200, Limit: 200, ScanStatus: hssclient.ScanWaitingForScan, InstanceName: "inst", ImageSize: ptr(int64(1024)),
				StartLatestUpdateTime: ptr(int64(1700000000000)), EndLatestUpdateTime: ptr(int64(1800000000000)),
				StartLatestScanTime: ptr(int64(0)), EndLatestScanTime: ptr(int64(1)), HasMaliciousFile: new(false),
				HasUnsafeSetting: new(true), HasVul: new(true), InstanceID: "inst-1",
			})
			return nil, err
		},
	},
	{
		name: "RunImageSynchronize: private images", api: hssclient.APIRunImageSynchronize, target: plainTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			r, err := c.RunImageSynchronize(&model.RunImageSynchronizeRequest{Region: ptr("cn-north-4"),
				Body: &model.RunImageSynchronizeRequestInfo{ImageType: "private_image"}})
			if err == nil && deref(r.ErrorCode) != 0 {
				return nil, &hssclient.ResultError{Code: int64(deref(r.ErrorCode))}
			}
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			return nil, c.RunImageSynchronize(ctx, t, hssclient.PrivateImage)
		},
	},
	{
		name: "RunImageSynchronize: shared images, an enterprise project", api: hssclient.APIRunImageSynchronize, target: epTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.RunImageSynchronize(&model.RunImageSynchronizeRequest{Region: ptr("ap-southeast-1"), EnterpriseProjectId: ptr("all_granted_eps"),
				Body: &model.RunImageSynchronizeRequestInfo{ImageType: "shared_image"}})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			return nil, c.RunImageSynchronize(ctx, t, hssclient.SharedImage)
		},
	},
	{
		name: "CreateManualImageScanTask: list rows, an SWR Enterprise image, a scope", api: hssclient.APICreateManualImageScanTask, target: epTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.CreateManualImageScanTask(&model.CreateManualImageScanTaskRequest{
				Region: ptr("ap-southeast-1"), EnterpriseProjectId: ptr("all_granted_eps"), GlobalImageType: ptr("registry"),
				Body: &model.CreateManualImageScanTaskReqInfo{ScanScope: ptr(int32(0x7fffffff)), IsAll: ptr(false),
					ImageInfo: &[]model.CreateManualImageScanTaskReqInfoImageInfo{
						{Id: ptr(int64(1)), ImageDigest: ptr("sha256:aa"), ImageName: ptr("nginx"), ImageVersion: ptr("1.25"),
							Namespace: ptr("library"), RegistryType: ptr("SwrPrivate")},
						{ImageName: ptr("app"), ImageVersion: ptr("v<1>&"), Namespace: ptr("équipe"), InstanceId: ptr("inst-1"),
							InstanceUrl: ptr("https://r.example/x?a=1&b=2"), RegistryType: ptr("SwrEnterprise")},
					}},
			})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			return nil, c.CreateManualImageScanTask(ctx, t, hssclient.ScanTaskRequest{ScanScope: ptr(hssclient.ScopeAll),
				Images: []hssclient.ScanTaskImage{
					hssclient.ScanTaskImageOf(hssclient.Image{ID: 1, ImageDigest: "sha256:aa", Namespace: "library", ImageName: "nginx",
						ImageVersion: "1.25", ImageType: hssclient.PrivateImage}),
					{Namespace: "équipe", ImageName: "app", ImageVersion: "v<1>&", InstanceID: "inst-1",
						InstanceURL: "https://r.example/x?a=1&b=2", RegistryType: hssclient.RegistrySwrEnterprise},
				}})
		},
	},
	{
		name: "CreateManualImageScanTask: one image, a rate limit", api: hssclient.APICreateManualImageScanTask, target: plainTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.CreateManualImageScanTask(&model.CreateManualImageScanTaskRequest{
				Region: ptr("cn-north-4"), GlobalImageType: ptr("registry"),
				Body: &model.CreateManualImageScanTaskReqInfo{RateLimit: ptr(int32(0)), IsAll: ptr(false),
					ImageInfo: &[]model.CreateManualImageScanTaskReqInfoImageInfo{
						{ImageName: ptr("nginx"), ImageVersion: ptr("1.25"), Namespace: ptr("library"), RegistryType: ptr("SwrShared")},
					}},
			})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			return nil, c.CreateManualImageScanTask(ctx, t, hssclient.ScanTaskRequest{RateLimit: ptr(int32(0)),
				Images: []hssclient.ScanTaskImage{{Namespace: "library", ImageName: "nginx", ImageVersion: "1.25", RegistryType: hssclient.RegistrySwrShared}}})
		},
	},
	{
		name: "ListImageScanTask: scan tasks", api: hssclient.APIListImageScanTask, target: plainTarget, wantRows: 1,
		sdk: func(c *hss.HssClient) (any, error) {
			r, err := c.ListImageScanTask(&model.ListImageScanTaskRequest{Type: "image_scan"})
			if err != nil {
				return nil, err
			}
			var out []string
			for _, t := range deref(r.DataList) {
				var failed []string
				for _, f := range deref(t.FailedImages) {
					failed = append(failed, deref(f.Namespace)+"/"+deref(f.ImageName)+":"+deref(f.ImageVersion)+" "+deref(f.FailedReason))
				}
				out = append(out, fmt.Sprintf("%s %s status %d: %d of %d ok, failed %v", deref(t.TaskId), deref(t.TaskType),
					deref(t.TaskStatus), deref(t.SuccessNum), deref(t.TotalNum), failed))
			}
			return out, nil
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			p, err := c.ListImageScanTask(ctx, t, hssclient.ListTasksRequest{Type: hssclient.TaskImageScan})
			var out []string
			for _, t := range p.Tasks {
				var failed []string
				for _, f := range t.FailedImages {
					failed = append(failed, f.Namespace+"/"+f.ImageName+":"+f.ImageVersion+" "+f.FailedReason)
				}
				out = append(out, fmt.Sprintf("%s %s status %d: %d of %d ok, failed %v", t.TaskID, t.TaskType,
					t.TaskStatus, t.SuccessNum, t.TotalNum, failed))
			}
			return out, err
		},
	},
	{
		name: "ListImageScanTask: every filter", api: hssclient.APIListImageScanTask, target: epTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.ListImageScanTask(&model.ListImageScanTaskRequest{EnterpriseProjectId: ptr("all_granted_eps"),
				GlobalImageType: ptr("registry"), Offset: ptr(int32(10)), Limit: ptr(int32(50)), Type: "image_sync",
				TaskType: ptr("manualSync"), TaskName: ptr("sync one"), TaskId: ptr("t-1"), CreateTime: ptr(int64(1)),
				EndTime: ptr(int64(4070880000000)), TaskStatus: ptr("finished"), ScanScope: ptr(int32(0x000f0000))})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			_, err := c.ListImageScanTask(ctx, t, hssclient.ListTasksRequest{Type: hssclient.TaskImageSync,
				GlobalImageType: "registry", Offset: 10, Limit: 50, TaskType: "manualSync", TaskName: "sync one", TaskID: "t-1",
				CreateTime: ptr(int64(1)), EndTime: ptr(int64(4070880000000)), TaskStatus: "finished", ScanScope: ptr(hssclient.ScopeVulnerabilities)})
			return nil, err
		},
	},
	{
		name: "CreateImageSynchronizeTask: every registry", api: hssclient.APICreateImageSynchronizeTask, target: plainTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.CreateImageSynchronizeTask(&model.CreateImageSynchronizeTaskRequest{Region: ptr("cn-north-4"),
				Body: &model.CreateImageSynchronizeTaskRequestInfo{SyncAllRegistries: true}})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			return nil, c.CreateImageSynchronizeTask(ctx, t, hssclient.SyncAll())
		},
	},
	{
		name: "CreateImageSynchronizeTask: two registries", api: hssclient.APICreateImageSynchronizeTask, target: epTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.CreateImageSynchronizeTask(&model.CreateImageSynchronizeTaskRequest{Region: ptr("ap-southeast-1"),
				EnterpriseProjectId: ptr("all_granted_eps"),
				Body: &model.CreateImageSynchronizeTaskRequestInfo{SyncAllRegistries: false, RegistryInfo: &[]model.CreateImageSynchronizeTaskRequestInfoRegistryInfo{
					{RegistryType: ptr("SwrPrivate")}, {RegistryId: ptr("reg-1"), RegistryType: ptr("SwrEnterprise")}}}})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			r := hssclient.SyncRegistries(hssclient.RegistrySwrPrivate)
			r.Registries = append(r.Registries, hssclient.SyncRegistry{RegistryID: "reg-1", RegistryType: hssclient.RegistrySwrEnterprise})
			return nil, c.CreateImageSynchronizeTask(ctx, t, r)
		},
	},
	{
		name: "ListRegistryImages: no query at all", api: hssclient.APIListRegistryImages, target: plainTarget, wantRows: 3,
		sdk: func(c *hss.HssClient) (any, error) {
			r, err := c.ListRegistryImages(&model.ListRegistryImagesRequest{})
			if err != nil {
				return nil, err
			}
			var out []row
			for _, im := range deref(r.DataList) {
				out = append(out, row{deref(im.Id), deref(im.Namespace), deref(im.ImageName), deref(im.ImageVersion), deref(im.ImageDigest),
					deref(im.ImageType), deref(im.ScanStatus), deref(im.ScanFailedDesc), deref(im.RegistryType), deref(im.LatestUpdateTime),
					deref(im.LatestScanTime), int(deref(im.VulNum)), int(deref(im.UnsafeSettingNum)), int(deref(im.MaliciousFileNum)),
					deref(im.Scannable), deref(im.LatestVersion)})
			}
			return out, nil
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			p, err := c.ListRegistryImages(ctx, t, hssclient.ListRegistryImagesRequest{})
			return ourRows(p), err
		},
	},
	{
		name: "ListRegistryImages: every filter", api: hssclient.APIListRegistryImages, target: epTarget,
		sdk: func(c *hss.HssClient) (any, error) {
			_, err := c.ListRegistryImages(&model.ListRegistryImagesRequest{EnterpriseProjectId: ptr("all_granted_eps"),
				Namespace: ptr("ns"), ImageName: ptr("img"), ImageVersion: ptr("v 1"), RegistryName: ptr("SwrShared"), Offset: ptr(int32(3)),
				ImageType: ptr("shared_image"), SortKey: ptr("latest_scan_time"), SortDir: ptr("desc"), Limit: ptr(int32(1)),
				LatestVersion: ptr(false), ImageSize: ptr(int64(5)), ScanStatus: ptr("success"),
				StartLatestUpdateTime: ptr(int64(1)), EndLatestUpdateTime: ptr(int64(2)), StartLatestScanTime: ptr(int64(3)),
				EndLatestScanTime: ptr(int64(4)), StartLatestSyncTime: ptr(int64(5)), EndLatestSyncTime: ptr(int64(6)),
				HasMaliciousFile: ptr(true), HasUnsafeSetting: ptr(false), HasVul: ptr(true), Risky: ptr(true),
				InstanceId: ptr("i"), InstanceName: ptr("n"), IsMultarch: ptr(false), SeverityLevel: ptr("High")})
			return nil, err
		},
		ours: func(ctx context.Context, c *hssclient.Client, t hssclient.Target) (any, error) {
			_, err := c.ListRegistryImages(ctx, t, hssclient.ListRegistryImagesRequest{
				Namespace: "ns", ImageName: "img", ImageVersion: "v 1", RegistryName: "SwrShared", Offset: 3,
				ImageType: hssclient.SharedImage, SortKey: "latest_scan_time", SortDir: "desc", Limit: 1,
				LatestVersion: new(false), ImageSize: ptr(int64(5)), ScanStatus: hssclient.ScanSuccess,
				StartLatestUpdateTime: ptr(int64(1)), EndLatestUpdateTime: ptr(int64(2)), StartLatestScanTime: ptr(int64(3)),
				EndLatestScanTime: ptr(int64(4)), StartLatestSyncTime: ptr(int64(5)), EndLatestSyncTime: ptr(int64(6)),
				HasMaliciousFile: new(true), HasUnsafeSetting: new(false), HasVul: new(true), Risky: new(true),
				InstanceID: "i", InstanceName: "n", IsMultarch: new(false), SeverityLevel: "High"})
			return nil, err
		},
	},
}

func TestImageAPIRequestsAreByteIdenticalToTheSDK(t *testing.T) {
	for _, tt := range sameCalls {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := captureServer(t)
			if _, err := tt.sdk(sdkClient(t, srv.URL, "")); err != nil {
				t.Fatalf("SDK: %v", err)
			}
			if _, err := tt.ours(t.Context(), ourClient(t, srv.URL, ""), tt.target); err != nil {
				t.Fatalf("hssclient: %v", err)
			}
			reqs := got()
			if len(reqs) != 2 {
				t.Fatalf("server saw %d requests, want 2", len(reqs))
			}
			sdkReq, ourReq := reqs[0], reqs[1]
			for _, f := range []struct{ what, sdk, ours string }{
				{"method", sdkReq.Method, ourReq.Method},
				{"path", sdkReq.Path, ourReq.Path},
				{"query", sdkReq.Query, ourReq.Query},
				{"body", sdkReq.Body, ourReq.Body},
				{"Authorization", sdkReq.Header.Get("Authorization"), ourReq.Header.Get("Authorization")},
			} {
				if f.sdk != f.ours {
					t.Errorf("%s differs:\n sdk:  %q\n ours: %q", f.what, f.sdk, f.ours)
				}
			}
			if !reflect.DeepEqual(sdkReq.Header, ourReq.Header) {
				t.Errorf("headers differ:\n sdk:  %v\n ours: %v", sdkReq.Header, ourReq.Header)
			}
		})
	}
}

// TestTheFakeAcceptsTheSDKsImageAPIRequests sends every case through the
// SDK to the strict fake, which holds a few known, scanned and failed
// images, and compares what the SDK decodes of the answers with what
// hssclient decodes.
func TestTheFakeAcceptsTheSDKsImageAPIRequests(t *testing.T) {
	for _, tt := range sameCalls {
		t.Run(tt.name, func(t *testing.T) {
			clock := fixedClock(testDate)
			now := clock()
			fake := hsstest.NewServer(hsstest.Options{AccessKeys: map[string]hsstest.Key{testAK: {SecretKey: testSK}},
				Now: clock, SyncDelay: -1, ScanQueueDelay: -1, ScanDuration: -1})
			t.Cleanup(fake.Close)
			ft := hsstest.Target{Region: tt.target.Region, ProjectID: tt.target.ProjectID}
			for _, tag := range []string{"1.25", "1.27", "bad"} {
				fake.PushToSWR(ft, "private_image", "library", "nginx", tag, "sha256:"+tag, now.Add(-time.Hour))
			}
			fake.FailScan(hsstest.Ref{Namespace: "library", Image: "nginx", Tag: "bad"}, "download_failed")
			fake.Synchronize(ft, "private_image")
			scan := hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{
				{Namespace: "library", ImageName: "nginx", ImageVersion: "1.27", RegistryType: hssclient.RegistrySwrPrivate},
				{Namespace: "library", ImageName: "nginx", ImageVersion: "bad", RegistryType: hssclient.RegistrySwrPrivate}}}
			ours := ourClient(t, fake.URL, "")
			if err := ours.CreateManualImageScanTask(t.Context(), tt.target, scan); err != nil {
				t.Fatalf("set-up scan: %v", err)
			}

			sdkRows, err := tt.sdk(sdkClient(t, fake.URL, ""))
			if err != nil {
				t.Fatalf("fake refused the SDK's request: %v (refusals %+v)", err, fake.Refusals())
			}
			ourRows, err := tt.ours(t.Context(), ours, tt.target)
			if err != nil {
				t.Fatalf("fake refused hssclient's request: %v", err)
			}
			if tt.wantRows > 0 && reflect.ValueOf(ourRows).Len() != tt.wantRows {
				t.Fatalf("rows %+v, want %d", ourRows, tt.wantRows)
			}
			if !reflect.DeepEqual(sdkRows, ourRows) {
				t.Fatalf("decoded answers differ:\n sdk:  %+v\n ours: %+v", sdkRows, ourRows)
			}
			if got := fake.Calls(tt.api); got.Calls < 2 || got.Refused != 0 {
				t.Fatalf("%s counters %+v", tt.api, got)
			}
		})
	}
}

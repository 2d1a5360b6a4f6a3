package hssclient_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// validation is one table row: a request's Validate result.
type validation struct {
	name      string
	err       error
	wantField string // "" means valid
	wantRule  string
	wantItems []int
}

func checkValidation(t *testing.T, tests []validation) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantField == "" {
				if tt.err != nil {
					t.Fatalf("Validate() = %v, want nil", tt.err)
				}
				return
			}
			var found bool
			for _, e := range unwrapAll(tt.err) {
				var fe *hssclient.FieldError
				if errors.As(e, &fe) && fe.Field == tt.wantField && fe.Rule == tt.wantRule {
					found = true
				}
			}
			if !found || !errors.Is(tt.err, hssclient.ErrInvalidRequest) || hssclient.Classify(tt.err) != hssclient.ClassPermanent {
				t.Fatalf("Validate() = %v, want %s %s", tt.err, tt.wantField, tt.wantRule)
			}
			if got := hssclient.InvalidItems(tt.err); !slices.Equal(got, tt.wantItems) {
				t.Fatalf("InvalidItems = %v, want %v", got, tt.wantItems)
			}
		})
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func img(ns, name, tag string, rt hssclient.RegistryType) hssclient.ScanTaskImage {
	return hssclient.ScanTaskImage{Namespace: ns, ImageName: name, ImageVersion: tag, RegistryType: rt}
}

func TestScanTaskRequestValidate(t *testing.T) {
	ok := img("library", "nginx", "1.25", hssclient.RegistrySwrPrivate)
	enterprise := img("team", "app", "v1", hssclient.RegistrySwrEnterprise)
	long := ok
	long.Namespace = strings.Repeat("n", 65)
	many := make([]hssclient.ScanTaskImage, hssclient.MaxImages+1)
	for i := range many {
		many[i] = ok
	}
	checkValidation(t, []validation{
		{"one image", hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{ok}}.Validate(), "", "", nil},
		{"scope and rate at their limits", hssclient.ScanTaskRequest{ScanScope: ptr(hssclient.ScopeAll), RateLimit: ptr(int32(1000)),
			Images: []hssclient.ScanTaskImage{ok}}.Validate(), "", "", nil},
		{"no image", hssclient.ScanTaskRequest{}.Validate(), "image_info", "min", nil},
		{"too many images", hssclient.ScanTaskRequest{Images: many}.Validate(), "image_info", "max", nil},
		{"rate over 1000", hssclient.ScanTaskRequest{RateLimit: ptr(int32(1001)), Images: []hssclient.ScanTaskImage{ok}}.Validate(), "rate_limit", "max", nil},
		{"a negative scope", hssclient.ScanTaskRequest{ScanScope: ptr(int32(-1)), Images: []hssclient.ScanTaskImage{ok}}.Validate(), "scan_scope", "min", nil},
		{"a long namespace blames its item", hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{ok, long}}.Validate(),
			"image_info[1].namespace", "max", []int{1}},
		{"no registry type", hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{img("a", "b", "c", "")}}.Validate(),
			"image_info[0].registry_type", "required", []int{0}},
		{"an unknown registry type", hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{img("a", "b", "c", "GHCR")}}.Validate(),
			"image_info[0].registry_type", "oneof", []int{0}},
		{"an SWR Enterprise image without its instance", hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{ok, enterprise}}.Validate(),
			"image_info[1].instance_id", "required_if", []int{1}},
		{"no version", hssclient.ScanTaskRequest{Images: []hssclient.ScanTaskImage{img("a", "b", "", hssclient.RegistrySwrShared)}}.Validate(),
			"image_info[0].image_version", "min", []int{0}},
	})
}

func TestListTasksRequestValidate(t *testing.T) {
	checkValidation(t, []validation{
		{"type alone", hssclient.ListTasksRequest{Type: hssclient.TaskImageScan}.Validate(), "", "", nil},
		{"every filter", hssclient.ListTasksRequest{Type: hssclient.TaskImageSync, GlobalImageType: "local", TaskType: "autoSync",
			TaskName: strings.Repeat("x", 256), TaskID: "t", CreateTime: ptr(int64(0)), EndTime: ptr(int64(4070880000000)),
			TaskStatus: "scanning", ScanScope: ptr(hssclient.ScopeBaseline), Offset: 5, Limit: 10}.Validate(), "", "", nil},
		{"no type", hssclient.ListTasksRequest{}.Validate(), "type", "required", nil},
		{"an unknown task type", hssclient.ListTasksRequest{Type: hssclient.TaskImageScan, TaskType: "weekly"}.Validate(), "task_type", "oneof", nil},
		{"a numeric task status", hssclient.ListTasksRequest{Type: hssclient.TaskImageScan, TaskStatus: "100"}.Validate(), "task_status", "oneof", nil},
		{"an end time past 2099", hssclient.ListTasksRequest{Type: hssclient.TaskImageScan, EndTime: ptr(int64(4070880000001))}.Validate(), "end_time", "max", nil},
		{"limit 201", hssclient.ListTasksRequest{Type: hssclient.TaskImageScan, Limit: 201}.Validate(), "limit", "max", nil},
	})
}

func TestSyncTaskRequestValidate(t *testing.T) {
	checkValidation(t, []validation{
		{"every registry", hssclient.SyncAll().Validate(), "", "", nil},
		{"two registry types", hssclient.SyncRegistries(hssclient.RegistrySwrPrivate, hssclient.RegistrySwrShared).Validate(), "", "", nil},
		{"nothing to sync", hssclient.SyncTaskRequest{}.Validate(), "registry_info", "required_without", nil},
		{"all and a list", hssclient.SyncTaskRequest{SyncAllRegistries: true, Registries: []hssclient.SyncRegistry{{RegistryType: hssclient.RegistryHarbor}}}.Validate(),
			"registry_info", "excluded_with", nil},
		{"a registry without id or type", hssclient.SyncTaskRequest{Registries: []hssclient.SyncRegistry{{}}}.Validate(), "registry_info[0]", "required", nil},
		{"an unknown registry type", hssclient.SyncRegistries("Quay").Validate(), "registry_info[0].registry_type", "oneof", nil},
	})
}

func TestListRegistryImagesRequestValidate(t *testing.T) {
	checkValidation(t, []validation{
		{"nothing at all", hssclient.ListRegistryImagesRequest{}.Validate(), "", "", nil},
		{"a limit of 1 is allowed here", hssclient.ListRegistryImagesRequest{Limit: 1, ImageType: hssclient.HarborImage}.Validate(), "", "", nil},
		{"local images are not registry images", hssclient.ListRegistryImagesRequest{ImageType: hssclient.LocalImage}.Validate(), "image_type", "oneof", nil},
		{"namespace over 128", hssclient.ListRegistryImagesRequest{Namespace: strings.Repeat("n", 129)}.Validate(), "namespace", "max", nil},
		{"an unknown sort key", hssclient.ListRegistryImagesRequest{SortKey: "image_name"}.Validate(), "sort_key", "oneof", nil},
		{"an unknown severity", hssclient.ListRegistryImagesRequest{SeverityLevel: "Critical"}.Validate(), "severity_level", "oneof", nil},
		{"a sync window ending before it starts", hssclient.ListRegistryImagesRequest{StartLatestSyncTime: ptr(int64(5)), EndLatestSyncTime: ptr(int64(4))}.Validate(),
			"end_latest_sync_time", "gtefield", nil},
	})
}

func TestAnInvalidTaskRequestIsNeverSent(t *testing.T) {
	fake := akskFake(hsstest.Options{})
	c := newAKSKClient(t, fake, hssclient.Config{})
	ctx := t.Context()
	errs := []error{
		c.CreateManualImageScanTask(ctx, target, hssclient.ScanTaskRequest{}),
		c.CreateImageSynchronizeTask(ctx, target, hssclient.SyncTaskRequest{}),
		func() error { _, err := c.ListImageScanTask(ctx, target, hssclient.ListTasksRequest{}); return err }(),
		func() error {
			_, err := c.ListRegistryImages(ctx, target, hssclient.ListRegistryImagesRequest{Limit: 500})
			return err
		}(),
		func() error {
			_, err := c.ListSwrImageRepository(ctx, target, hssclient.ListImagesRequest{})
			return err
		}(),
		c.RunImageSynchronize(ctx, hssclient.Target{Region: "cn-north-4"}, hssclient.PrivateImage),
	}
	for i, err := range errs {
		if !errors.Is(err, hssclient.ErrInvalidRequest) {
			t.Errorf("call %d: %v, want an invalid request", i, err)
		}
	}
	for _, api := range []string{hsstest.APICreateManualImageScanTask, hsstest.APICreateImageSynchronizeTask, hsstest.APIListImageScanTask,
		hsstest.APIListRegistryImages, hsstest.APIListSwrImageRepository, hsstest.APIRunImageSynchronize} {
		if n := fake.Calls(api).Calls; n != 0 {
			t.Errorf("%s: the fake saw %d calls", api, n)
		}
	}
}

// TestTheTaskLifecycleAgainstTheFake drives the successor APIs only: a
// sync task, the registry list, a scan task of the rows, its progress in
// the task list, the result in the registry list.
func TestTheTaskLifecycleAgainstTheFake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := akskFake(hsstest.Options{SyncDelay: 30 * time.Second, ScanQueueDelay: -1, ScanDuration: time.Minute})
		obs := &recorder{}
		c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithObserver(obs))
		ctx := t.Context()
		for _, tag := range []string{"a", "b"} {
			fake.PushToSWR(fakeTarget, "shared_image", "ns", "app", tag, "sha256:"+tag, time.Now())
		}
		fake.FailScan(hsstest.Ref{Namespace: "ns", Image: "app", Tag: "b"}, "failed_to_scan_file")
		if err := c.CreateImageSynchronizeTask(ctx, target, hssclient.SyncRegistries(hssclient.RegistrySwrShared)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		page, err := c.ListRegistryImages(ctx, target, hssclient.ListRegistryImagesRequest{ImageType: hssclient.SharedImage, Limit: 200})
		if err != nil || page.Total != 2 || page.Images[0].RegistryType != string(hssclient.RegistrySwrShared) || page.Images[0].LatestSyncTime == 0 {
			t.Fatalf("registry images: %+v, %v", page, err)
		}
		var items []hssclient.ScanTaskImage
		for _, im := range page.Images {
			items = append(items, hssclient.ScanTaskImageOf(im))
		}
		if items[1].ID == 0 || items[1].RegistryType != hssclient.RegistrySwrShared || items[1].ImageDigest != "sha256:b" {
			t.Fatalf("scan task item of a row: %+v", items[1])
		}
		if err := c.CreateManualImageScanTask(ctx, target, hssclient.ScanTaskRequest{Images: items}); err != nil {
			t.Fatal(err)
		}
		tasks := func() hssclient.Task {
			t.Helper()
			p, err := c.ListImageScanTask(ctx, target, hssclient.ListTasksRequest{Type: hssclient.TaskImageScan, TaskType: "manual"})
			if err != nil || p.Total != 1 {
				t.Fatalf("tasks: %+v, %v", p, err)
			}
			return p.Tasks[0]
		}
		if tk := tasks(); tk.Finished() || tk.TaskStatus != 0 || tk.TotalNum != 2 || tk.RemainMin != 1 {
			t.Fatalf("a running task: %+v", tk)
		}
		time.Sleep(time.Minute)
		tk := tasks()
		if !tk.Finished() || tk.SuccessNum != 1 || tk.FailedNum != 1 || len(tk.FailedImages) != 1 ||
			tk.FailedImages[0].ImageVersion != "b" || tk.FailedImages[0].FailedReason != "failed_to_scan_file" {
			t.Fatalf("the finished task: %+v", tk)
		}
		page, err = c.ListRegistryImages(ctx, target, hssclient.ListRegistryImagesRequest{ScanStatus: hssclient.ScanFailed})
		if err != nil || page.Total != 1 || page.Images[0].ScanFailedDesc != "failed_to_scan_file" || page.Images[0].ScanFailedCode != "failed_to_scan_file" {
			t.Fatalf("failed registry images: %+v, %v", page, err)
		}
		syncs, err := c.ListImageScanTask(ctx, target, hssclient.ListTasksRequest{Type: hssclient.TaskImageSync, TaskStatus: "finished"})
		if err != nil || syncs.Total != 1 || syncs.Tasks[0].TaskType != "manualSync" {
			t.Fatalf("sync tasks: %+v, %v", syncs, err)
		}
		var scanCall hssclient.Call
		for _, call := range obs.Calls() {
			if call.API == hssclient.APICreateManualImageScanTask {
				scanCall = call
			}
		}
		if scanCall.Images != 2 || scanCall.Class != hssclient.ClassOK {
			t.Fatalf("observed scan task call %+v", scanCall)
		}
	})
}

func TestListImageScanTaskDecodes(t *testing.T) {
	c := answering(t, 200, `{"total_num":1,"data_list":[{"task_id":"t1","task_type":"manual","image_type":"registry","task_status":-3,
		"failed_reason":"x","failed_images":[{"id":4,"namespace":"n","image_name":"i","image_version":"v","registry_type":"SwrPrivate","failed_reason":"download_failed"}],"other":1}]}`, nil)
	p, err := c.ListImageScanTask(t.Context(), target, hssclient.ListTasksRequest{Type: hssclient.TaskImageScan})
	mustNot(t, err)
	if p.Total != 1 || !p.Tasks[0].Finished() || p.Tasks[0].TaskStatus != hssclient.TaskFailed || p.Tasks[0].FailedImages[0].ID != 4 {
		t.Fatalf("page %+v", p)
	}
	c = answering(t, 200, `{"total_num":1,"data_list":[{"task_status":"finished"}]}`, nil)
	if _, err := c.ListImageScanTask(t.Context(), target, hssclient.ListTasksRequest{Type: hssclient.TaskImageScan}); err == nil ||
		hssclient.Classify(err) != hssclient.ClassRetry {
		t.Fatalf("a string task_status: %v", err)
	}
}

package hssclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

var fakeTarget = hsstest.Target{Region: target.Region, ProjectID: target.ProjectID}

// TestTheImageLifecycleAgainstTheFake walks one pushed tag through the
// fake with the client: unknown, synced, known and unscanned, scanned,
// with its findings and scan time.
func TestTheImageLifecycleAgainstTheFake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := akskFake(hsstest.Options{SyncDelay: 10 * time.Second, ScanQueueDelay: 5 * time.Second, ScanDuration: time.Minute})
		obs := &recorder{}
		c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithObserver(obs))
		ctx := t.Context()
		pushed := time.Now()
		fake.PushToSWR(fakeTarget, "private_image", "library", "nginx", "1.25", "sha256:aa", pushed)

		find := func() (hssclient.Image, bool) {
			t.Helper()
			page, err := c.ListSwrImageRepository(ctx, target, hssclient.ListImagesRequest{
				ImageType: hssclient.PrivateImage, Namespace: "library", ImageName: "nginx", ImageVersion: "1.25", Limit: hssclient.MaxLimit,
			})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(page.Images) != page.Total || page.Total > 1 {
				t.Fatalf("page = %+v", page)
			}
			if page.Total == 0 {
				return hssclient.Image{}, false
			}
			return page.Images[0], true
		}

		if _, ok := find(); ok {
			t.Fatal("HSS knows the image before any sync")
		}
		if err := c.RunImageSynchronize(ctx, target, hssclient.PrivateImage); err != nil {
			t.Fatalf("sync: %v", err)
		}
		time.Sleep(9 * time.Second)
		if _, ok := find(); ok {
			t.Fatal("HSS knows the image before the sync completed")
		}
		time.Sleep(time.Second)
		im, ok := find()
		if !ok || im.ScanStatus != hssclient.ScanUnscan || im.ImageDigest != "sha256:aa" || im.ID == 0 ||
			!im.UpdatedAt().Equal(pushed.Add(10*time.Second)) || !im.ScannedAt().IsZero() || im.Scannable == nil || !*im.Scannable {
			t.Fatalf("after the sync: %+v", im)
		}

		asked := time.Now()
		if err := c.BatchScan(ctx, target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1.25"))); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			after time.Duration
			want  hssclient.ScanStatus
		}{{0, hssclient.ScanWaitingForScan}, {5 * time.Second, hssclient.ScanScanning}, {time.Minute, hssclient.ScanSuccess}} {
			time.Sleep(step.after)
			im, _ = find()
			if im.ScanStatus != step.want || im.ScanStatus.IsTerminal() != (step.want == hssclient.ScanSuccess) {
				t.Fatalf("%v after the scan request: status %s, want %s", time.Since(asked), im.ScanStatus, step.want)
			}
		}
		want := hsstest.DefaultFindings(hsstest.Ref{Namespace: "library", Image: "nginx", Tag: "1.25"})
		if !im.ScannedAt().Equal(asked.Add(65*time.Second)) || im.VulNum != want.Vul ||
			im.UnsafeSettingNum != want.UnsafeSetting || im.MaliciousFileNum != want.MaliciousFile {
			t.Fatalf("result %+v, want findings %+v scanned at +65s", im, want)
		}

		var apis []string
		for _, call := range obs.Calls() {
			apis = append(apis, call.API)
		}
		if apis[0] != hssclient.APIListSwrImageRepository || apis[1] != hssclient.APIRunImageSynchronize ||
			apis[4] != hssclient.APIBatchScan || obs.Calls()[3].Images != 1 {
			t.Fatalf("observed APIs %v, calls %+v", apis, obs.Calls())
		}
	})
}

func TestListImagesRequestValidate(t *testing.T) {
	ms := func(v int64) *int64 { return &v }
	tests := []struct {
		name      string
		req       hssclient.ListImagesRequest
		wantField string // "" means valid
		wantRule  string
	}{
		{"image_type alone", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage}, "", ""},
		{"every filter at its limit", hssclient.ListImagesRequest{
			ImageType: hssclient.InstanceImage, Namespace: strings.Repeat("n", 256), ImageName: strings.Repeat("i", 128),
			ImageVersion: strings.Repeat("v", 64), ScanStatus: hssclient.ScanWaitingForScan, InstanceID: strings.Repeat("x", 128),
			InstanceName: strings.Repeat("y", 128), ImageSize: ms(2147483547), LatestVersion: new(true), HasVul: new(false),
			StartLatestUpdateTime: ms(0), EndLatestUpdateTime: ms(0), StartLatestScanTime: ms(1700000000000), EndLatestScanTime: ms(1800000000000),
			Offset: hssclient.MaxOffset, Limit: hssclient.MaxLimit,
		}, "", ""},
		{"local images may be listed", hssclient.ListImagesRequest{ImageType: hssclient.LocalImage, Limit: hssclient.MinLimit}, "", ""},
		{"image_type is required", hssclient.ListImagesRequest{}, "image_type", "required"},
		{"an unknown image_type", hssclient.ListImagesRequest{ImageType: "harbor"}, "image_type", "oneof"},
		{"image_version over 64", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, ImageVersion: strings.Repeat("v", 65)}, "image_version", "max"},
		{"namespace over 256", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, Namespace: strings.Repeat("n", 257)}, "namespace", "max"},
		{"download_failed is no list filter of the SDK", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, ScanStatus: hssclient.ScanDownloadFailed}, "scan_status", "oneof"},
		{"limit under 10", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, Limit: 9}, "limit", "min"},
		{"limit over 200", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, Limit: 201}, "limit", "max"},
		{"negative offset", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, Offset: -1}, "offset", "min"},
		{"offset over 2000000", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, Offset: 2000001}, "offset", "max"},
		{"a negative time", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, StartLatestScanTime: ms(-1)}, "start_latest_scan_time", "min"},
		{"a window ending before it starts", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage,
			StartLatestUpdateTime: ms(2), EndLatestUpdateTime: ms(1)}, "end_latest_update_time", "gtefield"},
		{"image_size over its maximum", hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage, ImageSize: ms(2147483548)}, "image_size", "max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *hssclient.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || fe.Rule != tt.wantRule || !errors.Is(err, hssclient.ErrInvalidRequest) {
				t.Fatalf("Validate() = %v, want %s %s", err, tt.wantField, tt.wantRule)
			}
			if hssclient.Classify(err) != hssclient.ClassPermanent {
				t.Fatalf("Classify = %v", hssclient.Classify(err))
			}
		})
	}
}

// answering is a client whose every request is answered status and body,
// keeping the last request.
func answering(t *testing.T, status int, body string, last **http.Request) *hssclient.Client {
	t.Helper()
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if last != nil {
			*last = r
		}
		return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)),
			Header: http.Header{"X-Request-Id": {"req-1"}}, Request: r}, nil
	})}
	st, err := hssclient.StaticToken(hssclient.NewSecret("tok"))
	mustNot(t, err)
	c, err := hssclient.New(hssclient.Config{Auth: st}, hssclient.WithHTTPClient(hc))
	mustNot(t, err)
	return c
}

func TestListSwrImageRepositoryDecodes(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    hssclient.ImagePage
		wantErr string
	}{
		{"the reference's example row", 200, `{"total_num":1,"data_list":[{"id":7,"namespace":"scc_hss_container","image_name":"euleros","image_id":"1f7b6a4c7d","image_digest":"sha256:e5c7","image_version":"2.2.5","image_type":"private_image","latest_version":true,"scan_status":"success","scan_failed_desc":"","image_size":1000,"latest_update_time":1662542222000,"latest_scan_time":1662542222111,"vul_num":1,"unsafe_setting_num":2,"malicious_file_num":3,"domain_name":"","shared_status":"","scannable":true,"instance_name":"","instance_id":"","instance_url":"","association_images":[{"image_name":"a"}],"new_field":{"x":1}}]}`,
			hssclient.ImagePage{Total: 1, Images: []hssclient.Image{{ID: 7, Namespace: "scc_hss_container", ImageName: "euleros", ImageID: "1f7b6a4c7d",
				ImageDigest: "sha256:e5c7", ImageVersion: "2.2.5", ImageType: hssclient.PrivateImage, LatestVersion: true, ScanStatus: hssclient.ScanSuccess,
				ImageSize: 1000, LatestUpdateTime: 1662542222000, LatestScanTime: 1662542222111, VulNum: 1, UnsafeSettingNum: 2, MaliciousFileNum: 3,
				Scannable: new(true)}}}, ""},
		{"absent fields are zero", 200, `{"data_list":[{"id":1}]}`, hssclient.ImagePage{Images: []hssclient.Image{{ID: 1}}}, ""},
		{"an empty body is an empty page", 200, ``, hssclient.ImagePage{}, ""},
		{"a wrong type fails", 200, `{"total_num":"1"}`, hssclient.ImagePage{}, "decode image list"},
		{"a negative total fails", 200, `{"total_num":-1}`, hssclient.ImagePage{}, "negative"},
		{"not JSON fails", 200, `<html>`, hssclient.ImagePage{}, "decode image list"},
		{"an HSS error is an APIError", 400, `{"error_code":"HSS.0001","error_msg":"Invalid parameter."}`, hssclient.ImagePage{}, "HSS.0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := answering(t, tt.status, tt.body, nil)
			got, err := c.ListSwrImageRepository(t.Context(), target, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			mustNot(t, err)
			if !equalPages(got, tt.want) {
				t.Fatalf("page = %+v\nwant   %+v", got, tt.want)
			}
		})
	}
}

func equalPages(a, b hssclient.ImagePage) bool {
	if a.Total != b.Total || len(a.Images) != len(b.Images) {
		return false
	}
	for i := range a.Images {
		x, y := a.Images[i], b.Images[i]
		if (x.Scannable == nil) != (y.Scannable == nil) || (x.Scannable != nil && *x.Scannable != *y.Scannable) {
			return false
		}
		x.Scannable, y.Scannable = nil, nil
		if x != y {
			return false
		}
	}
	return true
}

func TestRunImageSynchronize(t *testing.T) {
	tests := []struct {
		name      string
		imageType hssclient.ImageType
		status    int
		body      string
		wantSent  bool
		wantErr   string
		wantClass hssclient.Class
		wantCode  int64
	}{
		{"success as in the reference", hssclient.PrivateImage, 200, `{"error_code":0,"error_description":"success"}`, true, "", hssclient.ClassOK, 0},
		{"shared images, an empty answer", hssclient.SharedImage, 200, ``, true, "", hssclient.ClassOK, 0},
		{"a 200 reporting a failure", hssclient.PrivateImage, 200, `{"error_code":5010,"error_description":"sync failed"}`, true,
			"error_code 5010: sync failed", hssclient.ClassRetry, 5010},
		{"instance images cannot be synchronized here", hssclient.InstanceImage, 200, ``, false, "image_type", hssclient.ClassPermanent, 0},
		{"no image type", "", 200, ``, false, "image_type is required", hssclient.ClassPermanent, 0},
		{"a broken answer", hssclient.PrivateImage, 200, `{"error_code":"x"}`, true, "decode image synchronize answer", hssclient.ClassRetry, 0},
		{"throttled", hssclient.PrivateImage, 429, `{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached"}`, true,
			"APIG.0308", hssclient.ClassRetry, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent *http.Request
			err := answering(t, tt.status, tt.body, &sent).RunImageSynchronize(t.Context(), target, tt.imageType)
			if (sent != nil) != tt.wantSent {
				t.Fatalf("sent = %v, want %v", sent != nil, tt.wantSent)
			}
			if got := hssclient.Classify(err); got != tt.wantClass {
				t.Fatalf("Classify(%v) = %v, want %v", err, got, tt.wantClass)
			}
			if tt.wantErr == "" {
				mustNot(t, err)
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var re *hssclient.ResultError
			if tt.wantCode != 0 && (!errors.As(err, &re) || re.Code != tt.wantCode || re.API != hssclient.APIRunImageSynchronize) {
				t.Fatalf("err = %#v, want a ResultError with code %d", err, tt.wantCode)
			}
		})
	}
}

func TestSyncFailuresOfTheFakeReachTheCaller(t *testing.T) {
	fake := akskFake(hsstest.Options{})
	c := newAKSKClient(t, fake, hssclient.Config{})
	fake.FailNextSync(1, 1, "internal error")
	var re *hssclient.ResultError
	if err := c.RunImageSynchronize(t.Context(), target, hssclient.SharedImage); !errors.As(err, &re) || re.Description != "internal error" {
		t.Fatalf("err = %v, want the fake's error_code 1", err)
	}
	mustNot(t, c.RunImageSynchronize(t.Context(), target, hssclient.SharedImage))
}

func TestIsTerminal(t *testing.T) {
	for s, want := range map[hssclient.ScanStatus]bool{
		hssclient.ScanSuccess: true, hssclient.ScanFailed: true, hssclient.ScanDownloadFailed: true, hssclient.ScanImageOversized: true,
		hssclient.ScanUnscan: false, hssclient.ScanScanning: false, hssclient.ScanWaitingForScan: false, "": false, "new_state": false,
	} {
		if hssclient.IsTerminal(s) != want {
			t.Errorf("IsTerminal(%q) = %v, want %v", s, !want, want)
		}
	}
}

// apiPacer records the APIs it was asked for.
type apiPacer struct {
	mu   sync.Mutex
	apis []string
}

func (p *apiPacer) Wait(context.Context) error { panic("an APIPacer is asked with WaitFor") }

func (p *apiPacer) WaitFor(_ context.Context, api string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.apis = append(p.apis, api)
	return nil
}

func TestAnAPIPacerIsAskedPerAPI(t *testing.T) {
	fake := akskFake(hsstest.Options{})
	p := &apiPacer{}
	c := newAKSKClient(t, fake, hssclient.Config{}, hssclient.WithPacer(p))
	ctx := t.Context()
	mustNot(t, c.RunImageSynchronize(ctx, target, hssclient.PrivateImage))
	_, err := c.ListSwrImageRepository(ctx, target, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage})
	mustNot(t, err)
	mustNot(t, c.BatchScan(ctx, target, hssclient.TargetedScan(hssclient.PrivateImage, nginx("1"))))
	want := []string{hssclient.APIRunImageSynchronize, hssclient.APIListSwrImageRepository, hssclient.APIBatchScan}
	if !slices.Equal(p.apis, want) {
		t.Fatalf("asked for %v, want %v", p.apis, want)
	}
}

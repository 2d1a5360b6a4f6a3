package hsstest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

var (
	tgt     = hssclient.Target{Region: "cn-north-4", ProjectID: project}
	fakeTgt = hsstest.Target{Region: "cn-north-4", ProjectID: project}
)

// inProcess returns a fake with the test key pair and a client calling it
// in process (so both work inside a synctest bubble).
func inProcess(t *testing.T, opts hsstest.Options) (*hsstest.Fake, *hssclient.Client) {
	t.Helper()
	opts.AccessKeys = map[string]hsstest.Key{ak: {SecretKey: sk}, tmpAK: {SecretKey: tmpSK, SecurityToken: stsTok}}
	opts.Tokens = []string{token}
	fake := hsstest.New(opts)
	s, err := hssclient.NewSigner(permanent)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hssclient.New(hssclient.Config{Auth: s, Endpoint: "http://hss.test"},
		hssclient.WithHTTPClient(&http.Client{Transport: fake.Transport()}))
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

// raw sends one signed request in process and returns the status and the
// decoded answer.
func raw(t *testing.T, fake *hsstest.Fake, method, path, query string, header http.Header, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://hss.test/v5/"+project+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = query
	req.Header = header.Clone()
	req.Header.Set("X-Sdk-Date", time.Now().UTC().Format("20060102T150405Z"))
	s, err := hssclient.NewSigner(permanent)
	if err != nil {
		t.Fatal(err)
	}
	s.Sign(req, []byte(body))
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	resp, err := fake.Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("answer %q: %v", data, err)
		}
	}
	return resp.StatusCode, doc
}

func jsonHeader(region bool) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if region {
		h.Set("Region", "cn-north-4")
	}
	return h
}

// list returns every row of the image type the client's list shows, in
// one page.
func list(t *testing.T, c *hssclient.Client, r hssclient.ListImagesRequest) hssclient.ImagePage {
	t.Helper()
	if r.ImageType == "" {
		r.ImageType = hssclient.PrivateImage
	}
	if r.Limit == 0 {
		r.Limit = hssclient.MaxLimit
	}
	p, err := c.ListSwrImageRepository(t.Context(), tgt, r)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return p
}

func tags(p hssclient.ImagePage) string {
	var out []string
	for _, im := range p.Images {
		out = append(out, im.Namespace+"/"+im.ImageName+":"+im.ImageVersion+"="+string(im.ScanStatus))
	}
	return strings.Join(out, " ")
}

func TestTheCatalogKeepsSWRAndHSSApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{SyncDelay: 20 * time.Second})
		t0 := time.Now()
		fake.PushToSWR(fakeTgt, "private_image", "team", "app", "v1", "sha256:1", t0)
		fake.PushToSWR(fakeTgt, "private_image", "team", "late", "v1", "sha256:2", t0.Add(time.Minute)) // replication lag
		fake.PushToSWR(fakeTgt, "shared_image", "team", "shared", "v1", "sha256:3", t0)

		if p := list(t, c, hssclient.ListImagesRequest{}); p.Total != 0 {
			t.Fatalf("HSS knows %s before any sync", tags(p))
		}
		if err := c.RunImageSynchronize(t.Context(), tgt, hssclient.PrivateImage); err != nil {
			t.Fatal(err)
		}
		time.Sleep(19 * time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{}); p.Total != 0 {
			t.Fatalf("HSS knows %s before the sync completed", tags(p))
		}
		time.Sleep(time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{}); tags(p) != "team/app:v1=unscan" {
			t.Fatalf("after the sync: %s, want only the pushed private image", tags(p))
		}
		if p := list(t, c, hssclient.ListImagesRequest{ImageType: hssclient.SharedImage}); p.Total != 0 {
			t.Fatalf("a private sync taught HSS shared images: %s", tags(p))
		}

		// The late tag appears in SWR at +1m; a sync asked before then, but
		// completing after, sees it.
		time.Sleep(30 * time.Second)
		if err := c.RunImageSynchronize(t.Context(), tgt, hssclient.PrivateImage); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{}); tags(p) != "team/app:v1=unscan team/late:v1=unscan" {
			t.Fatalf("after the second sync: %s", tags(p))
		}

		// A re-pushed tag: HSS keeps the old digest until the next sync.
		fake.PushToSWR(fakeTgt, "private_image", "team", "app", "v1", "sha256:new", time.Now())
		if p := list(t, c, hssclient.ListImagesRequest{ImageName: "app"}); p.Images[0].ImageDigest != "sha256:1" {
			t.Fatalf("digest %s before a sync", p.Images[0].ImageDigest)
		}
		mustSync(t, c)
		time.Sleep(20 * time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{ImageName: "app"}); p.Images[0].ImageDigest != "sha256:new" {
			t.Fatalf("digest %s after a sync", p.Images[0].ImageDigest)
		}
		if got := fake.Calls(hsstest.APIRunImageSynchronize); got.Calls != 3 || got.Refused != 0 {
			t.Fatalf("sync counters %+v", got)
		}
	})
}

// TestMaxImagesBoundsTheCatalog: past MaxImages the oldest pushed images
// are forgotten, so a dry run that reports every push (Pushed) for weeks
// holds a bounded catalog; the newest stay.
func TestMaxImagesBoundsTheCatalog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{SyncDelay: time.Second, MaxImages: 3})
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			fake.Pushed(fakeTgt, "private_image", hsstest.Ref{Namespace: "ns", Image: n, Tag: "1"}, "sha256:"+n, time.Now())
		}
		fake.PushToSWR(fakeTgt, "private_image", "ns", "c", "1", "sha256:c2", time.Now()) // known: no eviction
		mustSync(t, c)
		time.Sleep(2 * time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{}); tags(p) != "ns/c:1=unscan ns/d:1=unscan ns/e:1=unscan" {
			t.Fatalf("catalog after 5 pushes with MaxImages 3: %s, want the newest 3", tags(p))
		}
		if o := hsstest.SimulatorOptions(hsstest.Options{}); o.MaxImages <= 0 {
			t.Fatalf("the simulator's catalog is unbounded: MaxImages %d", o.MaxImages)
		}
	})
}

func mustSync(t *testing.T, c *hssclient.Client) {
	t.Helper()
	if err := c.RunImageSynchronize(t.Context(), tgt, hssclient.PrivateImage); err != nil {
		t.Fatal(err)
	}
}

func TestAutoSyncAndAssumeInSWR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{AutoSyncAfter: 15 * time.Second, AssumeInSWR: true, ScanQueueDelay: -1, ScanDuration: 30 * time.Second})
		scan := func() {
			t.Helper()
			err := c.BatchScan(t.Context(), tgt, hssclient.TargetedScan(hssclient.PrivateImage,
				hssclient.ImageInfo{Namespace: "ns", ImageName: "img", ImageVersion: "1"}))
			if err != nil {
				t.Fatal(err)
			}
		}
		scan() // names an image nobody pushed: now in SWR, unknown to HSS
		cat := fake.Catalog()
		if len(cat) != 1 || !cat[0].InSWR || cat[0].Known || !strings.HasPrefix(cat[0].Digest, "sha256:") || len(cat[0].Digest) != 71 {
			t.Fatalf("catalog after the first scan: %+v", cat)
		}
		time.Sleep(15 * time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{}); tags(p) != "ns/img:1=unscan" {
			t.Fatalf("after AutoSyncAfter: %s", tags(p))
		}
		scan()
		if p := list(t, c, hssclient.ListImagesRequest{}); tags(p) != "ns/img:1=scanning" {
			t.Fatalf("right after the second scan (no queue delay): %s", tags(p))
		}
		time.Sleep(30 * time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{}); tags(p) != "ns/img:1=success" {
			t.Fatalf("after the scan: %s", tags(p))
		}
	})
}

func TestScansTakeTimeAndEndAsSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{SyncDelay: -1, ScanQueueDelay: 10 * time.Second, ScanDuration: time.Minute})
		for _, name := range []string{"ok", "bad", "big", "dl", "counted"} {
			fake.PushToSWR(fakeTgt, "private_image", "ns", name, "1", "sha256:"+name, time.Now())
		}
		fake.FailScan(hsstest.Ref{Namespace: "ns", Image: "bad", Tag: "1"}, "failed_to_scan_vulnerability")
		fake.FailScan(hsstest.Ref{Namespace: "ns", Image: "big", Tag: "1"}, "image_over_sized")
		fake.FailScan(hsstest.Ref{Namespace: "ns", Image: "dl", Tag: "1"}, "download_failed")
		fake.SetFindings(hsstest.Ref{Namespace: "ns", Image: "counted", Tag: "1"}, hsstest.Findings{Vul: 7, UnsafeSetting: 1, MaliciousFile: 2})
		mustSync(t, c)
		full := hssclient.FullScan(hssclient.PrivateImage)
		full.Namespace = "ns"
		asked := time.Now()
		if err := c.BatchScan(t.Context(), tgt, full); err != nil {
			t.Fatal(err)
		}
		if p := list(t, c, hssclient.ListImagesRequest{ScanStatus: hssclient.ScanWaitingForScan}); p.Total != 5 {
			t.Fatalf("waiting: %s", tags(p))
		}
		time.Sleep(10 * time.Second)
		if p := list(t, c, hssclient.ListImagesRequest{ScanStatus: hssclient.ScanScanning}); p.Total != 5 {
			t.Fatalf("scanning: %s", tags(p))
		}
		time.Sleep(time.Minute)
		p := list(t, c, hssclient.ListImagesRequest{})
		if got := tags(p); got != "ns/bad:1=failed ns/big:1=image_oversized ns/counted:1=success ns/dl:1=download_failed ns/ok:1=success" {
			t.Fatalf("results (by id, ids in name order of the sync): %s", got)
		}
		for _, im := range p.Images {
			if !im.ScannedAt().Equal(asked.Add(70 * time.Second)) {
				t.Errorf("%s scanned at %v, want request + 70s", im.ImageName, im.ScannedAt())
			}
			switch im.ImageName {
			case "bad":
				if im.ScanFailedDesc != "failed_to_scan_vulnerability" {
					t.Errorf("bad: desc %q", im.ScanFailedDesc)
				}
			case "counted":
				if im.VulNum != 7 || im.UnsafeSettingNum != 1 || im.MaliciousFileNum != 2 {
					t.Errorf("counted: %+v", im)
				}
			case "ok":
				want := hsstest.DefaultFindings(hsstest.Ref{Namespace: "ns", Image: "ok", Tag: "1"})
				if im.VulNum != want.Vul || im.UnsafeSettingNum != want.UnsafeSetting || im.MaliciousFileNum != want.MaliciousFile {
					t.Errorf("ok: %+v, want %+v", im, want)
				}
			}
		}

		// A rescan shows the previous result's time and counts until it ends.
		if err := c.BatchScan(t.Context(), tgt, hssclient.TargetedScan(hssclient.PrivateImage, hssclient.ImageInfo{Namespace: "ns", ImageName: "counted", ImageVersion: "1"})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Second)
		im := list(t, c, hssclient.ListImagesRequest{ImageName: "counted"}).Images[0]
		if im.ScanStatus != hssclient.ScanScanning || !im.ScannedAt().Equal(asked.Add(70*time.Second)) || im.VulNum != 7 {
			t.Fatalf("during a rescan: %+v", im)
		}
	})
}

func TestUnknownImages(t *testing.T) {
	for _, tt := range []struct {
		name       string
		mode       hsstest.UnknownMode
		wantStatus int
		wantCode   string
	}{
		{"UnknownImage400 refuses the whole call", hsstest.UnknownImage400, 400, "HSS.0011"},
		{"UnknownImageSilent200 accepts it and scans the known ones", hsstest.UnknownImageSilent200, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake, c := inProcess(t, hsstest.Options{UnknownImages: tt.mode, SyncDelay: -1})
				fake.PushToSWR(fakeTgt, "private_image", "ns", "known", "1", "sha256:k", time.Now())
				mustSync(t, c)
				err := c.BatchScan(t.Context(), tgt, hssclient.TargetedScan(hssclient.PrivateImage,
					hssclient.ImageInfo{Namespace: "ns", ImageName: "known", ImageVersion: "1"},
					hssclient.ImageInfo{Namespace: "ns", ImageName: "missing", ImageVersion: "1"}))
				var ae *hssclient.APIError
				switch {
				case tt.wantStatus == 200 && err != nil:
					t.Fatalf("scan: %v", err)
				case tt.wantStatus != 200 && (!errors.As(err, &ae) || ae.StatusCode != tt.wantStatus ||
					ae.ErrorCode != tt.wantCode || ae.ErrorMsg != "Requested resource not found."):
					t.Fatalf("scan: %v, want %d %s", err, tt.wantStatus, tt.wantCode)
				case hssclient.IsNotFound(err) != (tt.wantStatus == 400):
					t.Fatalf("IsNotFound(%v) = %v", err, hssclient.IsNotFound(err))
				}
				want := "ns/known:1=waiting_for_scan"
				if tt.wantStatus != 200 {
					want = "ns/known:1=unscan"
				}
				if p := list(t, c, hssclient.ListImagesRequest{}); tags(p) != want {
					t.Fatalf("after the scan: %s, want %s", tags(p), want)
				}
				if n := len(fake.Requests()); (n == 1) != (tt.wantStatus == 200) {
					t.Fatalf("%d requests recorded as accepted", n)
				}
			})
		})
	}
}

func TestTheListFiltersAndPages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{SyncDelay: -1, ScanQueueDelay: -1, ScanDuration: -1})
		t0 := time.Now()
		for _, n := range []string{"a", "b", "c", "ab"} {
			fake.PushToSWR(fakeTgt, "private_image", "ns", n, "1", "sha256:"+n, t0)
			fake.PushToSWR(fakeTgt, "private_image", "other", n, "1", "sha256:o"+n, t0)
		}
		mustSync(t, c) // learns all 8 at t0
		time.Sleep(time.Second)
		fake.PushToSWR(fakeTgt, "private_image", "ns", "a", "2", "sha256:a2", time.Now())
		mustSync(t, c) // learns ns/a:2 at t0+1s
		if err := c.BatchScan(t.Context(), tgt, hssclient.TargetedScan(hssclient.PrivateImage, hssclient.ImageInfo{Namespace: "ns", ImageName: "b", ImageVersion: "1"})); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		ms := func(t time.Time) *int64 { return hssclient.Millis(t) }
		tests := []struct {
			name string
			req  hssclient.ListImagesRequest
			want string
		}{
			{"exact namespace (no substring match)", hssclient.ListImagesRequest{Namespace: "ns", ImageName: "a"}, "ns/a:1=unscan ns/a:2=unscan"},
			{"exact name", hssclient.ListImagesRequest{Namespace: "ns", ImageName: "ab"}, "ns/ab:1=unscan"},
			{"version", hssclient.ListImagesRequest{ImageVersion: "2"}, "ns/a:2=unscan"},
			{"latest versions only", hssclient.ListImagesRequest{Namespace: "ns", LatestVersion: new(true)}, "ns/ab:1=unscan ns/b:1=success ns/c:1=unscan ns/a:2=unscan"},
			{"scan status", hssclient.ListImagesRequest{ScanStatus: hssclient.ScanSuccess}, "ns/b:1=success"},
			{"update window: the second sync", hssclient.ListImagesRequest{StartLatestUpdateTime: ms(t0.Add(time.Millisecond))}, "ns/a:2=unscan"},
			{"update window: the first sync", hssclient.ListImagesRequest{EndLatestUpdateTime: ms(t0), Namespace: "other"}, "other/a:1=unscan other/ab:1=unscan other/b:1=unscan other/c:1=unscan"},
			{"scan window", hssclient.ListImagesRequest{StartLatestScanTime: ms(t1), EndLatestScanTime: ms(t1)}, "ns/b:1=success"},
			{"a window before the scan", hssclient.ListImagesRequest{EndLatestScanTime: ms(t0)}, ""},
			{"paging", hssclient.ListImagesRequest{Namespace: "other", Offset: 1, Limit: 10}, "other/ab:1=unscan other/b:1=unscan other/c:1=unscan"},
			{"an offset past the end", hssclient.ListImagesRequest{Offset: 100}, ""},
		}
		for _, tt := range tests {
			p := list(t, c, tt.req)
			if got := tags(p); got != tt.want {
				t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
			}
		}
		p := list(t, c, hssclient.ListImagesRequest{Limit: 10, Offset: 5})
		if p.Total != 9 || len(p.Images) != 4 {
			t.Fatalf("total %d, %d rows, want 9 and 4", p.Total, len(p.Images))
		}
		if got := fake.Calls(hsstest.APIListSwrImageRepository); got.Calls != len(tests)+1 || got.Items == 0 {
			t.Fatalf("list counters %+v", got)
		}
	})
}

// TestTheNewAPIsAreStrict sends what the SDK would not: each must be
// refused with HSS's answer, and the baseline of each accepted.
func TestTheNewAPIsAreStrict(t *testing.T) {
	const swr = "/image/swr-repository"
	tests := []struct {
		name          string
		method, path  string
		query         string
		header        http.Header
		body          string
		wantStatus    int
		wantErrorCode string
	}{
		{"list baseline", "GET", swr, "image_type=private_image&limit=200&offset=0", jsonHeader(true), "", 200, ""},
		{"list: every filter", "GET", swr, url.Values{"image_type": {"instance_image"}, "namespace": {"n"}, "image_name": {"i"},
			"image_version": {"v"}, "latest_version": {"true"}, "scan_status": {"waiting_for_scan"}, "instance_id": {"x"},
			"instance_name": {"y"}, "image_size": {"0"}, "start_latest_update_time": {"1"}, "end_latest_update_time": {"2"},
			"start_latest_scan_time": {"3"}, "end_latest_scan_time": {"4"}, "has_vul": {"false"}, "has_unsafe_setting": {"true"},
			"has_malicious_file": {"true"}, "enterprise_project_id": {"all_granted_eps"}}.Encode(), jsonHeader(true), "", 200, ""},
		{"list: image_type missing", "GET", swr, "limit=10", jsonHeader(true), "", 400, "HSS.0001"},
		{"list: limit under 10", "GET", swr, "image_type=private_image&limit=9", jsonHeader(true), "", 400, "HSS.0001"},
		{"list: offset over 2000000", "GET", swr, "image_type=private_image&offset=2000001", jsonHeader(true), "", 400, "HSS.0001"},
		{"list: an unknown parameter", "GET", swr, "image_type=private_image&page=2", jsonHeader(true), "", 400, "HSS.0001"},
		{"list: a repeated parameter", "GET", swr, "image_type=private_image&image_type=shared_image", jsonHeader(true), "", 400, "HSS.0001"},
		{"list: a boolean spelt 1", "GET", swr, "image_type=private_image&has_vul=1", jsonHeader(true), "", 400, "HSS.0001"},
		{"list: download_failed is no filter of the SDK", "GET", swr, "image_type=private_image&scan_status=download_failed", jsonHeader(true), "", 400, "HSS.0001"},
		{"list: image_version over 64", "GET", swr, "image_type=private_image&image_version=" + strings.Repeat("v", 65), jsonHeader(true), "", 400, "HSS.0001"},
		{"list: no region header", "GET", swr, "image_type=private_image", jsonHeader(false), "", 400, "HSS.0001"},
		{"list: no content type", "GET", swr, "image_type=private_image", http.Header{"Region": {"r"}}, "", 400, "HSS.0002"},
		{"list: a body on a GET", "GET", swr, "image_type=private_image", jsonHeader(true), "{}", 400, "HSS.0002"},
		{"list: POST is no API", "POST", swr, "image_type=private_image", jsonHeader(true), "{}", 404, "APIG.0101"},
		{"sync baseline", "POST", "/image/synchronize", "enterprise_project_id=0", jsonHeader(true), `{"image_type":"shared_image"}`, 200, ""},
		{"sync: instance images", "POST", "/image/synchronize", "", jsonHeader(true), `{"image_type":"instance_image"}`, 400, "HSS.0001"},
		{"sync: no image_type", "POST", "/image/synchronize", "", jsonHeader(true), `{}`, 400, "HSS.0001"},
		{"sync: an unknown field", "POST", "/image/synchronize", "", jsonHeader(true), `{"image_type":"private_image","all":true}`, 400, "HSS.0002"},
		{"sync: a query parameter of the list", "POST", "/image/synchronize", "image_type=private_image", jsonHeader(true), `{"image_type":"private_image"}`, 400, "HSS.0001"},
		{"sync: no region header", "POST", "/image/synchronize", "", jsonHeader(false), `{"image_type":"private_image"}`, 400, "HSS.0001"},
		{"sync: trailing data", "POST", "/image/synchronize", "", jsonHeader(true), `{"image_type":"private_image"} {}`, 400, "HSS.0002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake, _ := inProcess(t, hsstest.Options{})
				status, doc := raw(t, fake, tt.method, tt.path, tt.query, tt.header, tt.body)
				if status != tt.wantStatus || (tt.wantErrorCode != "" && doc["error_code"] != tt.wantErrorCode) {
					t.Fatalf("answer %d %v, want %d %s", status, doc, tt.wantStatus, tt.wantErrorCode)
				}
			})
		})
	}
}

// TestEachAPIIsThrottledOnItsOwn: 5 calls per identity and API in any
// sliding minute; another API, or another identity, has its own budget.
func TestEachAPIIsThrottledOnItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{CallsPerMinute: hsstest.GatewayCallsPerMinute, SyncDelay: -1})
		listOnce := func() error {
			_, err := c.ListSwrImageRepository(t.Context(), tgt, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage})
			return err
		}
		for i := range 5 {
			if err := listOnce(); err != nil {
				t.Fatalf("list %d: %v", i+1, err)
			}
			time.Sleep(10 * time.Second)
		}
		// 50 s after the first: the sixth list is over, a sync is not.
		var ae *hssclient.APIError
		if err := listOnce(); !errors.As(err, &ae) || ae.StatusCode != 429 || ae.ErrorCode != "APIG.0308" ||
			ae.ErrorMsg != "The throttling threshold has been reached: policy user over ratelimit,limit:5,time:1 minute" {
			t.Fatalf("sixth list: %v", err)
		}
		if hssclient.Classify(ae) != hssclient.ClassRetry {
			t.Fatal("a 429 is not a retry")
		}
		mustSync(t, c)
		status, _ := raw(t, fake, "GET", "/image/swr-repository", "image_type=private_image", jsonHeader(true), "")
		if status != 429 {
			t.Fatalf("same identity by raw request: %d", status)
		}
		tokenHeader := jsonHeader(true)
		tokenHeader.Set("X-Auth-Token", token)
		req := httptest.NewRequest("GET", "/v5/"+project+"/image/swr-repository?image_type=private_image", nil)
		req.Header = tokenHeader
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("another identity (a token) was throttled: %d %s", rec.Code, rec.Body)
		}
		time.Sleep(10 * time.Second) // the first list leaves the window
		if err := listOnce(); err != nil {
			t.Fatalf("a minute after the first list: %v", err)
		}
		if err := listOnce(); err == nil {
			t.Fatal("the window holds 5 again; a further call must be throttled")
		}
		got := fake.Calls(hsstest.APIListSwrImageRepository)
		if got.Calls != 10 || got.Throttled != 3 || got.Refused != 0 {
			t.Fatalf("list counters %+v", got)
		}
		if got := fake.Calls(hsstest.APIRunImageSynchronize); got.Calls != 1 || got.Throttled != 0 {
			t.Fatalf("sync counters %+v", got)
		}
	})
}

func TestAPerAPILimitOverridesTheDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c := inProcess(t, hsstest.Options{CallsPerMinute: 1,
			APICallsPerMinute: map[string]int{hsstest.APIRunImageSynchronize: -1, hsstest.APIBatchScan: 2}, ThrottleCode: "APIGW.0308"})
		for range 10 {
			mustSync(t, c)
		}
		scan := func() error {
			return c.BatchScan(t.Context(), tgt, hssclient.TargetedScan(hssclient.PrivateImage, hssclient.ImageInfo{Namespace: "a", ImageName: "b", ImageVersion: "c"}))
		}
		var ae *hssclient.APIError
		if err1, err2, err3 := scan(), scan(), scan(); err1 != nil || err2 != nil || !errors.As(err3, &ae) || ae.ErrorCode != "APIGW.0308" {
			t.Fatalf("scans: %v %v %v", err1, err2, err3)
		}
	})
}

func TestTheTaskAPIsAreStrict(t *testing.T) {
	const scanTask, syncTask, tasks, registry = "/image/image-scan/tasks", "/image/image-sync/tasks", "/image/tasks", "/image/registries/images"
	item := `{"namespace":"ns","image_name":"i","image_version":"1","registry_type":"SwrPrivate"}`
	tests := []struct {
		name          string
		method, path  string
		query         string
		header        http.Header
		body          string
		wantStatus    int
		wantErrorCode string
	}{
		{"scan task baseline", "POST", scanTask, "global_image_type=registry", jsonHeader(true), `{"is_all":false,"image_info":[` + item + `]}`, 200, ""},
		{"scan task: is_all with a query", "POST", scanTask, "", jsonHeader(true), `{"is_all":true,"query_info":{"image_type":"private_image","namespace":"ns","local_image_type":"swr_image"}}`, 200, ""},
		{"scan task: no images", "POST", scanTask, "", jsonHeader(true), `{"is_all":false,"image_info":[]}`, 400, "HSS.0001"},
		{"scan task: rate over 1000", "POST", scanTask, "", jsonHeader(true), `{"rate_limit":1001,"image_info":[` + item + `]}`, 400, "HSS.0001"},
		{"scan task: an unknown registry type", "POST", scanTask, "", jsonHeader(true), `{"image_info":[{"namespace":"a","image_name":"b","image_version":"c","registry_type":"Quay"}]}`, 400, "HSS.0001"},
		{"scan task: an unknown item field", "POST", scanTask, "", jsonHeader(true), `{"image_info":[{"tag":"c"}]}`, 400, "HSS.0002"},
		{"scan task: global_image_type local_image", "POST", scanTask, "global_image_type=local_image", jsonHeader(true), `{"image_info":[` + item + `]}`, 400, "HSS.0001"},
		{"scan task: no region", "POST", scanTask, "", jsonHeader(false), `{"image_info":[` + item + `]}`, 400, "HSS.0001"},
		{"sync task baseline", "POST", syncTask, "", jsonHeader(true), `{"sync_all_registries":true}`, 200, ""},
		{"sync task: a list", "POST", syncTask, "", jsonHeader(true), `{"sync_all_registries":false,"registry_info":[{"registry_id":"r","registry_type":"Harbor"}]}`, 200, ""},
		{"sync task: sync_all_registries missing", "POST", syncTask, "", jsonHeader(true), `{"registry_info":[{"registry_type":"SwrPrivate"}]}`, 400, "HSS.0001"},
		{"sync task: an empty list", "POST", syncTask, "", jsonHeader(true), `{"sync_all_registries":false}`, 400, "HSS.0001"},
		{"sync task: a string for the bool", "POST", syncTask, "", jsonHeader(true), `{"sync_all_registries":"true"}`, 400, "HSS.0002"},
		{"task list baseline", "GET", tasks, "type=image_scan&limit=200", jsonHeader(false), "", 200, ""},
		{"task list: a region header the model has not", "GET", tasks, "type=image_scan", jsonHeader(true), "", 400, "HSS.0001"},
		{"task list: no type", "GET", tasks, "task_type=manual", jsonHeader(false), "", 400, "HSS.0001"},
		{"task list: a numeric task_status", "GET", tasks, "type=image_scan&task_status=100", jsonHeader(false), "", 400, "HSS.0001"},
		{"task list: create_time past 2099", "GET", tasks, "type=image_scan&create_time=4070880000001", jsonHeader(false), "", 400, "HSS.0001"},
		{"registry images baseline", "GET", registry, "", jsonHeader(false), "", 200, ""},
		{"registry images: limit 1", "GET", registry, "limit=1&image_type=harbor", jsonHeader(false), "", 200, ""},
		{"registry images: limit 0", "GET", registry, "limit=0", jsonHeader(false), "", 400, "HSS.0001"},
		{"registry images: a region header", "GET", registry, "", jsonHeader(true), "", 400, "HSS.0001"},
		{"registry images: local images", "GET", registry, "image_type=local_image", jsonHeader(false), "", 400, "HSS.0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake, _ := inProcess(t, hsstest.Options{})
				status, doc := raw(t, fake, tt.method, tt.path, tt.query, tt.header, tt.body)
				if status != tt.wantStatus || (tt.wantErrorCode != "" && doc["error_code"] != tt.wantErrorCode) {
					t.Fatalf("answer %d %v, want %d %s", status, doc, tt.wantStatus, tt.wantErrorCode)
				}
			})
		})
	}
}

func TestUnknownImagesInScanTasks(t *testing.T) {
	for _, mode := range []hsstest.UnknownMode{hsstest.UnknownImage400, hsstest.UnknownImageSilent200} {
		synctest.Test(t, func(t *testing.T) {
			fake, c := inProcess(t, hsstest.Options{UnknownImages: mode, SyncDelay: -1})
			fake.PushToSWR(fakeTgt, "private_image", "ns", "known", "1", "sha256:k", time.Now())
			mustSync(t, c)
			known := list(t, c, hssclient.ListImagesRequest{}).Images[0]
			for _, tt := range []struct {
				name  string
				items []hssclient.ScanTaskImage
				ok    bool
			}{
				{"by id", []hssclient.ScanTaskImage{hssclient.ScanTaskImageOf(known)}, true},
				{"by name", []hssclient.ScanTaskImage{{Namespace: "ns", ImageName: "known", ImageVersion: "1", RegistryType: hssclient.RegistrySwrPrivate}}, true},
				{"an id HSS never gave", []hssclient.ScanTaskImage{{ID: 99, Namespace: "ns", ImageName: "known", ImageVersion: "1", RegistryType: hssclient.RegistrySwrPrivate}}, false},
				{"the right name in the wrong registry", []hssclient.ScanTaskImage{{Namespace: "ns", ImageName: "known", ImageVersion: "1", RegistryType: hssclient.RegistrySwrShared}}, false},
				{"a Harbor image", []hssclient.ScanTaskImage{{Namespace: "ns", ImageName: "known", ImageVersion: "1", RegistryType: hssclient.RegistryHarbor}}, false},
			} {
				err := c.CreateManualImageScanTask(t.Context(), tgt, hssclient.ScanTaskRequest{Images: tt.items})
				var ae *hssclient.APIError
				switch {
				case tt.ok || mode == hsstest.UnknownImageSilent200:
					if err != nil {
						t.Errorf("mode %d, %s: %v", mode, tt.name, err)
					}
				case !errors.As(err, &ae) || ae.ErrorCode != "HSS.0011":
					t.Errorf("mode %d, %s: %v, want 400 HSS.0011", mode, tt.name, err)
				}
			}
		})
	}
}

func TestFaultsCanTargetTheNewAPIs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{})
		fake.Inject(hsstest.Fault{Times: 1, Status: http.StatusServiceUnavailable, APIs: []string{hsstest.APIListSwrImageRepository}})
		fake.FailNext(5, http.StatusInternalServerError, "") // batch-scan only, as before
		if _, err := c.ListSwrImageRepository(t.Context(), tgt, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage}); hssclient.Classify(err) != hssclient.ClassRetry {
			t.Fatalf("first list: %v, want the injected 503", err)
		}
		if _, err := c.ListSwrImageRepository(t.Context(), tgt, hssclient.ListImagesRequest{ImageType: hssclient.PrivateImage}); err != nil {
			t.Fatalf("second list: %v", err)
		}
		mustSync(t, c)
		if got := fake.Calls(hsstest.APIListSwrImageRepository); got.Calls != 2 || got.Refused != 1 {
			t.Fatalf("list counters %+v", got)
		}
	})
}

// TestTheSimulatorShowsTheWholeLifecycle: without any push, a dry run's
// first scan of an image scans nothing, HSS learns the image
// SimulatorAutoSync later, and the next scan runs to its result.
func TestTheSimulatorShowsTheWholeLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := hsstest.SimulatorOptions(hsstest.Options{})
		if !opts.AssumeInSWR || opts.AutoSyncAfter != hsstest.SimulatorAutoSync {
			t.Fatalf("SimulatorOptions = %+v", opts)
		}
		_, c := inProcess(t, opts)
		scan := func() {
			t.Helper()
			if err := c.BatchScan(t.Context(), tgt, hssclient.TargetedScan(hssclient.SharedImage, hssclient.ImageInfo{Namespace: "ns", ImageName: "app", ImageVersion: "v1"})); err != nil {
				t.Fatal(err)
			}
		}
		shared := hssclient.ListImagesRequest{ImageType: hssclient.SharedImage}
		scan()
		if p := list(t, c, shared); p.Total != 0 {
			t.Fatalf("known at once: %s", tags(p))
		}
		time.Sleep(hsstest.SimulatorAutoSync)
		if p := list(t, c, shared); tags(p) != "ns/app:v1=unscan" {
			t.Fatalf("after the automatic sync: %s", tags(p))
		}
		scan()
		time.Sleep(5*time.Second + time.Minute)
		if p := list(t, c, shared); tags(p) != "ns/app:v1=success" || p.Images[0].DomainName == "" {
			t.Fatalf("after the default scan timing: %+v", p)
		}
	})
}

func TestInstanceImagesCarryTheirInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, c := inProcess(t, hsstest.Options{AutoSyncAfter: time.Second})
		ref := hsstest.Ref{Namespace: "ns", Image: "app", Tag: "1"}
		fake.PushToSWR(fakeTgt, "instance_image", ref.Namespace, ref.Image, ref.Tag, "sha256:e", time.Now())
		if !fake.SetInstance(fakeTgt, ref, "inst-1", "https://inst-1.example") || fake.SetInstance(fakeTgt, hsstest.Ref{Namespace: "x"}, "i", "") {
			t.Fatal("SetInstance found the wrong tags")
		}
		time.Sleep(time.Second)
		p := list(t, c, hssclient.ListImagesRequest{ImageType: hssclient.InstanceImage, InstanceID: "inst-1"})
		if p.Total != 1 || p.Images[0].InstanceID != "inst-1" || p.Images[0].InstanceURL != "https://inst-1.example" {
			t.Fatalf("instance images: %+v", p)
		}
		if p := list(t, c, hssclient.ListImagesRequest{ImageType: hssclient.InstanceImage, InstanceID: "inst-2"}); p.Total != 0 {
			t.Fatalf("another instance: %+v", p)
		}
	})
}

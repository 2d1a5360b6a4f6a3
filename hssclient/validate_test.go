package hssclient

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func item(ns, name, version string) ImageInfo {
	return ImageInfo{Namespace: ns, ImageName: name, ImageVersion: version}
}

func images(n int) []ImageInfo {
	list := make([]ImageInfo, n)
	for i := range list {
		list[i] = item("team", "app", "v1")
	}
	return list
}

func i64(v int64) *int64 { return &v }
func yes() *bool         { return new(true) }

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		req       BatchScanRequest
		wantField string // "" means valid
		wantRule  string
		wantItems []int
	}{
		// Targeted scans.
		{name: "a targeted scan of one private image is valid",
			req: TargetedScan(PrivateImage, item("library", "nginx", "1.25"))},
		{name: "a targeted scan of MaxImages images is valid",
			req: TargetedScan(SharedImage, images(MaxImages)...)},
		{name: "one image over MaxImages is refused",
			req: TargetedScan(PrivateImage, images(MaxImages+1)...), wantField: "image_info_list", wantRule: "max"},
		{name: "an item namespace of 64 characters is valid",
			req: TargetedScan(PrivateImage, item(strings.Repeat("n", 64), "app", "v1"))},
		{name: "an item namespace of 65 characters is refused and names the item",
			req:       TargetedScan(PrivateImage, item("ok", "app", "v1"), item(strings.Repeat("n", 65), "app", "v1")),
			wantField: "image_info_list[1].namespace", wantRule: "max", wantItems: []int{1}},
		{name: "multibyte names are counted in characters, not bytes",
			req: TargetedScan(PrivateImage, item(strings.Repeat("é", 64), strings.Repeat("名", 128), "v1"))},
		{name: "an empty item namespace is under the minimum of 1",
			req: TargetedScan(PrivateImage, item("", "app", "v1")), wantField: "image_info_list[0].namespace", wantRule: "min", wantItems: []int{0}},
		{name: "an image name of 129 characters is refused",
			req: TargetedScan(PrivateImage, item("ns", strings.Repeat("i", 129), "v1")), wantField: "image_info_list[0].image_name", wantRule: "max"},
		{name: "an image version of 128 characters is valid",
			req: TargetedScan(PrivateImage, item("ns", "app", strings.Repeat("v", 128)))},
		{name: "an image version of 129 characters is refused",
			req: TargetedScan(PrivateImage, item("ns", "app", strings.Repeat("v", 129))), wantField: "image_info_list[0].image_version", wantRule: "max"},
		{name: "an empty image version is refused",
			req: TargetedScan(PrivateImage, item("ns", "app", "")), wantField: "image_info_list[0].image_version", wantRule: "min"},
		{name: "an instance image with instance id and url is valid",
			req: TargetedScan(InstanceImage, ImageInfo{Namespace: "ns", ImageName: "app", ImageVersion: "v1",
				InstanceID: strings.Repeat("i", 128), InstanceURL: strings.Repeat("u", 256)})},
		{name: "an instance image item without instance id is refused",
			req:       TargetedScan(InstanceImage, ImageInfo{Namespace: "ns", ImageName: "app", ImageVersion: "v1", InstanceID: "x"}, item("ns", "app", "v2")),
			wantField: "image_info_list[1].instance_id", wantRule: "required_if", wantItems: []int{1}},
		{name: "an instance id of 129 characters is refused",
			req:       TargetedScan(InstanceImage, ImageInfo{Namespace: "ns", ImageName: "app", ImageVersion: "v1", InstanceID: strings.Repeat("i", 129)}),
			wantField: "image_info_list[0].instance_id", wantRule: "max"},
		{name: "an instance url of 257 characters is refused",
			req:       TargetedScan(PrivateImage, ImageInfo{Namespace: "ns", ImageName: "app", ImageVersion: "v1", InstanceURL: strings.Repeat("u", 257)}),
			wantField: "image_info_list[0].instance_url", wantRule: "max"},
		{name: "a targeted scan with operate_all false stated is valid",
			req: BatchScanRequest{ImageType: PrivateImage, ImageInfoList: images(1), OperateAll: new(false)}},
		{name: "a targeted scan with a filter is refused: filters belong to full scans",
			req: BatchScanRequest{ImageType: PrivateImage, ImageInfoList: images(1), Namespace: "team"}, wantField: "operate_all", wantRule: "required_with"},

		// The list/operate_all rule.
		{name: "an empty list without operate_all is refused",
			req: BatchScanRequest{ImageType: PrivateImage}, wantField: "operate_all", wantRule: "required_without"},
		{name: "an empty list with operate_all false is refused",
			req: BatchScanRequest{ImageType: PrivateImage, OperateAll: new(false)}, wantField: "operate_all", wantRule: "required_without"},
		{name: "a full scan that also lists images is refused",
			req: BatchScanRequest{ImageType: PrivateImage, OperateAll: yes(), ImageInfoList: images(1)}, wantField: "image_info_list", wantRule: "excluded_with"},

		// Full scans and their filters.
		{name: "a full scan of private images is valid", req: FullScan(PrivateImage)},
		{name: "a full scan with every filter at its maximum is valid", req: func() BatchScanRequest {
			r := FullScan(SharedImage)
			r.RepoType = RepoTypeSWR
			r.Namespace, r.ImageName, r.ImageVersion = strings.Repeat("n", 256), strings.Repeat("i", 256), strings.Repeat("v", 256)
			r.ScanStatus, r.LatestVersion = ScanImageOversized, new(false)
			r.ImageSize, r.StartLatestUpdateTime, r.EndLatestUpdateTime = i64(MaxNumber), i64(0), i64(MaxNumber)
			r.StartLatestScanTime, r.EndLatestScanTime = i64(0), i64(MaxNumber)
			return r
		}()},
		{name: "a filter namespace of 257 characters is refused",
			req: func() BatchScanRequest { r := FullScan(PrivateImage); r.Namespace = strings.Repeat("n", 257); return r }(), wantField: "namespace", wantRule: "max"},
		{name: "a filter image version of 257 characters is refused",
			req: func() BatchScanRequest {
				r := FullScan(PrivateImage)
				r.ImageVersion = strings.Repeat("v", 257)
				return r
			}(), wantField: "image_version", wantRule: "max"},
		{name: "an undocumented scan status is refused",
			req: func() BatchScanRequest { r := FullScan(PrivateImage); r.ScanStatus = "waiting_for_scan"; return r }(), wantField: "scan_status", wantRule: "oneof"},
		{name: "image size zero is valid and distinct from absent",
			req: func() BatchScanRequest { r := FullScan(PrivateImage); r.ImageSize = i64(0); return r }()},
		{name: "a negative image size is refused",
			req: func() BatchScanRequest { r := FullScan(PrivateImage); r.ImageSize = i64(-1); return r }(), wantField: "image_size", wantRule: "min"},
		{name: "an image size over 2147483547 is refused",
			req: func() BatchScanRequest { r := FullScan(PrivateImage); r.ImageSize = i64(MaxNumber + 1); return r }(), wantField: "image_size", wantRule: "max"},
		{name: "a millisecond timestamp of today breaks the documented maximum",
			req: func() BatchScanRequest {
				r := FullScan(PrivateImage)
				r.StartLatestScanTime = i64(1767225600000)
				return r
			}(), wantField: "start_latest_scan_time", wantRule: "max"},
		{name: "a negative end of update time is refused",
			req: func() BatchScanRequest { r := FullScan(PrivateImage); r.EndLatestUpdateTime = i64(-5); return r }(), wantField: "end_latest_update_time", wantRule: "min"},
		{name: "a repo type other than SWR is refused",
			req: func() BatchScanRequest { r := FullScan(PrivateImage); r.RepoType = "GCR"; return r }(), wantField: "repo_type", wantRule: "oneof"},

		// image_type.
		{name: "a missing image type is refused",
			req: BatchScanRequest{ImageInfoList: images(1)}, wantField: "image_type", wantRule: "required"},
		{name: "an image type HSS lists for other APIs only is refused",
			req: TargetedScan("local_image", images(1)...), wantField: "image_type", wantRule: "oneof"},
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
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Validate() = %v, want an error matching ErrInvalidRequest", err)
			}
			if fe := findField(err, tt.wantField); fe == nil || fe.Rule != tt.wantRule {
				t.Fatalf("Validate() = %v, want field %s broken by rule %s", err, tt.wantField, tt.wantRule)
			}
			if tt.wantItems != nil && !slices.Equal(InvalidItems(err), tt.wantItems) {
				t.Fatalf("InvalidItems = %v, want %v", InvalidItems(err), tt.wantItems)
			}
			if Classify(err) != ClassPermanent {
				t.Fatalf("Classify(%v) = %v, want permanent", err, Classify(err))
			}
		})
	}
}

func findField(err error, field string) *FieldError {
	var found *FieldError
	walk(err, func(e error) {
		if fe, ok := e.(*FieldError); ok && fe.Field == field && found == nil {
			found = fe
		}
	})
	return found
}

func TestTargetValidate(t *testing.T) {
	valid := Target{Region: "cn-north-4", ProjectID: "0123456789abcdef0123456789abcdef"}
	tests := []struct {
		name      string
		mutate    func(*Target)
		wantField string
	}{
		{"a region and a project are enough", func(*Target) {}, ""},
		{"the default enterprise project 0 is valid", func(t *Target) { t.EnterpriseProjectID = "0" }, ""},
		{"all_granted_eps is valid", func(t *Target) { t.EnterpriseProjectID = "all_granted_eps" }, ""},
		{"an enterprise project of 257 characters is refused", func(t *Target) { t.EnterpriseProjectID = strings.Repeat("e", 257) }, "target.enterprise_project_id"},
		{"a missing region is refused", func(t *Target) { t.Region = "" }, "target.region"},
		{"a region that would change the endpoint host is refused", func(t *Target) { t.Region = "evil.example/x" }, "target.region"},
		{"a region of 129 characters is refused", func(t *Target) { t.Region = strings.Repeat("r", 129) }, "target.region"},
		{"a missing project is refused", func(t *Target) { t.ProjectID = "" }, "target.project_id"},
		{"a project of 256 characters is valid", func(t *Target) { t.ProjectID = strings.Repeat("p", 256) }, ""},
		{"a project of 257 characters is refused", func(t *Target) { t.ProjectID = strings.Repeat("p", 257) }, "target.project_id"},
		{"a project holding a slash would change the API path and is refused", func(t *Target) { t.ProjectID = "../../v3" }, "target.project_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := valid
			tt.mutate(&target)
			err := target.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if findField(err, tt.wantField) == nil || !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Validate() = %v, want a FieldError on %s", err, tt.wantField)
			}
		})
	}
}

func TestEncodeMatchesTheReferenceExamples(t *testing.T) {
	tests := []struct {
		name string
		req  BatchScanRequest
		want string
	}{
		{"the targeted example of the reference",
			TargetedScan(PrivateImage, item("test", "openjdk", "v8.8"), item("test1", "openjdk1", "v1.0")),
			`{"image_info_list":[{"namespace":"test","image_name":"openjdk","image_version":"v8.8"},{"namespace":"test1","image_name":"openjdk1","image_version":"v1.0"}],"image_type":"private_image"}` + "\n"},
		{"the full-scan example of the reference", FullScan(PrivateImage),
			`{"operate_all":true,"image_type":"private_image"}` + "\n"},
		{"zero and false filters are sent, absent ones are not",
			func() BatchScanRequest {
				r := FullScan(SharedImage)
				r.LatestVersion = new(false)
				r.ImageSize = i64(0)
				return r
			}(),
			`{"operate_all":true,"image_type":"shared_image","latest_version":false,"image_size":0}` + "\n"},
		{"HTML characters are not escaped, as the SDK's encoder",
			TargetedScan(InstanceImage, ImageInfo{Namespace: "a", ImageName: "b", ImageVersion: "c", InstanceID: "i", InstanceURL: "https://x/?a=1&b=<2>"}),
			`{"image_info_list":[{"namespace":"a","image_name":"b","image_version":"c","instance_id":"i","instance_url":"https://x/?a=1&b=<2>"}],"image_type":"instance_image"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("encode() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

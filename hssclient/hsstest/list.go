package hsstest

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// swrRow is PrivateImageRepositoryInfo, the row of ListSwrImageRepository.
type swrRow struct {
	ID               int64  `json:"id"`
	Namespace        string `json:"namespace"`
	ImageName        string `json:"image_name"`
	ImageID          string `json:"image_id"`
	ImageDigest      string `json:"image_digest"`
	ImageVersion     string `json:"image_version"`
	ImageType        string `json:"image_type"`
	LatestVersion    bool   `json:"latest_version"`
	ScanStatus       string `json:"scan_status"`
	ScanFailedDesc   string `json:"scan_failed_desc,omitempty"`
	ImageSize        int64  `json:"image_size"`
	LatestUpdateTime int64  `json:"latest_update_time"`
	LatestScanTime   int64  `json:"latest_scan_time"`
	VulNum           int32  `json:"vul_num"`
	UnsafeSettingNum int32  `json:"unsafe_setting_num"`
	MaliciousFileNum int32  `json:"malicious_file_num"`
	DomainName       string `json:"domain_name,omitempty"`
	SharedStatus     string `json:"shared_status,omitempty"`
	Scannable        bool   `json:"scannable"`
	InstanceName     string `json:"instance_name,omitempty"`
	InstanceID       string `json:"instance_id,omitempty"`
	InstanceURL      string `json:"instance_url,omitempty"`
}

// registryRow is RegistryImagesInfo, the row of ListRegistryImages.
type registryRow struct {
	swrRow
	RegistryID     string `json:"registry_id"`
	RegistryName   string `json:"registry_name"`
	RegistryType   string `json:"registry_type"`
	ScanFailedCode string `json:"scan_failed_code,omitempty"`
	LatestSyncTime int64  `json:"latest_sync_time"`
	IsMultipleArch bool   `json:"is_multiple_arch"`
	SeverityLevel  string `json:"severity_level,omitempty"`
}

// registryTypes maps SWR image types to the registry types of the task
// APIs, and back.
var registryTypes = map[string]string{
	"private_image": "SwrPrivate", "shared_image": "SwrShared", "instance_image": "SwrEnterprise",
}

func imageTypeOfRegistry(rt string) string {
	for it, r := range registryTypes {
		if r == rt {
			return it
		}
	}
	return ""
}

// shown is a known image with what the list shows of it now.
type shown struct {
	im     *image
	st     state
	latest bool
}

// selectImages returns the images HSS knows in region/project that match
// the list filters of q, by id (the order HSS learned them: stable across
// calls, so paging by offset neither repeats nor skips rows while nothing
// new is learned). Names match exactly; real HSS may match by substring.
// imageType "" selects every type; region "" every region (the APIs
// without a region header: real HSS answers for the endpoint's region,
// which the fake cannot tell). f.mu must be held.
func (f *Fake) selectImages(region, project, imageType string, q url.Values, now time.Time) []shown {
	f.advance(now)
	// Newest version of each image, by the time HSS learned it.
	newest := map[imageKey]*image{}
	for _, im := range f.cat.images {
		if im.id == 0 || im.knownAt.After(now) {
			continue
		}
		k := im.key
		k.Tag = ""
		if n := newest[k]; n == nil || im.knownAt.After(n.knownAt) || (im.knownAt.Equal(n.knownAt) && im.id > n.id) {
			newest[k] = im
		}
	}
	var out []shown
	for _, im := range f.cat.images {
		if im.id == 0 || im.knownAt.After(now) || (region != "" && im.key.region != region) || im.key.project != project ||
			(imageType != "" && im.key.imageType != imageType) {
			continue
		}
		k := im.key
		k.Tag = ""
		s := shown{im: im, st: im.state(now), latest: newest[k] == im}
		if s.matches(q) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b shown) int { return cmp.Compare(a.im.id, b.im.id) })
	return out
}

func (s shown) matches(q url.Values) bool {
	exact := func(key, v string) bool { return !q.Has(key) || q.Get(key) == v }
	flag := func(key string, v bool) bool { return !q.Has(key) || (q.Get(key) == "true") == v }
	window := func(name string, v int64) bool {
		if q.Has("start_"+name) || q.Has("end_"+name) {
			if v == 0 {
				return false
			}
		}
		if st, err := strconv.ParseInt(q.Get("start_"+name), 10, 64); err == nil && v < st {
			return false
		}
		if end, err := strconv.ParseInt(q.Get("end_"+name), 10, 64); err == nil && v > end {
			return false
		}
		return true
	}
	fd := s.st.findings
	return exact("namespace", s.im.key.Namespace) && exact("image_name", s.im.key.Image) &&
		exact("image_version", s.im.key.Tag) && exact("scan_status", s.st.status) &&
		exact("instance_id", s.im.instanceID) &&
		(!q.Has("latest_version") || q.Get("latest_version") == "false" || s.latest) &&
		flag("has_vul", fd.Vul > 0) && flag("has_unsafe_setting", fd.UnsafeSetting > 0) &&
		flag("has_malicious_file", fd.MaliciousFile > 0) &&
		flag("risky", fd.Vul+fd.UnsafeSetting+fd.MaliciousFile > 0) && flag("is_multarch", false) &&
		exact("severity_level", severity(s.st)) &&
		exact("registry_name", registryTypes[s.im.key.imageType]) &&
		window("latest_update_time", s.im.knownAt.UnixMilli()) && window("latest_scan_time", s.st.scanTime) &&
		window("latest_sync_time", s.im.lastSync.UnixMilli())
	// image_size and instance_name are accepted and not applied: the
	// reference does not say what the size filter means.
}

func severity(st state) string {
	switch v := st.findings.Vul; {
	case st.scanTime == 0:
		return ""
	case v == 0:
		return "Security"
	case v < 5:
		return "Low"
	case v < 15:
		return "Medium"
	default:
		return "High"
	}
}

func (s shown) row() swrRow {
	im, st := s.im, s.st
	h := fnv.New32a()
	h.Write([]byte(im.key.Ref.String()))
	r := swrRow{
		ID: im.id, Namespace: im.key.Namespace, ImageName: im.key.Image, ImageVersion: im.key.Tag,
		ImageID: fmt.Sprintf("%016x", uint64(im.id)*0x9e3779b97f4a7c15), ImageDigest: im.hssDigest, ImageType: im.key.imageType,
		LatestVersion: s.latest, ScanStatus: st.status, ScanFailedDesc: st.desc,
		ImageSize:        int64(h.Sum32()%(500<<20)) + 1<<20,
		LatestUpdateTime: im.knownAt.UnixMilli(), LatestScanTime: st.scanTime,
		VulNum: int32(st.findings.Vul), UnsafeSettingNum: int32(st.findings.UnsafeSetting), MaliciousFileNum: int32(st.findings.MaliciousFile),
		Scannable: true,
	}
	switch im.key.imageType {
	case "shared_image":
		r.DomainName, r.SharedStatus = "hsstest-owner", "effective"
	case "instance_image":
		r.InstanceID, r.InstanceURL, r.InstanceName = im.instanceID, im.instanceURL, im.instanceID
	}
	return r
}

// page cuts rows at offset and limit (default 10).
func page[T any](rows []T, q url.Values) []T {
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit := 10
	if l, err := strconv.Atoi(q.Get("limit")); err == nil {
		limit = l
	}
	if offset >= len(rows) {
		return []T{}
	}
	return rows[offset:min(len(rows), offset+limit)]
}

// listSwrImages serves ListSwrImageRepository.
func (f *Fake) listSwrImages(c apiCall) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	sel := f.selectImages(c.target.Region, c.target.ProjectID, c.query.Get("image_type"), c.query, c.now)
	rows := make([]swrRow, 0, len(sel))
	statuses := map[string]int{}
	for _, s := range page(sel, c.query) {
		rows = append(rows, s.row())
		statuses[s.st.status]++
	}
	// What the page shows, so a dry run's log tells each image's progress.
	f.log.Info("hss image list", "image_type", c.query.Get("image_type"), "total", len(sel), "rows", len(rows), "statuses", statuses)
	return answer{doc: map[string]any{"total_num": len(sel), "data_list": rows}, items: len(rows)}
}

// listRegistryImages serves ListRegistryImages: the same catalog with the
// registry fields, image_type optional, sortable by latest_scan_time.
func (f *Fake) listRegistryImages(c apiCall) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := c.query.Get("image_type")
	if it == "harbor" || it == "jfrog" {
		return answer{doc: map[string]any{"total_num": 0, "data_list": []registryRow{}}}
	}
	sel := f.selectImages(c.target.Region, c.target.ProjectID, it, c.query, c.now)
	if c.query.Get("sort_key") == "latest_scan_time" {
		desc := c.query.Get("sort_dir") == "desc"
		slices.SortStableFunc(sel, func(a, b shown) int {
			if desc {
				return cmp.Compare(b.st.scanTime, a.st.scanTime)
			}
			return cmp.Compare(a.st.scanTime, b.st.scanTime)
		})
	}
	rows := make([]registryRow, 0, len(sel))
	for _, s := range page(sel, c.query) {
		rt := registryTypes[s.im.key.imageType]
		r := registryRow{swrRow: s.row(), RegistryID: rt, RegistryName: rt, RegistryType: rt,
			LatestSyncTime: s.im.lastSync.UnixMilli(), SeverityLevel: severity(s.st)}
		r.ScanFailedCode = r.ScanFailedDesc
		rows = append(rows, r)
	}
	return answer{doc: map[string]any{"total_num": len(sel), "data_list": rows}, items: len(rows)}
}

// scanImages starts the scans of an accepted batch-scan request and
// returns the images HSS does not know. Under UnknownImage400 nothing is
// scanned when one is unknown. f.mu must be held.
func (f *Fake) scanImages(req Request, now time.Time) []string {
	f.advance(now)
	it := deref(req.Body.ImageType)
	if req.Body.OperateAll != nil && *req.Body.OperateAll && len(req.items()) == 0 {
		q := url.Values{}
		for k, v := range map[string]*string{"namespace": req.Body.Namespace, "image_name": req.Body.ImageName,
			"image_version": req.Body.ImageVersion, "scan_status": req.Body.ScanStatus} {
			if v != nil {
				q.Set(k, *v)
			}
		}
		for _, s := range f.selectImages(req.Target.Region, req.Target.ProjectID, it, q, now) {
			f.scan(s.im, now)
		}
		return nil
	}
	var known []*image
	var unknown []string
	for _, item := range req.items() {
		k := imageKey{region: req.Target.Region, project: req.Target.ProjectID, imageType: it,
			Ref: Ref{item.Namespace, item.ImageName, item.ImageVersion}}
		if im := f.lookup(k, now); im != nil {
			known = append(known, im)
		} else {
			unknown = append(unknown, k.Ref.String())
		}
	}
	if len(unknown) > 0 && f.opts.UnknownImages == UnknownImage400 {
		return unknown
	}
	for _, im := range known {
		f.scan(im, now)
	}
	return unknown
}

// CatalogImage is what the catalog holds of one image tag now.
type CatalogImage struct {
	Target    Target // EnterpriseProjectID is not kept
	ImageType string
	Ref
	// InSWR: the tag exists in SWR now; Digest is its digest there.
	InSWR  bool
	Digest string
	// Known: HSS knows it (ID > 0) since KnownAt.
	Known   bool
	ID      int64
	KnownAt time.Time
	// ScanStatus, ScanFailedDesc, ScannedAt and Findings are what the
	// image list shows.
	ScanStatus     string
	ScanFailedDesc string
	ScannedAt      time.Time
	Findings       Findings
}

// Catalog returns every image tag, in SWR or known to HSS, as of the
// fake's clock, ordered by target, type and name.
func (f *Fake) Catalog() []CatalogImage {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	f.advance(now)
	var out []CatalogImage
	for _, im := range f.sortedImages() {
		ci := CatalogImage{
			Target: Target{Region: im.key.region, ProjectID: im.key.project}, ImageType: im.key.imageType, Ref: im.key.Ref,
			InSWR: !im.inSWRAt.After(now), Digest: im.swrDigest,
		}
		if im.id != 0 && !im.knownAt.After(now) {
			st := im.state(now)
			ci.Known, ci.ID, ci.KnownAt = true, im.id, im.knownAt
			ci.ScanStatus, ci.ScanFailedDesc, ci.Findings = st.status, st.desc, st.findings
			if st.scanTime > 0 {
				ci.ScannedAt = time.UnixMilli(st.scanTime)
			}
		}
		out = append(out, ci)
	}
	return out
}

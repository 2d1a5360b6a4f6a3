package hsstest

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The task APIs: CreateManualImageScanTask, CreateImageSynchronizeTask and
// ListImageScanTask, from the SDK's models. A scan task drives the same
// catalog scans as batch-scan; a sync task the same syncs as
// RunImageSynchronize. Both are listed as tasks, and so is every
// RunImageSynchronize (as manualSync: whether real HSS lists it is
// unverified).

// task is a scan or sync task, as ListImageScanTask shows it.
type task struct {
	id, kind, taskType string
	target             Target
	begin, end         time.Time
	images             []*image
	runs               []*scanRun
	isAll              bool
	scanScope          *int32
	rateLimit          *int32
}

// addTask records a task. f.mu must be held.
func (f *Fake) addTask(c apiCall, t *task) {
	f.taskSeq++
	t.id = "hsstest-task-" + strconv.Itoa(f.taskSeq)
	t.target = c.target
	if len(f.tasks) >= maxTasks {
		f.tasks = slices.Delete(f.tasks, 0, len(f.tasks)-maxTasks+1)
	}
	f.tasks = append(f.tasks, t)
}

// maxTasks is the tasks kept, newest: ListImageScanTask documents at most
// 1000.
const maxTasks = 1000

// scanTaskBody is CreateManualImageScanTaskReqInfo, pointers telling absent
// fields from empty ones.
type scanTaskBody struct {
	ScanScope *int32           `json:"scan_scope"`
	RateLimit *int32           `json:"rate_limit"`
	IsAll     *bool            `json:"is_all"`
	QueryInfo *scanTaskQuery   `json:"query_info"`
	ImageInfo *[]scanTaskImage `json:"image_info"`
}

type scanTaskQuery struct {
	LocalImageType        *string `json:"local_image_type"`
	HostID                *string `json:"host_id"`
	HostName              *string `json:"host_name"`
	PublicIP              *string `json:"public_ip"`
	PrivateIP             *string `json:"private_ip"`
	ClusterID             *string `json:"cluster_id"`
	ContainerID           *string `json:"container_id"`
	ContainerName         *string `json:"container_name"`
	PodID                 *string `json:"pod_id"`
	PodName               *string `json:"pod_name"`
	AppName               *string `json:"app_name"`
	HasVul                *bool   `json:"has_vul"`
	Namespace             *string `json:"namespace"`
	ImageName             *string `json:"image_name"`
	ImageVersion          *string `json:"image_version"`
	ImageType             *string `json:"image_type"`
	ScanStatus            *string `json:"scan_status"`
	ImageSize             *int64  `json:"image_size"`
	StartLatestUpdateTime *int64  `json:"start_latest_update_time"`
	EndLatestUpdateTime   *int64  `json:"end_latest_update_time"`
	StartLatestScanTime   *int64  `json:"start_latest_scan_time"`
	EndLatestScanTime     *int64  `json:"end_latest_scan_time"`
}

type scanTaskImage struct {
	ID           *int64  `json:"id"`
	ImageID      *string `json:"image_id"`
	ImageDigest  *string `json:"image_digest"`
	RegistryID   *string `json:"registry_id"`
	RegistryName *string `json:"registry_name"`
	ImageName    *string `json:"image_name"`
	ImageVersion *string `json:"image_version"`
	Namespace    *string `json:"namespace"`
	InstanceID   *string `json:"instance_id"`
	InstanceURL  *string `json:"instance_url"`
	RegistryType *string `json:"registry_type"`
}

var registryTypeNames = []string{"SwrPrivate", "SwrShared", "SwrEnterprise", "Harbor", "Jfrog", "Other"}

// strRule is a length rule of an optional string field.
type strRule struct {
	name     string
	v        *string
	min, max int
}

func checkStrings(rules ...strRule) *badRequest {
	for _, r := range rules {
		if r.v != nil {
			if bad := length(r.name, *r.v, r.min, r.max); bad != nil {
				return bad
			}
		}
	}
	return nil
}

func (b scanTaskBody) check() *badRequest {
	if b.ScanScope != nil && *b.ScanScope < 0 {
		return invalid("scan_scope %d is negative", *b.ScanScope)
	}
	if b.RateLimit != nil && (*b.RateLimit < 0 || *b.RateLimit > 1000) {
		return invalid("rate_limit %d is outside 0-1000", *b.RateLimit)
	}
	all := b.IsAll != nil && *b.IsAll
	var items []scanTaskImage
	if b.ImageInfo != nil {
		items = *b.ImageInfo
	}
	switch {
	case !all && len(items) == 0:
		return invalid("image_info is mandatory when is_all is not true")
	case len(items) > 10241:
		return invalid("image_info holds %d images, more than 10241", len(items))
	}
	if q := b.QueryInfo; q != nil {
		if bad := checkStrings(
			strRule{"query_info.host_id", q.HostID, 0, 128}, strRule{"query_info.host_name", q.HostName, 0, 128},
			strRule{"query_info.public_ip", q.PublicIP, 0, 128}, strRule{"query_info.private_ip", q.PrivateIP, 0, 128},
			strRule{"query_info.cluster_id", q.ClusterID, 0, 128}, strRule{"query_info.container_id", q.ContainerID, 0, 128},
			strRule{"query_info.container_name", q.ContainerName, 0, 128}, strRule{"query_info.pod_id", q.PodID, 0, 64},
			strRule{"query_info.pod_name", q.PodName, 0, 512}, strRule{"query_info.app_name", q.AppName, 0, 256},
			strRule{"query_info.namespace", q.Namespace, 0, 256}, strRule{"query_info.image_name", q.ImageName, 0, 256},
			strRule{"query_info.image_version", q.ImageVersion, 0, 256},
		); bad != nil {
			return bad
		}
		for _, e := range []struct {
			name string
			v    *string
			enum []string
		}{
			{"query_info.local_image_type", q.LocalImageType, []string{"swr_image", "other_image"}},
			{"query_info.image_type", q.ImageType, []string{"private_image", "shared_image", "instance_image", "harbor", "jfrog"}},
			{"query_info.scan_status", q.ScanStatus, []string{"unscan", "success", "scanning", "failed", "download_failed", "image_oversized"}},
		} {
			if e.v != nil && !slices.Contains(e.enum, *e.v) {
				return invalid("%s %q is not one of %s", e.name, *e.v, strings.Join(e.enum, ", "))
			}
		}
		for _, v := range []*int64{q.ImageSize, q.StartLatestUpdateTime, q.EndLatestUpdateTime, q.StartLatestScanTime, q.EndLatestScanTime} {
			if v != nil && *v < 0 {
				return invalid("query_info: a size or time is negative")
			}
		}
	}
	for i, it := range items {
		p := func(f string) string { return fmt.Sprintf("image_info[%d].%s", i, f) }
		if bad := checkStrings(
			strRule{p("image_id"), it.ImageID, 0, 128}, strRule{p("image_digest"), it.ImageDigest, 0, 128},
			strRule{p("registry_id"), it.RegistryID, 0, 128}, strRule{p("registry_name"), it.RegistryName, 0, 128},
			strRule{p("image_name"), it.ImageName, 1, 128}, strRule{p("image_version"), it.ImageVersion, 1, 128},
			strRule{p("namespace"), it.Namespace, 1, 256}, strRule{p("instance_id"), it.InstanceID, 1, 128},
			strRule{p("instance_url"), it.InstanceURL, 0, 256},
		); bad != nil {
			return bad
		}
		if it.ID != nil && *it.ID < 0 {
			return invalid("%s %d is negative", p("id"), *it.ID)
		}
		if it.RegistryType != nil && !slices.Contains(registryTypeNames, *it.RegistryType) {
			return invalid("%s %q is not one of %s", p("registry_type"), *it.RegistryType, strings.Join(registryTypeNames, ", "))
		}
	}
	return nil
}

// findTaskImage finds the known image an item names: by its id when it
// has one, else by registry type and names. f.mu must be held.
func (f *Fake) findTaskImage(t Target, it scanTaskImage, now time.Time) (*image, string) {
	name := deref(it.Namespace) + "/" + deref(it.ImageName) + ":" + deref(it.ImageVersion)
	if it.ID != nil && *it.ID > 0 {
		for _, im := range f.cat.images {
			if im.id == *it.ID && im.key.region == t.Region && im.key.project == t.ProjectID && !im.knownAt.After(now) {
				return im, name
			}
		}
		return nil, fmt.Sprintf("id %d (%s)", *it.ID, name)
	}
	imageType := imageTypeOfRegistry(deref(it.RegistryType))
	if imageType == "" || it.Namespace == nil || it.ImageName == nil || it.ImageVersion == nil {
		return nil, name
	}
	k := imageKey{region: t.Region, project: t.ProjectID, imageType: imageType,
		Ref: Ref{*it.Namespace, *it.ImageName, *it.ImageVersion}}
	return f.lookup(k, now), name
}

// createScanTask serves CreateManualImageScanTask: 200 without a body,
// like the SDK's empty response model.
func (f *Fake) createScanTask(c apiCall) answer {
	var body scanTaskBody
	if bad := decodeStrict(c.body, &body); bad != nil {
		return answer{bad: bad}
	}
	if bad := body.check(); bad != nil {
		return answer{bad: bad}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(c.now)
	var known []*image
	var unknown []string
	if body.IsAll != nil && *body.IsAll && (body.ImageInfo == nil || len(*body.ImageInfo) == 0) {
		q := url.Values{}
		if qi := body.QueryInfo; qi != nil {
			for k, v := range map[string]*string{"namespace": qi.Namespace, "image_name": qi.ImageName,
				"image_version": qi.ImageVersion, "scan_status": qi.ScanStatus} {
				if v != nil && *v != "" {
					q.Set(k, *v)
				}
			}
		}
		imageType := ""
		if body.QueryInfo != nil {
			imageType = deref(body.QueryInfo.ImageType)
		}
		for _, s := range f.selectImages(c.target.Region, c.target.ProjectID, imageType, q, c.now) {
			known = append(known, s.im)
		}
	} else {
		for _, it := range *body.ImageInfo {
			if im, name := f.findTaskImage(c.target, it, c.now); im != nil {
				known = append(known, im)
			} else {
				unknown = append(unknown, name)
			}
		}
	}
	if len(unknown) > 0 && f.opts.UnknownImages == UnknownImage400 {
		return notFound(fmt.Sprintf("%d images unknown to HSS, first %s", len(unknown), unknown[0]))
	}
	t := &task{kind: "image_scan", taskType: "manual", begin: c.now, isAll: body.IsAll != nil && *body.IsAll,
		scanScope: body.ScanScope, rateLimit: body.RateLimit}
	for _, im := range known {
		f.scan(im, c.now)
		t.images, t.runs = append(t.images, im), append(t.runs, im.cur)
	}
	f.addTask(c, t)
	if len(unknown) > 0 {
		f.log.Info("hss scan task skips images unknown to HSS", "task_id", t.id, "unknown", len(unknown), "first", unknown[0])
	}
	n := 0
	if body.ImageInfo != nil {
		n = len(*body.ImageInfo)
	}
	return answer{items: n}
}

// createSyncTask serves CreateImageSynchronizeTask: sync_all_registries
// syncs every SWR image type; otherwise each registry_info's SWR type
// (Harbor, Jfrog and Other are accepted and have no images here).
func (f *Fake) createSyncTask(c apiCall) answer {
	var body struct {
		SyncAllRegistries *bool `json:"sync_all_registries"`
		RegistryInfo      *[]struct {
			RegistryID   *string `json:"registry_id"`
			RegistryType *string `json:"registry_type"`
		} `json:"registry_info"`
	}
	if bad := decodeStrict(c.body, &body); bad != nil {
		return answer{bad: bad}
	}
	if body.SyncAllRegistries == nil {
		return answer{bad: invalid("sync_all_registries is mandatory")}
	}
	var types []string
	if *body.SyncAllRegistries {
		types = []string{"private_image", "shared_image", "instance_image"}
	} else {
		if body.RegistryInfo == nil || len(*body.RegistryInfo) == 0 {
			return answer{bad: invalid("registry_info is mandatory when sync_all_registries is false")}
		}
		for i, r := range *body.RegistryInfo {
			if r.RegistryType != nil && !slices.Contains(registryTypeNames, *r.RegistryType) {
				return answer{bad: invalid("registry_info[%d].registry_type %q is not one of %s", i, *r.RegistryType, strings.Join(registryTypeNames, ", "))}
			}
			if r.RegistryID != nil {
				if bad := length(fmt.Sprintf("registry_info[%d].registry_id", i), *r.RegistryID, 1, 128); bad != nil {
					return answer{bad: bad}
				}
			}
			if it := imageTypeOfRegistry(deref(r.RegistryType)); it != "" && !slices.Contains(types, it) {
				types = append(types, it)
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range types {
		f.requestSync(c.target.Region, c.target.ProjectID, it, c.now)
	}
	f.addTask(c, &task{kind: "image_sync", taskType: "manualSync", begin: c.now, end: c.now.Add(f.opts.SyncDelay)})
	return answer{}
}

// taskRow is ImageScanTaskInfo.
type taskRow struct {
	TaskID       string           `json:"task_id"`
	TaskName     string           `json:"task_name"`
	BeginTime    int64            `json:"begin_time"`
	EndTime      int64            `json:"end_time,omitempty"`
	RemainMin    int64            `json:"remain_min"`
	TaskType     string           `json:"task_type"`
	ImageType    string           `json:"image_type"`
	TaskStatus   int32            `json:"task_status"`
	ScanScope    *int32           `json:"scan_scope,omitempty"`
	RateLimit    *int32           `json:"rate_limit,omitempty"`
	IsAll        bool             `json:"is_all"`
	FailedNum    int32            `json:"failed_num"`
	SuccessNum   int32            `json:"success_num"`
	TotalNum     int32            `json:"total_num"`
	RiskyNum     int32            `json:"risky_num"`
	SyncTaskType string           `json:"sync_task_type,omitempty"`
	FailedImages []failedImageRow `json:"failed_images"`
}

type failedImageRow struct {
	ID           int64  `json:"id"`
	RegistryID   string `json:"registry_id"`
	RegistryName string `json:"registry_name"`
	ImageName    string `json:"image_name"`
	ImageVersion string `json:"image_version"`
	Namespace    string `json:"namespace"`
	RegistryType string `json:"registry_type"`
	FailedReason string `json:"failed_reason"`
}

// row is what the task list shows of t at now: task_status is the share
// of its images whose scan ended (100 when all did, and for a sync task
// once the sync completed).
func (t *task) row(now time.Time) taskRow {
	r := taskRow{TaskID: t.id, TaskName: t.taskType + "-" + t.id, BeginTime: t.begin.UnixMilli(), TaskType: t.taskType,
		ImageType: "registry", ScanScope: t.scanScope, RateLimit: t.rateLimit, IsAll: t.isAll, FailedImages: []failedImageRow{}}
	end := t.end
	if t.kind == "image_scan" {
		end = t.begin
		r.TotalNum = int32(len(t.runs))
		for i, run := range t.runs {
			end = later(end, run.ended)
			if now.Before(run.ended) {
				continue
			}
			if run.status == "success" {
				r.SuccessNum++
				if fd := run.findings; fd.Vul+fd.UnsafeSetting+fd.MaliciousFile > 0 {
					r.RiskyNum++
				}
				continue
			}
			r.FailedNum++
			im := t.images[i]
			rt := registryTypes[im.key.imageType]
			r.FailedImages = append(r.FailedImages, failedImageRow{ID: im.id, RegistryID: rt, RegistryName: rt,
				ImageName: im.key.Image, ImageVersion: im.key.Tag, Namespace: im.key.Namespace, RegistryType: rt, FailedReason: run.desc})
		}
	} else {
		r.SyncTaskType = t.taskType
	}
	switch {
	case !now.Before(end):
		r.TaskStatus, r.EndTime = 100, end.UnixMilli()
	case t.kind == "image_scan":
		r.TaskStatus = int32(100 * (r.SuccessNum + r.FailedNum) / r.TotalNum)
		r.RemainMin = int64((end.Sub(now) + time.Minute - 1) / time.Minute)
	default:
		r.RemainMin = int64((end.Sub(now) + time.Minute - 1) / time.Minute)
	}
	return r
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// listTasks serves ListImageScanTask: the target's tasks of the type,
// newest first, filtered by task_type, task_id, task_name (substring, as
// documented), task_status, create_time (tasks begun at or after it),
// end_time (tasks ended by it) and scan_scope.
func (f *Fake) listTasks(c apiCall) answer {
	q := c.query
	f.mu.Lock()
	defer f.mu.Unlock()
	var rows []taskRow
	for _, t := range slices.Backward(f.tasks) {
		// No region header on this API: every region of the project.
		if t.target.ProjectID != c.target.ProjectID || t.kind != q.Get("type") {
			continue
		}
		r := t.row(c.now)
		ok := (!q.Has("task_type") || q.Get("task_type") == r.TaskType) &&
			(!q.Has("task_id") || q.Get("task_id") == r.TaskID) &&
			(!q.Has("task_name") || strings.Contains(r.TaskName, q.Get("task_name"))) &&
			(!q.Has("task_status") || (q.Get("task_status") == "finished") == (r.TaskStatus == 100)) &&
			(!q.Has("global_image_type") || q.Get("global_image_type") == "registry")
		if v, err := strconv.ParseInt(q.Get("create_time"), 10, 64); err == nil && r.BeginTime < v {
			ok = false
		}
		if v, err := strconv.ParseInt(q.Get("end_time"), 10, 64); err == nil && (r.EndTime == 0 || r.EndTime > v) {
			ok = false
		}
		if v, err := strconv.ParseInt(q.Get("scan_scope"), 10, 32); err == nil && (r.ScanScope == nil || int64(*r.ScanScope) != v) {
			ok = false
		}
		if ok {
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b taskRow) int { return cmp.Compare(b.BeginTime, a.BeginTime) })
	out := page(rows, q)
	return answer{doc: map[string]any{"total_num": len(rows), "data_list": out}, items: len(out)}
}

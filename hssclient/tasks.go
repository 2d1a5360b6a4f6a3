package hssclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// The successor APIs: scan and sync tasks and the registry image list.
// HSS's documentation marks batch-scan, the SWR image list and the image
// sync deprecated; the SDK (v0.1.207) carries these instead. Their shapes
// come from the SDK's request and response models; where the models state
// no limit, the item limits of batch-scan apply, because the same images
// go through both.

// The image types of registries other than SWR, which only
// ListRegistryImages accepts.
const (
	HarborImage ImageType = "harbor"
	JfrogImage  ImageType = "jfrog"
)

// RegistryType is the registry_type of the task APIs.
type RegistryType string

// The registry types of the SDK models.
const (
	RegistrySwrPrivate    RegistryType = "SwrPrivate"
	RegistrySwrShared     RegistryType = "SwrShared"
	RegistrySwrEnterprise RegistryType = "SwrEnterprise"
	RegistryHarbor        RegistryType = "Harbor"
	RegistryJfrog         RegistryType = "Jfrog"
	RegistryOther         RegistryType = "Other"
)

// RegistryTypeOf is the registry type of an SWR image type: SwrPrivate,
// SwrShared or SwrEnterprise; "" for other types.
func RegistryTypeOf(t ImageType) RegistryType {
	switch t {
	case PrivateImage:
		return RegistrySwrPrivate
	case SharedImage:
		return RegistrySwrShared
	case InstanceImage:
		return RegistrySwrEnterprise
	}
	return ""
}

// ScanTaskRequest is the body of POST /v5/{project_id}/image/image-scan/tasks
// (CreateManualImageScanTask) for the images it names: is_all is always
// false, so HSS scans exactly Images. Fields are in the order of the SDK's
// CreateManualImageScanTaskReqInfo, so the bytes equal the SDK's.
type ScanTaskRequest struct {
	// ScanScope is the risk bitmask (ScopeAll, ScopeVulnerabilities, ...);
	// nil lets HSS choose.
	ScanScope *int32 `json:"scan_scope,omitempty" validate:"omitnil,min=0,max=2147483647"`
	// RateLimit is images per hour, 0-1000 (0: no limit); nil: not sent.
	RateLimit *int32          `json:"rate_limit,omitempty" validate:"omitnil,min=0,max=1000"`
	Images    []ScanTaskImage `json:"image_info" validate:"min=1,max=10241,dive"`
}

// The scan_scope bits.
const (
	ScopeNone               int32 = 0
	ScopeAll                int32 = 0x7fffffff
	ScopeVulnerabilities    int32 = 0x000f0000
	ScopeBaseline           int32 = 0x0000f000
	ScopeMaliciousFiles     int32 = 0x00000f00
	ScopeSensitiveInfo      int32 = 0x000000f0
	ScopeSoftwareCompliance int32 = 0x0000000f
)

// ScanTaskImage is one image of a scan task
// (CreateManualImageScanTaskReqInfoImageInfo). Which identifier HSS needs
// is undocumented, so the bridge sends all it has: the list's id, the name
// triple, the digest and the registry type (ScanTaskImageOf). Empty fields
// and a zero ID are not sent.
type ScanTaskImage struct {
	ID           int64        `json:"id,omitempty" validate:"min=0"`
	ImageID      string       `json:"image_id,omitempty" validate:"max=128"`
	ImageDigest  string       `json:"image_digest,omitempty" validate:"max=128"`
	RegistryID   string       `json:"registry_id,omitempty" validate:"max=128"`
	RegistryName string       `json:"registry_name,omitempty" validate:"max=128"`
	ImageName    string       `json:"image_name" validate:"min=1,max=128"`
	ImageVersion string       `json:"image_version" validate:"min=1,max=128"`
	Namespace    string       `json:"namespace" validate:"min=1,max=64"`
	InstanceID   string       `json:"instance_id,omitempty" validate:"max=128"`
	InstanceURL  string       `json:"instance_url,omitempty" validate:"max=256"`
	RegistryType RegistryType `json:"registry_type" validate:"required,oneof=SwrPrivate SwrShared SwrEnterprise Harbor Jfrog Other"`
}

// ScanTaskImageOf is the scan task item of a list row: its id, names,
// digest, registry type and SWR Enterprise instance.
func ScanTaskImageOf(im Image) ScanTaskImage {
	rt := RegistryType(im.RegistryType)
	if rt == "" {
		rt = RegistryTypeOf(im.ImageType)
	}
	return ScanTaskImage{
		ID: im.ID, ImageDigest: im.ImageDigest, Namespace: im.Namespace, ImageName: im.ImageName,
		ImageVersion: im.ImageVersion, InstanceID: im.InstanceID, InstanceURL: im.InstanceURL, RegistryType: rt,
	}
}

// scanTaskBody is what is sent: the request with is_all false.
type scanTaskBody struct {
	ScanScope *int32          `json:"scan_scope,omitempty"`
	RateLimit *int32          `json:"rate_limit,omitempty"`
	IsAll     bool            `json:"is_all"`
	Images    []ScanTaskImage `json:"image_info"`
}

// Validate checks the limits of the SDK model and that each item names
// one image: namespace, name and version, a registry type, and an
// instance id for SwrEnterprise.
func (r ScanTaskRequest) Validate() error {
	errs := structErrors(r)
	for i, im := range r.Images {
		if im.RegistryType == RegistrySwrEnterprise && im.InstanceID == "" {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("image_info[%d].instance_id", i), Item: i,
				Rule: "required_if", Param: "is required for SwrEnterprise (SWR Enterprise Edition) images"})
		}
	}
	return errors.Join(errs...)
}

// CreateManualImageScanTask asks HSS to scan the images of r:
// POST /v5/{project_id}/image/image-scan/tasks?global_image_type=registry,
// with the region header. HSS answers 200 with no body and no task id:
// follow the images' scan_status, or the newest manual task of
// ListImageScanTask. As BatchScan, InvalidItems names the items that broke
// a limit.
func (c *Client) CreateManualImageScanTask(ctx context.Context, t Target, r ScanTaskRequest) error {
	op := fmt.Sprintf("create scan task %s (%d images)", t, len(r.Images))
	if err := errors.Join(t.Validate(), r.Validate()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	body, err := encodeJSON(scanTaskBody{ScanScope: r.ScanScope, RateLimit: r.RateLimit, Images: r.Images})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return c.do(ctx, t, op, apiCall{
		api: APICreateManualImageScanTask, method: http.MethodPost, path: "/image/image-scan/tasks",
		query: url.Values{"global_image_type": {"registry"}}, region: true, body: body, images: len(r.Images),
	})
}

// TaskKind is the type of ListImageScanTask.
type TaskKind string

// The task kinds.
const (
	TaskImageSync TaskKind = "image_sync"
	TaskImageScan TaskKind = "image_scan"
)

// ListTasksRequest is the query of GET /v5/{project_id}/image/tasks
// (ListImageScanTaskRequest). Empty strings, nil pointers and zero Offset
// and Limit are not sent.
type ListTasksRequest struct {
	Type TaskKind `json:"type" validate:"required,oneof=image_sync image_scan"`
	// GlobalImageType is local or registry.
	GlobalImageType string `json:"global_image_type" validate:"omitempty,oneof=local registry"`
	// TaskType is cycle, manual, autoSync or manualSync.
	TaskType string `json:"task_type" validate:"omitempty,oneof=cycle manual autoSync manualSync"`
	// TaskName matches by substring.
	TaskName string `json:"task_name" validate:"omitempty,max=256"`
	TaskID   string `json:"task_id" validate:"omitempty,max=256"`
	// CreateTime and EndTime are Unix milliseconds, 0-4070880000000.
	CreateTime *int64 `json:"create_time" validate:"omitnil,min=0,max=4070880000000"`
	EndTime    *int64 `json:"end_time" validate:"omitnil,min=0,max=4070880000000"`
	// TaskStatus is scanning or finished (the answer's task_status is a
	// number).
	TaskStatus string `json:"task_status" validate:"omitempty,oneof=scanning finished"`
	ScanScope  *int32 `json:"scan_scope" validate:"omitnil,min=0,max=2147483647"`
	Offset     int    `json:"offset" validate:"min=0,max=2000000"`
	Limit      int    `json:"limit" validate:"omitempty,min=10,max=200"`
}

// Validate checks the limits of the SDK model.
func (r ListTasksRequest) Validate() error { return errors.Join(structErrors(r)...) }

func (r ListTasksRequest) query() url.Values {
	q := url.Values{"type": {string(r.Type)}}
	setString(q, "global_image_type", r.GlobalImageType)
	setString(q, "task_type", r.TaskType)
	setString(q, "task_name", r.TaskName)
	setString(q, "task_id", r.TaskID)
	setInt(q, "create_time", r.CreateTime)
	setInt(q, "end_time", r.EndTime)
	setString(q, "task_status", r.TaskStatus)
	if r.ScanScope != nil {
		q.Set("scan_scope", strconv.FormatInt(int64(*r.ScanScope), 10))
	}
	setPaging(q, r.Offset, r.Limit)
	return q
}

// TaskPage is one page of ListImageScanTask.
type TaskPage struct {
	Total int    `json:"total_num"`
	Tasks []Task `json:"data_list"`
}

// Task is ImageScanTaskInfo. Times are Unix milliseconds.
type Task struct {
	TaskID    string `json:"task_id"`
	PolicyID  string `json:"policy_id"`
	TaskName  string `json:"task_name"`
	BeginTime int64  `json:"begin_time"`
	EndTime   int64  `json:"end_time"`
	RemainMin int64  `json:"remain_min"`
	// TaskType is cycle, manual, autoSync or manualSync; ImageType local
	// or registry.
	TaskType  string `json:"task_type"`
	ImageType string `json:"image_type"`
	// TaskStatus is a number: 0-99 progress, TaskDone, or TaskStopped,
	// TaskTimedOut, TaskFailed.
	TaskStatus   int           `json:"task_status"`
	ScanScope    int32         `json:"scan_scope"`
	RateLimit    int           `json:"rate_limit"`
	IsAll        bool          `json:"is_all"`
	TotalNum     int           `json:"total_num"`
	SuccessNum   int           `json:"success_num"`
	FailedNum    int           `json:"failed_num"`
	RiskyNum     int           `json:"risky_num"`
	SyncTaskType string        `json:"sync_task_type"`
	FailedReason string        `json:"failed_reason"`
	FailedImages []FailedImage `json:"failed_images"`
}

// The terminal task_status values.
const (
	TaskDone     = 100
	TaskStopped  = -1
	TaskTimedOut = -2
	TaskFailed   = -3
)

// Finished reports whether the task has ended, well or not.
func (t Task) Finished() bool { return t.TaskStatus == TaskDone || t.TaskStatus < 0 }

// FailedImage is ImageScanTaskInfoFailedImages.
type FailedImage struct {
	ID           int64  `json:"id"`
	RegistryID   string `json:"registry_id"`
	RegistryName string `json:"registry_name"`
	ImageName    string `json:"image_name"`
	ImageVersion string `json:"image_version"`
	Namespace    string `json:"namespace"`
	RegistryType string `json:"registry_type"`
	FailedReason string `json:"failed_reason"`
}

// decodeTaskPage decodes a ListImageScanTask answer (decodePage).
func decodeTaskPage(data []byte) (TaskPage, error) {
	return decodePage(data, "task list", func(p TaskPage) int { return p.Total })
}

// ListImageScanTask reads one page of scan or sync tasks:
// GET /v5/{project_id}/image/tasks. Its model has no region header, so none
// is sent.
func (c *Client) ListImageScanTask(ctx context.Context, t Target, r ListTasksRequest) (TaskPage, error) {
	op := fmt.Sprintf("list tasks %s %s", t, r.Type)
	if err := errors.Join(t.Validate(), r.Validate()); err != nil {
		return TaskPage{}, fmt.Errorf("%s: %w", op, err)
	}
	var page TaskPage
	err := c.do(ctx, t, op, apiCall{
		api: APIListImageScanTask, method: http.MethodGet, path: "/image/tasks", query: r.query(),
		decode: func(b []byte) (int, error) {
			var err error
			page, err = decodeTaskPage(b)
			return len(page.Tasks), err
		},
	})
	return page, err
}

// SyncTaskRequest is the body of POST /v5/{project_id}/image/image-sync/tasks
// (CreateImageSynchronizeTaskRequestInfo): every registry, or the ones
// listed.
type SyncTaskRequest struct {
	SyncAllRegistries bool           `json:"sync_all_registries"`
	Registries        []SyncRegistry `json:"registry_info,omitempty" validate:"max=1000,dive"`
}

// SyncRegistry is one registry to synchronize.
type SyncRegistry struct {
	RegistryID   string       `json:"registry_id,omitempty" validate:"max=128"`
	RegistryType RegistryType `json:"registry_type,omitempty" validate:"omitempty,oneof=SwrPrivate SwrShared SwrEnterprise Harbor Jfrog Other"`
}

// SyncAll is the request that synchronizes every registry.
func SyncAll() SyncTaskRequest { return SyncTaskRequest{SyncAllRegistries: true} }

// SyncRegistries is the request that synchronizes the registries of the
// given types.
func SyncRegistries(types ...RegistryType) SyncTaskRequest {
	r := SyncTaskRequest{}
	for _, t := range types {
		r.Registries = append(r.Registries, SyncRegistry{RegistryType: t})
	}
	return r
}

// Validate checks the limits and that the request is either all
// registries or a non-empty list of them, each with a type or an id.
func (r SyncTaskRequest) Validate() error {
	errs := structErrors(r)
	switch {
	case r.SyncAllRegistries && len(r.Registries) > 0:
		errs = append(errs, &FieldError{Field: "registry_info", Item: -1, Rule: "excluded_with",
			Param: "sync_all_registries true must not also list registries"})
	case !r.SyncAllRegistries && len(r.Registries) == 0:
		errs = append(errs, &FieldError{Field: "registry_info", Item: -1, Rule: "required_without",
			Param: "list the registries to synchronize, or set sync_all_registries"})
	}
	for i, reg := range r.Registries {
		if reg.RegistryID == "" && reg.RegistryType == "" {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("registry_info[%d]", i), Item: -1, Rule: "required",
				Param: "needs a registry_id or a registry_type"})
		}
	}
	return errors.Join(errs...)
}

// CreateImageSynchronizeTask asks HSS to re-read registries:
// POST /v5/{project_id}/image/image-sync/tasks, with the region header.
// The answer has no body: the sync is asynchronous; poll the image list
// (or ListImageScanTask with TaskImageSync).
func (c *Client) CreateImageSynchronizeTask(ctx context.Context, t Target, r SyncTaskRequest) error {
	op := fmt.Sprintf("create sync task %s", t)
	if err := errors.Join(t.Validate(), r.Validate()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	body, err := encodeJSON(r)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return c.do(ctx, t, op, apiCall{
		api: APICreateImageSynchronizeTask, method: http.MethodPost, path: "/image/image-sync/tasks", region: true, body: body,
	})
}

// ListRegistryImagesRequest is the query of
// GET /v5/{project_id}/image/registries/images (ListRegistryImagesRequest).
// Empty strings, nil pointers and zero Offset and Limit are not sent. Its
// limit starts at 1, unlike the other lists.
type ListRegistryImagesRequest struct {
	// ImageType is optional here: private_image, shared_image,
	// instance_image, harbor or jfrog.
	ImageType    ImageType  `json:"image_type" validate:"omitempty,oneof=private_image shared_image instance_image harbor jfrog"`
	Namespace    string     `json:"namespace" validate:"omitempty,max=128"`
	ImageName    string     `json:"image_name" validate:"omitempty,max=128"`
	ImageVersion string     `json:"image_version" validate:"omitempty,max=64"`
	RegistryName string     `json:"registry_name" validate:"omitempty,max=128"`
	ScanStatus   ScanStatus `json:"scan_status" validate:"omitempty,oneof=unscan success scanning failed waiting_for_scan"`
	InstanceID   string     `json:"instance_id" validate:"omitempty,max=128"`
	InstanceName string     `json:"instance_name" validate:"omitempty,max=128"`
	// SeverityLevel is Security, Low, Medium or High.
	SeverityLevel string `json:"severity_level" validate:"omitempty,oneof=Security Low Medium High"`
	// SortKey is latest_scan_time; SortDir asc (HSS's default) or desc.
	SortKey               string `json:"sort_key" validate:"omitempty,oneof=latest_scan_time"`
	SortDir               string `json:"sort_dir" validate:"omitempty,oneof=asc desc"`
	LatestVersion         *bool  `json:"latest_version"`
	ImageSize             *int64 `json:"image_size" validate:"omitnil,min=0,max=2147483547"`
	StartLatestUpdateTime *int64 `json:"start_latest_update_time" validate:"omitnil,min=0"`
	EndLatestUpdateTime   *int64 `json:"end_latest_update_time" validate:"omitnil,min=0"`
	StartLatestScanTime   *int64 `json:"start_latest_scan_time" validate:"omitnil,min=0"`
	EndLatestScanTime     *int64 `json:"end_latest_scan_time" validate:"omitnil,min=0"`
	StartLatestSyncTime   *int64 `json:"start_latest_sync_time" validate:"omitnil,min=0"`
	EndLatestSyncTime     *int64 `json:"end_latest_sync_time" validate:"omitnil,min=0"`
	HasVul                *bool  `json:"has_vul"`
	HasUnsafeSetting      *bool  `json:"has_unsafe_setting"`
	HasMaliciousFile      *bool  `json:"has_malicious_file"`
	Risky                 *bool  `json:"risky"`
	IsMultarch            *bool  `json:"is_multarch"`
	Offset                int    `json:"offset" validate:"min=0,max=2000000"`
	Limit                 int    `json:"limit" validate:"omitempty,min=1,max=200"`
}

// Validate checks the limits of the SDK model and the time windows.
func (r ListRegistryImagesRequest) Validate() error {
	errs := structErrors(r)
	errs = append(errs, windowErrors(
		window{"latest_update_time", r.StartLatestUpdateTime, r.EndLatestUpdateTime},
		window{"latest_scan_time", r.StartLatestScanTime, r.EndLatestScanTime},
		window{"latest_sync_time", r.StartLatestSyncTime, r.EndLatestSyncTime})...)
	return errors.Join(errs...)
}

func (r ListRegistryImagesRequest) query() url.Values {
	q := url.Values{}
	setString(q, "image_type", string(r.ImageType))
	setString(q, "namespace", r.Namespace)
	setString(q, "image_name", r.ImageName)
	setString(q, "image_version", r.ImageVersion)
	setString(q, "registry_name", r.RegistryName)
	setString(q, "scan_status", string(r.ScanStatus))
	setString(q, "instance_id", r.InstanceID)
	setString(q, "instance_name", r.InstanceName)
	setString(q, "severity_level", r.SeverityLevel)
	setString(q, "sort_key", r.SortKey)
	setString(q, "sort_dir", r.SortDir)
	setBool(q, "latest_version", r.LatestVersion)
	setInt(q, "image_size", r.ImageSize)
	setInt(q, "start_latest_update_time", r.StartLatestUpdateTime)
	setInt(q, "end_latest_update_time", r.EndLatestUpdateTime)
	setInt(q, "start_latest_scan_time", r.StartLatestScanTime)
	setInt(q, "end_latest_scan_time", r.EndLatestScanTime)
	setInt(q, "start_latest_sync_time", r.StartLatestSyncTime)
	setInt(q, "end_latest_sync_time", r.EndLatestSyncTime)
	setBool(q, "has_vul", r.HasVul)
	setBool(q, "has_unsafe_setting", r.HasUnsafeSetting)
	setBool(q, "has_malicious_file", r.HasMaliciousFile)
	setBool(q, "risky", r.Risky)
	setBool(q, "is_multarch", r.IsMultarch)
	setPaging(q, r.Offset, r.Limit)
	return q
}

// ListRegistryImages reads one page of registry images with their scan
// state: GET /v5/{project_id}/image/registries/images. Its model has no
// region header. Rows come as Image, as ListSwrImageRepository's, with
// the registry fields set.
func (c *Client) ListRegistryImages(ctx context.Context, t Target, r ListRegistryImagesRequest) (ImagePage, error) {
	op := fmt.Sprintf("list registry images %s %s", t, r.ImageType)
	if err := errors.Join(t.Validate(), r.Validate()); err != nil {
		return ImagePage{}, fmt.Errorf("%s: %w", op, err)
	}
	var page ImagePage
	err := c.do(ctx, t, op, apiCall{
		api: APIListRegistryImages, method: http.MethodGet, path: "/image/registries/images", query: r.query(), imageType: r.ImageType,
		decode: func(b []byte) (int, error) {
			var err error
			page, err = decodeImagePage(b)
			return len(page.Images), err
		},
	})
	return page, err
}

package hssclient

import (
	"fmt"
)

// Limits of the batch-scan API, from the parameter tables of the API
// reference (https://support.huaweicloud.com/intl/en-us/api-hss2.0/BatchScanSwrImage.html).
// They are exported because the queue sizes its batches with MaxImages and
// the webhook side refuses over-long names before they are stored.
// Lengths count characters (runes), as the reference's Minimum/Maximum do.
const (
	// MaxImages is the largest image_info_list HSS accepts ("Array Length:
	// 0 - 10241" in the reference; the odd number is Huawei's).
	MaxImages = 10241

	// Item (BatchScanSwrImageInfo) limits.
	MaxItemNamespaceLen    = 64
	MaxItemImageNameLen    = 128
	MaxItemImageVersionLen = 128
	MaxInstanceIDLen       = 128
	MaxInstanceURLLen      = 256

	// MaxFilterLen bounds the full-scan filters namespace, image_name and
	// image_version (each 1-256).
	MaxFilterLen = 256
	// MaxEnumLen bounds repo_type, image_type and scan_status (1-32).
	MaxEnumLen = 32
	// MaxNumber is the documented maximum of image_size and of the four
	// *_time filters. The reference says 2147483547 (sic, not 2^31-1). It
	// also says the times are in milliseconds, which that maximum cannot
	// hold for any date after 1970-01-25: the limit is enforced as written,
	// so a real millisecond time filter is refused here before HSS can.
	MaxNumber = 2147483547

	// Target limits (path, query and header parameters).
	MaxProjectIDLen           = 256
	MaxEnterpriseProjectIDLen = 256
	MaxRegionLen              = 128
	// MaxTokenLen bounds X-Auth-Token.
	MaxTokenLen = 32768
)

// ImageType is the request's image_type.
type ImageType string

// The image types of SWR batch scans. The reference lists the first two;
// instance_image (SWR Enterprise Edition) comes from the SDK model's
// comment and needs an instance_id on every item.
const (
	PrivateImage  ImageType = "private_image"
	SharedImage   ImageType = "shared_image"
	InstanceImage ImageType = "instance_image"
)

// ScanStatus is the scan_status filter of a full scan.
type ScanStatus string

// The scan_status values the reference lists.
const (
	ScanUnscan         ScanStatus = "unscan"
	ScanSuccess        ScanStatus = "success"
	ScanScanning       ScanStatus = "scanning"
	ScanFailed         ScanStatus = "failed"
	ScanDownloadFailed ScanStatus = "download_failed"
	ScanImageOversized ScanStatus = "image_oversized"
)

// RepoTypeSWR is the one repo_type the reference lists (the SDK marks the
// field deprecated; it is kept so every documented field can be sent).
const RepoTypeSWR = "SWR"

// BatchScanRequest is the body of POST /v5/{project_id}/image/batch-scan,
// field for field in the order of the SDK's BatchScanPrivateImageRequestInfo
// so that the encoded bytes equal the SDK's.
//
// Absent fields stay absent on the wire: strings whose minimum length is 1
// use omitempty (an empty string cannot be a valid value, so empty means
// "not sent"); booleans and numbers are pointers, because false and 0 are
// valid values distinct from "not sent" (new(true), new(int64(0)) build
// them). image_type has no omitempty, as in the SDK: it is mandatory.
//
// A targeted scan sets ImageInfoList and leaves OperateAll and the filters
// unset; a full scan sets OperateAll to true and optionally the filters.
// Validate enforces both shapes.
type BatchScanRequest struct {
	RepoType      string      `json:"repo_type,omitempty" validate:"omitempty,max=32,oneof=SWR"`
	ImageInfoList []ImageInfo `json:"image_info_list,omitempty" validate:"max=10241,dive"`
	OperateAll    *bool       `json:"operate_all,omitempty"`
	Namespace     string      `json:"namespace,omitempty" validate:"omitempty,max=256"`
	ImageName     string      `json:"image_name,omitempty" validate:"omitempty,max=256"`
	ImageVersion  string      `json:"image_version,omitempty" validate:"omitempty,max=256"`
	ImageType     ImageType   `json:"image_type" validate:"required,max=32,oneof=private_image shared_image instance_image"`
	ScanStatus    ScanStatus  `json:"scan_status,omitempty" validate:"omitempty,max=32,oneof=unscan success scanning failed download_failed image_oversized"`
	LatestVersion *bool       `json:"latest_version,omitempty"`
	ImageSize     *int64      `json:"image_size,omitempty" validate:"omitnil,min=0,max=2147483547"`

	StartLatestUpdateTime *int64 `json:"start_latest_update_time,omitempty" validate:"omitnil,min=0,max=2147483547"`
	EndLatestUpdateTime   *int64 `json:"end_latest_update_time,omitempty" validate:"omitnil,min=0,max=2147483547"`
	StartLatestScanTime   *int64 `json:"start_latest_scan_time,omitempty" validate:"omitnil,min=0,max=2147483547"`
	EndLatestScanTime     *int64 `json:"end_latest_scan_time,omitempty" validate:"omitnil,min=0,max=2147483547"`
}

// ImageInfo is one image tag of a targeted scan (BatchScanSwrImageInfo).
//
// The reference marks every item field optional; here namespace, image_name
// and image_version are always sent, because an item without them does not
// name one image and the bridge only ever scans named tags. Sent empty, they
// break the reference's minimum length of 1, so Validate (and HSS) refuse
// them. instance_id and instance_url belong to SWR Enterprise Edition
// images and are sent only when set.
type ImageInfo struct {
	Namespace    string `json:"namespace" validate:"min=1,max=64"`
	ImageName    string `json:"image_name" validate:"min=1,max=128"`
	ImageVersion string `json:"image_version" validate:"min=1,max=128"`
	InstanceID   string `json:"instance_id,omitempty" validate:"omitempty,max=128"`
	InstanceURL  string `json:"instance_url,omitempty" validate:"max=256"`
}

// TargetedScan builds the request that scans exactly the given image tags.
func TargetedScan(imageType ImageType, images ...ImageInfo) BatchScanRequest {
	return BatchScanRequest{ImageType: imageType, ImageInfoList: images}
}

// FullScan builds the request that scans every image of the type matching
// the filters set afterwards (Namespace, ScanStatus, LatestVersion, ...).
func FullScan(imageType ImageType) BatchScanRequest {
	all := true
	return BatchScanRequest{ImageType: imageType, OperateAll: &all}
}

// IsFullScan reports whether the request asks for operate_all.
func (r BatchScanRequest) IsFullScan() bool { return r.OperateAll != nil && *r.OperateAll }

// hasFilters reports whether any full-scan filter is set.
func (r BatchScanRequest) hasFilters() bool {
	return r.Namespace != "" || r.ImageName != "" || r.ImageVersion != "" || r.ScanStatus != "" ||
		r.LatestVersion != nil || r.ImageSize != nil ||
		r.StartLatestUpdateTime != nil || r.EndLatestUpdateTime != nil ||
		r.StartLatestScanTime != nil || r.EndLatestScanTime != nil
}

// encode returns the body bytes exactly as the SDK sends them: a
// json.Encoder with HTML escaping off, so the body ends in "\n" and that
// newline is part of the signed payload hash (the SDK's
// core/request/default_http_request.go GetBodyToBytes).
func (r BatchScanRequest) encode() ([]byte, error) {
	b, err := encodeJSON(r)
	if err != nil {
		return nil, fmt.Errorf("batch-scan: %w", err)
	}
	return b, nil
}

// Target is the HSS tenant of one call: the region selects the endpoint and
// the region header, the project the path, the enterprise project the
// enterprise_project_id query parameter (sent only when set; HSS then uses
// its default "0").
type Target struct {
	Region              string
	ProjectID           string
	EnterpriseProjectID string
}

// String names the target in logs and errors.
func (t Target) String() string {
	s := t.Region + "/" + t.ProjectID
	if t.EnterpriseProjectID != "" {
		s += "?enterprise_project_id=" + t.EnterpriseProjectID
	}
	return s
}

package hssclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The operations, as the SDK names them (services/hss/v5, v0.1.207): the
// values of Call.API.
const (
	APIBatchScan                  = "BatchScanSwrImage"
	APIListSwrImageRepository     = "ListSwrImageRepository"
	APIRunImageSynchronize        = "RunImageSynchronize"
	APICreateManualImageScanTask  = "CreateManualImageScanTask"
	APIListImageScanTask          = "ListImageScanTask"
	APICreateImageSynchronizeTask = "CreateImageSynchronizeTask"
	APIListRegistryImages         = "ListRegistryImages"
)

// LocalImage is the image type of images on hosts, which only
// ListSwrImageRepository accepts.
const LocalImage ImageType = "local_image"

// ScanWaitingForScan is the scan_status of an image queued for a scan.
// ListSwrImageRepository answers and filters with it; batch-scan's full
// scan filter does not accept it.
const ScanWaitingForScan ScanStatus = "waiting_for_scan"

// IsTerminal reports whether a scan in status s has ended: success,
// failed, download_failed or image_oversized. unscan, waiting_for_scan,
// scanning and values this package does not know are not terminal, so a
// caller keeps watching rather than taking an unknown state for a result.
func IsTerminal(s ScanStatus) bool { return s.IsTerminal() }

// IsTerminal is IsTerminal(s).
func (s ScanStatus) IsTerminal() bool {
	switch s {
	case ScanSuccess, ScanFailed, ScanDownloadFailed, ScanImageOversized:
		return true
	}
	return false
}

// Paging of the HSS v5 list APIs: offset 0-2000000, limit 10-200 (one
// page; ListRegistryImages allows a limit from 1). HSS's default limit is 10,
// so callers that want few calls set MaxLimit.
const (
	MaxOffset = 2000000
	MinLimit  = 10
	MaxLimit  = 200
)

// ListImagesRequest is the query of GET /v5/{project_id}/image/swr-repository
// (ListSwrImageRepository, the SDK's ListSwrImageRepositoryRequest). Empty
// strings, nil pointers and zero Offset and Limit are not sent (HSS then
// uses offset 0 and limit 10). The json tags are the query keys, which
// validation errors name; the query itself is built by query().
//
// The lengths are those of the API reference's 2024 pages (the SDK model
// states none); see doc.go. Filters on namespace, image_name and
// image_version may match by substring at HSS: compare the rows yourself.
type ListImagesRequest struct {
	ImageType    ImageType  `json:"image_type" validate:"required,max=32,oneof=private_image shared_image local_image instance_image"`
	Namespace    string     `json:"namespace" validate:"omitempty,max=256"`
	ImageName    string     `json:"image_name" validate:"omitempty,max=128"`
	ImageVersion string     `json:"image_version" validate:"omitempty,max=64"`
	ScanStatus   ScanStatus `json:"scan_status" validate:"omitempty,oneof=unscan success scanning failed waiting_for_scan"`
	InstanceID   string     `json:"instance_id" validate:"omitempty,max=128"`
	InstanceName string     `json:"instance_name" validate:"omitempty,max=128"`
	// LatestVersion asks for the newest version of each image only.
	LatestVersion *bool  `json:"latest_version"`
	ImageSize     *int64 `json:"image_size" validate:"omitnil,min=0,max=2147483547"`
	// The time windows, Unix milliseconds (Millis converts).
	StartLatestUpdateTime *int64 `json:"start_latest_update_time" validate:"omitnil,min=0"`
	EndLatestUpdateTime   *int64 `json:"end_latest_update_time" validate:"omitnil,min=0"`
	StartLatestScanTime   *int64 `json:"start_latest_scan_time" validate:"omitnil,min=0"`
	EndLatestScanTime     *int64 `json:"end_latest_scan_time" validate:"omitnil,min=0"`
	HasVul                *bool  `json:"has_vul"`
	HasUnsafeSetting      *bool  `json:"has_unsafe_setting"`
	HasMaliciousFile      *bool  `json:"has_malicious_file"`
	// Offset is the first row (0-MaxOffset; 0 is not sent).
	Offset int `json:"offset" validate:"min=0,max=2000000"`
	// Limit is the page size (MinLimit-MaxLimit; 0 is not sent: 10).
	Limit int `json:"limit" validate:"omitempty,min=10,max=200"`
}

// Millis is t in Unix milliseconds, the unit of HSS times, for the time
// filters.
func Millis(t time.Time) *int64 {
	ms := t.UnixMilli()
	return &ms
}

// Validate checks the request against the limits of the API reference,
// and that each time window starts before it ends.
func (r ListImagesRequest) Validate() error {
	errs := structErrors(r)
	errs = append(errs, windowErrors(
		window{"latest_update_time", r.StartLatestUpdateTime, r.EndLatestUpdateTime},
		window{"latest_scan_time", r.StartLatestScanTime, r.EndLatestScanTime})...)
	return errors.Join(errs...)
}

// window is a start_<name>/end_<name> pair of time filters.
type window struct {
	name       string
	start, end *int64
}

// windowErrors blames every window that ends before it starts.
func windowErrors(ws ...window) []error {
	var errs []error
	for _, w := range ws {
		if w.start != nil && w.end != nil && *w.start > *w.end {
			errs = append(errs, &FieldError{Field: "end_" + w.name, Item: -1, Rule: "gtefield",
				Param: fmt.Sprintf("must not be before start_%s (%d > %d)", w.name, *w.start, *w.end),
				Value: strconv.FormatInt(*w.end, 10)})
		}
	}
	return errs
}

// query is the request's query parameters, as the SDK sends them: only
// set fields, booleans as true/false, numbers in decimal.
func (r ListImagesRequest) query() url.Values {
	q := url.Values{"image_type": {string(r.ImageType)}}
	setString(q, "namespace", r.Namespace)
	setString(q, "image_name", r.ImageName)
	setString(q, "image_version", r.ImageVersion)
	setString(q, "scan_status", string(r.ScanStatus))
	setString(q, "instance_id", r.InstanceID)
	setString(q, "instance_name", r.InstanceName)
	setBool(q, "latest_version", r.LatestVersion)
	setBool(q, "has_vul", r.HasVul)
	setBool(q, "has_unsafe_setting", r.HasUnsafeSetting)
	setBool(q, "has_malicious_file", r.HasMaliciousFile)
	setInt(q, "image_size", r.ImageSize)
	setInt(q, "start_latest_update_time", r.StartLatestUpdateTime)
	setInt(q, "end_latest_update_time", r.EndLatestUpdateTime)
	setInt(q, "start_latest_scan_time", r.StartLatestScanTime)
	setInt(q, "end_latest_scan_time", r.EndLatestScanTime)
	setPaging(q, r.Offset, r.Limit)
	return q
}

func setString(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setBool(q url.Values, k string, v *bool) {
	if v != nil {
		q.Set(k, strconv.FormatBool(*v))
	}
}

func setInt(q url.Values, k string, v *int64) {
	if v != nil {
		q.Set(k, strconv.FormatInt(*v, 10))
	}
}

func setPaging(q url.Values, offset, limit int) {
	if offset != 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
}

// ImagePage is one page of a list of images: Total is HSS's total_num (all
// rows matching the filters, not only this page's).
type ImagePage struct {
	Total  int     `json:"total_num"`
	Images []Image `json:"data_list"`
}

// Image is one row of ListSwrImageRepository (PrivateImageRepositoryInfo)
// or of ListRegistryImages (RegistryImagesInfo), with the fields a scan
// lifecycle needs. Every field is optional in the SDK models: an absent
// field is the zero value (Scannable, whose absence is not "false", is a
// pointer). Times are Unix milliseconds, 0 when absent (UpdatedAt and
// ScannedAt convert).
type Image struct {
	// ID is HSS's record id, what a scan task's image_info.id takes.
	ID           int64      `json:"id"`
	Namespace    string     `json:"namespace"`
	ImageName    string     `json:"image_name"`
	ImageVersion string     `json:"image_version"`
	ImageID      string     `json:"image_id"`
	ImageDigest  string     `json:"image_digest"`
	ImageType    ImageType  `json:"image_type"`
	ScanStatus   ScanStatus `json:"scan_status"`
	// ScanFailedDesc says why a scan failed: one of the ScanFailed*
	// values, or others HSS adds.
	ScanFailedDesc   string `json:"scan_failed_desc"`
	LatestVersion    bool   `json:"latest_version"`
	ImageSize        int64  `json:"image_size"`
	LatestUpdateTime int64  `json:"latest_update_time"`
	LatestScanTime   int64  `json:"latest_scan_time"`
	VulNum           int    `json:"vul_num"`
	UnsafeSettingNum int    `json:"unsafe_setting_num"`
	MaliciousFileNum int    `json:"malicious_file_num"`
	Scannable        *bool  `json:"scannable"`
	// Shared images: the owner and effective or expired.
	DomainName   string `json:"domain_name"`
	SharedStatus string `json:"shared_status"`
	// SWR Enterprise Edition images.
	InstanceID   string `json:"instance_id"`
	InstanceName string `json:"instance_name"`
	InstanceURL  string `json:"instance_url"`

	// ListRegistryImages only.
	RegistryID     string `json:"registry_id"`
	RegistryName   string `json:"registry_name"`
	RegistryType   string `json:"registry_type"`
	ScanFailedCode string `json:"scan_failed_code"`
	LatestSyncTime int64  `json:"latest_sync_time"`
	SeverityLevel  string `json:"severity_level"`
}

// UpdatedAt is LatestUpdateTime as a time (zero when absent).
func (im Image) UpdatedAt() time.Time { return fromMillis(im.LatestUpdateTime) }

// ScannedAt is LatestScanTime as a time (zero when absent): when the last
// scan ended.
func (im Image) ScannedAt() time.Time { return fromMillis(im.LatestScanTime) }

func fromMillis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// The scan_failed_desc values of the SDK's PrivateImageRepositoryInfo
// (both spellings of oversized occur). Treat other values as a generic
// failure.
const (
	ScanFailedUnknownError       = "unknown_error"
	ScanFailedAuthentication     = "authentication_failed"
	ScanFailedDownload           = "download_failed"
	ScanFailedImageOverSized     = "image_over_sized"
	ScanFailedImageOversized     = "image_oversized"
	ScanFailedVulnerability      = "failed_to_scan_vulnerability"
	ScanFailedFile               = "failed_to_scan_file"
	ScanFailedSoftware           = "failed_to_scan_software"
	ScanFailedSensitiveInfo      = "failed_to_check_sensitive_information"
	ScanFailedBaseline           = "failed_to_check_baseline"
	ScanFailedSoftwareCompliance = "failed_to_check_software_compliance"
	ScanFailedBasicImageInfo     = "failed_to_query_basic_image_information"
	ScanFailedResponseTimedOut   = "response_timed_out"
	ScanFailedDatabaseError      = "database_error"
	ScanFailedSendRequest        = "failed_to_send_the_scan_request"
)

// decodeImagePage decodes an image list answer (decodePage).
func decodeImagePage(data []byte) (ImagePage, error) {
	return decodePage(data, "image list", func(p ImagePage) int { return p.Total })
}

// decodePage decodes one page of a list answer, what names the list in
// errors and total reads its total_num. Unknown fields are ignored (HSS
// adds fields); a row of the wrong type or a body that is not one JSON
// object is an error. An empty body is an empty page.
func decodePage[P any](data []byte, what string, total func(P) int) (P, error) {
	var p, zero P
	if len(bytes.TrimSpace(data)) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return zero, fmt.Errorf("decode %s: %w", what, err)
	}
	if n := total(p); n < 0 {
		return zero, fmt.Errorf("decode %s: total_num %d is negative", what, n)
	}
	return p, nil
}

// ListSwrImageRepository reads one page of the images HSS knows in SWR,
// with their scan state: GET /v5/{project_id}/image/swr-repository, with
// the region header. It validates t and r, and paces, authenticates,
// retries a refused token and reports to the Observer as BatchScan does.
//
// HSS documents no row order. To read every row, page with Offset by the
// rows received up to Total, or better narrow the query (a time window,
// scan_status) so one page of MaxLimit answers: every page costs one call
// of this API's quota.
func (c *Client) ListSwrImageRepository(ctx context.Context, t Target, r ListImagesRequest) (ImagePage, error) {
	op := fmt.Sprintf("list swr images %s %s", t, r.ImageType)
	if err := errors.Join(t.Validate(), r.Validate()); err != nil {
		return ImagePage{}, fmt.Errorf("%s: %w", op, err)
	}
	var page ImagePage
	err := c.do(ctx, t, op, apiCall{
		api: APIListSwrImageRepository, method: http.MethodGet, path: "/image/swr-repository",
		query: r.query(), region: true, imageType: r.ImageType,
		decode: func(b []byte) (int, error) {
			var err error
			page, err = decodeImagePage(b)
			return len(page.Images), err
		},
	})
	return page, err
}

// syncBody is RunImageSynchronizeRequestInfo.
type syncBody struct {
	ImageType ImageType `json:"image_type"`
}

// ResultError is a 2xx answer whose body reports a failure: HSS's
// RunImageSynchronize answers 200 with a non-zero error_code. Classify
// puts it in ClassRetry: HSS states no reason that blames the request.
type ResultError struct {
	// API is the operation (Call.API).
	API string
	// StatusCode is the HTTP status (2xx).
	StatusCode int
	// Code is the body's error_code.
	Code int64
	// Description is the body's error_description.
	Description string
}

func (e *ResultError) Error() string {
	s := fmt.Sprintf("%s answered %d with error_code %d", e.API, e.StatusCode, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// syncAnswer is RunImageSynchronizeResponse.
type syncAnswer struct {
	ErrorCode        *int64 `json:"error_code"`
	ErrorDescription string `json:"error_description"`
}

// decodeSyncAnswer reads a RunImageSynchronize answer: nil for
// error_code 0, an absent error_code or an empty body (every response
// field is optional in the SDK model); *ResultError for any other code.
func decodeSyncAnswer(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var a syncAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("decode image synchronize answer: %w", err)
	}
	if a.ErrorCode == nil || *a.ErrorCode == 0 {
		return nil
	}
	return &ResultError{API: APIRunImageSynchronize, StatusCode: http.StatusOK, Code: *a.ErrorCode,
		Description: truncate(a.ErrorDescription, maxErrorMsg)}
}

// RunImageSynchronize asks HSS to re-read the SWR image list of one image
// type: POST /v5/{project_id}/image/synchronize with body {"image_type"},
// and the region header. Only private_image and shared_image can be
// synchronized: any other type (instance_image included: SWR Enterprise
// Edition has no sync here, see CreateImageSynchronizeTask) is refused
// before anything is sent.
//
// The sync runs asynchronously and its answer has no completion signal:
// poll ListSwrImageRepository until the image appears. A 200 whose
// error_code is not 0 returns a *ResultError.
func (c *Client) RunImageSynchronize(ctx context.Context, t Target, imageType ImageType) error {
	op := fmt.Sprintf("synchronize images %s %s", t, imageType)
	var errs []error
	switch imageType {
	case PrivateImage, SharedImage:
	case "":
		errs = append(errs, &FieldError{Field: "image_type", Item: -1, Rule: "required"})
	default:
		errs = append(errs, &FieldError{Field: "image_type", Item: -1, Rule: "oneof", Param: "private_image shared_image",
			Value: shorten(string(imageType))})
	}
	if err := errors.Join(append(errs, t.Validate())...); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	body, err := encodeJSON(syncBody{ImageType: imageType})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return c.do(ctx, t, op, apiCall{
		api: APIRunImageSynchronize, method: http.MethodPost, path: "/image/synchronize",
		region: true, body: body, imageType: imageType,
		decode: func(b []byte) (int, error) { return 0, decodeSyncAnswer(b) },
	})
}

// encodeJSON encodes a body as the SDK does (BatchScanRequest.encode).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return buf.Bytes(), nil
}

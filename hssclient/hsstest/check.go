package hsstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// The checks below are written from the API reference
// (https://support.huaweicloud.com/intl/en-us/api-hss2.0/BatchScanSwrImage.html),
// independently of hssclient's Validate, so that a bug there is caught here
// instead of being mirrored. The fake follows the reference, not the
// bridge's stricter habits: item fields may be absent, a list and
// operate_all may come together.

// Body is the batch-scan request body as the fake decodes it; pointers
// tell absent fields from empty ones.
type Body struct {
	RepoType              *string      `json:"repo_type"`
	ImageInfoList         *[]ImageInfo `json:"image_info_list"`
	OperateAll            *bool        `json:"operate_all"`
	Namespace             *string      `json:"namespace"`
	ImageName             *string      `json:"image_name"`
	ImageVersion          *string      `json:"image_version"`
	ImageType             *string      `json:"image_type"`
	ScanStatus            *string      `json:"scan_status"`
	LatestVersion         *bool        `json:"latest_version"`
	ImageSize             *int64       `json:"image_size"`
	StartLatestUpdateTime *int64       `json:"start_latest_update_time"`
	EndLatestUpdateTime   *int64       `json:"end_latest_update_time"`
	StartLatestScanTime   *int64       `json:"start_latest_scan_time"`
	EndLatestScanTime     *int64       `json:"end_latest_scan_time"`
}

// ImageInfo is one element of image_info_list (BatchScanSwrImageInfo).
type ImageInfo struct {
	Namespace    *string `json:"namespace"`
	ImageName    *string `json:"image_name"`
	ImageVersion *string `json:"image_version"`
	InstanceID   *string `json:"instance_id"`
	InstanceURL  *string `json:"instance_url"`
}

// maxBody bounds a request body: 10241 items of maximum length fit in
// about 7 MB.
const maxBody = 16 << 20

// badRequest is a 400 answer: code HSS.0001 (invalid parameter) or
// HSS.0002 (the request cannot be parsed).
type badRequest struct{ code, reason string }

func (b *badRequest) Error() string { return b.code + ": " + b.reason }

func invalid(format string, args ...any) *badRequest {
	return &badRequest{code: "HSS.0001", reason: fmt.Sprintf(format, args...)}
}

func unparsable(format string, args ...any) *badRequest {
	return &badRequest{code: "HSS.0002", reason: fmt.Sprintf(format, args...)}
}

// checkHeaders checks the region header (mandatory, 0-128 characters) and
// the content type (JSON).
func checkHeaders(r *http.Request) *badRequest {
	regions := r.Header.Values("Region")
	switch {
	case len(regions) == 0:
		return invalid("header region is mandatory")
	case len(regions) > 1:
		return invalid("header region is repeated")
	case utf8.RuneCountInString(regions[0]) > 128:
		return invalid("header region is longer than 128 characters")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return unparsable("Content-Type %q is not application/json", r.Header.Get("Content-Type"))
	}
	return nil
}

// checkQuery allows only enterprise_project_id, once, 1-256 characters.
func checkQuery(raw string) (enterpriseProject string, bad *badRequest) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", unparsable("query: %v", err)
	}
	for k, vs := range q {
		if k != "enterprise_project_id" {
			return "", invalid("unknown query parameter %q", k)
		}
		if len(vs) != 1 {
			return "", invalid("enterprise_project_id given %d times", len(vs))
		}
		if n := utf8.RuneCountInString(vs[0]); n < 1 || n > 256 {
			return "", invalid("enterprise_project_id length %d is outside 1-256", n)
		}
		enterpriseProject = vs[0]
	}
	return enterpriseProject, nil
}

// decodeBody decodes strictly: unknown fields, wrong types, trailing data
// and a missing body are refused.
func decodeBody(data []byte) (Body, *badRequest) {
	var b Body
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Body{}, unparsable("body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Body{}, unparsable("body: data after the JSON object")
	}
	return b, nil
}

// checkBody applies every rule of the reference's body tables.
func checkBody(b Body) *badRequest {
	// Table 4: the request.
	if b.ImageType == nil {
		return invalid("image_type is mandatory")
	}
	switch *b.ImageType {
	case "private_image", "shared_image", "instance_image":
	default:
		return invalid("image_type %q is not private_image, shared_image or instance_image", *b.ImageType)
	}
	if b.RepoType != nil {
		if bad := length("repo_type", *b.RepoType, 1, 32); bad != nil {
			return bad
		}
		if *b.RepoType != "SWR" {
			return invalid("repo_type %q is not SWR", *b.RepoType)
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"namespace", b.Namespace}, {"image_name", b.ImageName}, {"image_version", b.ImageVersion}} {
		if f.v != nil {
			if bad := length(f.name, *f.v, 1, 256); bad != nil {
				return bad
			}
		}
	}
	if b.ScanStatus != nil {
		switch *b.ScanStatus {
		case "unscan", "success", "scanning", "failed", "download_failed", "image_oversized":
		default:
			return invalid("scan_status %q is not a documented status", *b.ScanStatus)
		}
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{
		{"image_size", b.ImageSize},
		{"start_latest_update_time", b.StartLatestUpdateTime}, {"end_latest_update_time", b.EndLatestUpdateTime},
		{"start_latest_scan_time", b.StartLatestScanTime}, {"end_latest_scan_time", b.EndLatestScanTime},
	} {
		if f.v != nil && (*f.v < 0 || *f.v > 2147483547) {
			return invalid("%s %d is outside 0-2147483547", f.name, *f.v)
		}
	}

	// "image_info_list ... is mandatory when operate_all is false";
	// operate_all "is mandatory if image_info_list is empty".
	var items []ImageInfo
	if b.ImageInfoList != nil {
		items = *b.ImageInfoList
	}
	if len(items) == 0 {
		if b.OperateAll == nil {
			return invalid("operate_all is mandatory when image_info_list is empty")
		}
		if !*b.OperateAll {
			return invalid("image_info_list is mandatory when operate_all is false")
		}
	}
	if len(items) > 10241 {
		return invalid("image_info_list holds %d images, more than 10241", len(items))
	}

	// Table 5: the items.
	for i, it := range items {
		for _, f := range []struct {
			name     string
			v        *string
			min, max int
		}{
			{"namespace", it.Namespace, 1, 64}, {"image_name", it.ImageName, 1, 128},
			{"image_version", it.ImageVersion, 1, 128}, {"instance_id", it.InstanceID, 1, 128},
			{"instance_url", it.InstanceURL, 0, 256},
		} {
			if f.v != nil {
				if bad := length(fmt.Sprintf("image_info_list[%d].%s", i, f.name), *f.v, f.min, f.max); bad != nil {
					return bad
				}
			}
		}
		// SWR Enterprise Edition images are addressed by instance.
		if *b.ImageType == "instance_image" && it.InstanceID == nil {
			return invalid("image_info_list[%d].instance_id is mandatory for instance_image", i)
		}
	}
	return nil
}

func length(name, v string, min, max int) *badRequest {
	if n := utf8.RuneCountInString(v); n < min || n > max {
		return invalid("%s length %d is outside %d-%d", name, n, min, max)
	}
	return nil
}

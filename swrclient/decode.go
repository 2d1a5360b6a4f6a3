package swrclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Decoders of the two answers (model ShowReposResp and ShowReposTagResp
// of the SDK's services/swr/v2/model), of the error bodies and of
// Content-Range. Each refuses what it cannot use rather than guess, and
// none quotes the body back (it is the registry's, not ours to log).

// repoRow is the part of ShowReposResp a poll uses.
type repoRow struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UpdatedAt string `json:"updated_at"`
	NumImages int64  `json:"num_images"`
	Path      string `json:"path"`
}

// tagRow is the part of ShowReposTagResp a poll uses. The tag's name is
// "Tag", capitalised, in the API and the model.
type tagRow struct {
	Tag      string `json:"Tag"`
	Digest   string `json:"digest"`
	Updated  string `json:"updated"`
	Manifest string `json:"manifest"`
	TagType  int64  `json:"tag_type"`
}

// digestRE is an OCI digest of the algorithms a registry uses.
var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$`)

// maxRows bounds the rows of one page, whatever the limit asked for.
const maxRows = MaxPageSize

func decodeRepos(body []byte) ([]Repo, error) {
	var rows []repoRow
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("decode repositories: %s", jsonProblem(err))
	}
	if len(rows) > maxRows {
		return nil, fmt.Errorf("decode repositories: %d rows, over %d", len(rows), maxRows)
	}
	out := make([]Repo, 0, len(rows))
	for i, r := range rows {
		if r.Name == "" || r.Namespace == "" || len(r.Name) > 255 || len(r.Namespace) > 255 {
			return nil, fmt.Errorf("decode repositories: row %d: no name or namespace", i)
		}
		t, err := parseTime(r.UpdatedAt)
		if err != nil {
			return nil, fmt.Errorf("decode repositories: row %d (%s/%s): updated_at: %w", i, r.Namespace, r.Name, err)
		}
		out = append(out, Repo{Namespace: r.Namespace, Name: r.Name, UpdatedAt: t, NumImages: r.NumImages, Path: r.Path})
	}
	return out, nil
}

func decodeTags(body []byte) ([]Tag, error) {
	var rows []tagRow
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("decode tags: %s", jsonProblem(err))
	}
	if len(rows) > maxRows {
		return nil, fmt.Errorf("decode tags: %d rows, over %d", len(rows), maxRows)
	}
	out := make([]Tag, 0, len(rows))
	for i, r := range rows {
		if r.Tag == "" || len(r.Tag) > 128 {
			return nil, fmt.Errorf("decode tags: row %d: no tag name (or one over 128 bytes)", i)
		}
		if !digestRE.MatchString(r.Digest) {
			return nil, fmt.Errorf("decode tags: row %d (%s): digest is not sha256:<64 hex>", i, r.Tag)
		}
		t, err := parseTime(r.Updated)
		if err != nil {
			return nil, fmt.Errorf("decode tags: row %d (%s): updated: %w", i, r.Tag, err)
		}
		m := readManifest(r.Manifest)
		out = append(out, Tag{Name: r.Tag, Digest: r.Digest, Updated: t, MediaType: m.MediaType,
			ConfigMediaType: m.Config.MediaType, ArtifactType: m.ArtifactType, List: r.TagType == 1})
	}
	return out, nil
}

// manifestTypes is what a poll reads of the manifest SWR returns with
// each tag (the "manifest" string of ShowReposTagResp in the SDK's SWR v2
// models): its media type, its config's and its artifactType, the fields
// an OCI image manifest has for them.
// https://github.com/opencontainers/image-spec/blob/main/manifest.md
type manifestTypes struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	ArtifactType string `json:"artifactType"`
}

// maxTypeLen bounds each type read from a manifest; a longer one is
// dropped as not a media type.
const maxTypeLen = 255

// readManifest reads the manifest's types; all "" when it is absent or
// not JSON (schema 1, or a manifest SWR left out), each "" when over
// maxTypeLen.
func readManifest(m string) manifestTypes {
	var v manifestTypes
	if m == "" || json.Unmarshal([]byte(m), &v) != nil {
		return manifestTypes{}
	}
	for _, f := range []*string{&v.MediaType, &v.Config.MediaType, &v.ArtifactType} {
		if len(*f) > maxTypeLen {
			*f = ""
		}
	}
	return v
}

// parseTime reads SWR's times: UTC in RFC 3339, with or without
// fractional seconds ("2017-09-11T03:00:02.542841141Z" in the API
// reference's example), or without a zone, which the reference says is
// UTC.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
}

// parseContentRange reads the total of "offset-count/total" (the API
// reference's words for the header); -1 when there is no header (the
// API adds it only when offset and limit are sent).
func parseContentRange(h string) (int, error) {
	if h == "" {
		return -1, nil
	}
	rng, total, ok := strings.Cut(strings.TrimSpace(h), "/")
	a, b, ok2 := strings.Cut(rng, "-")
	n, err := strconv.Atoi(total)
	_, erra := strconv.Atoi(a)
	_, errb := strconv.Atoi(b)
	if !ok || !ok2 || err != nil || erra != nil || errb != nil || n < 0 {
		if len(h) > 64 {
			h = h[:64] + "..."
		}
		return 0, fmt.Errorf("Content-Range %q is not offset-count/total", h)
	}
	return n, nil
}

// decodeError reads an error body: SWR's
// [{"errorCode","errorMessage","detail"}] (a list, per the API
// reference's error code page) or a single such object, or the API
// gateway's {"error_code","error_msg"}. A body of neither shape gives an
// Error with only its status.
func decodeError(body []byte) *Error {
	type swrErr struct {
		ErrorCode    string `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
		Code         string `json:"error_code"`
		Msg          string `json:"error_msg"`
	}
	var list []swrErr
	var one swrErr
	e := &Error{}
	switch {
	case json.Unmarshal(body, &list) == nil && len(list) > 0:
		one = list[0]
	case json.Unmarshal(body, &one) == nil:
	default:
		return e
	}
	e.Code, e.Message = clip(first(one.ErrorCode, one.Code)), clip(first(one.ErrorMessage, one.Msg))
	return e
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func clip(s string) string {
	if len(s) > 256 {
		return s[:256] + "..."
	}
	return s
}

// jsonProblem keeps a JSON error's kind and position, not the value.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("unexpected JSON %s for %s", te.Value, te.Field)
	}
	return "unexpected JSON shape"
}

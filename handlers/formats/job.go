package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

func init() { register("job", decodeJob) }

// jobEvent is the normalized scan job schema, for internal services that
// already know the SWR namespace and image name (typically over the NATS
// intake): the fields are named as HSS names them.
//
//	{"namespace":"team","image_name":"tools/cli","image_version":"1.2",
//	 "digest":"sha256:…","registry_host":"swr.cn-north-4.myhuaweicloud.com",
//	 "pushed_at":"2026-01-02T15:04:05Z","event_id":"build-881","instance_url":"…"}
//
// A body is one such object or {"jobs":[…]}. Unknown fields are refused so
// a typo is an error, not a silently missing scan.
type jobEvent struct {
	Namespace    string `json:"namespace"`
	ImageName    string `json:"image_name"`
	ImageVersion string `json:"image_version"`
	Digest       string `json:"digest"`
	RegistryHost string `json:"registry_host"`
	PushedAt     string `json:"pushed_at"`
	EventID      string `json:"event_id"`
	InstanceURL  string `json:"instance_url"`
}

func decodeJob(body []byte, _ http.Header) (Result, error) {
	var top map[string]json.RawMessage
	if err := decodeObject(body, &top); err != nil {
		return Result{}, err
	}
	var raws []json.RawMessage
	if jobs, ok := top["jobs"]; !ok {
		raws = []json.RawMessage{body}
	} else {
		if len(top) != 1 {
			return Result{}, fmt.Errorf(`"jobs" cannot be combined with other top-level fields`)
		}
		// Into a fresh slice: unmarshalling into one that holds body would
		// reuse body's memory and overwrite the caller's bytes.
		if err := json.Unmarshal(jobs, &raws); err != nil || len(raws) == 0 {
			return Result{}, fmt.Errorf(`"jobs" must be a non-empty array of job objects`)
		}
	}
	var res Result
	for i, raw := range raws {
		var ev jobEvent
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return Result{}, fmt.Errorf("job %d: %v", i, err)
		}
		repo := ev.Namespace + "/" + ev.ImageName
		switch {
		case ev.Namespace == "" || ev.ImageName == "":
			return Result{}, fmt.Errorf("job %d: namespace and image_name are required", i)
		case !validRepository(repo):
			return Result{}, fmt.Errorf("job %d: %q is not a repository path", i, Clip(repo, 80))
		case ev.ImageVersion != "" && !validTag(ev.ImageVersion):
			return Result{}, fmt.Errorf("job %d: image_version %q is not a valid tag", i, Clip(ev.ImageVersion, 80))
		case ev.Digest != "" && !looksLikeDigest(ev.Digest):
			return Result{}, fmt.Errorf("job %d: digest %q is not a digest like sha256:<hex>", i, Clip(ev.Digest, 80))
		}
		var pushed time.Time
		if ev.PushedAt != "" {
			t, err := time.Parse(time.RFC3339Nano, ev.PushedAt)
			if err != nil {
				return Result{}, fmt.Errorf("job %d: pushed_at %q is not an RFC 3339 time", i, Clip(ev.PushedAt, 80))
			}
			pushed = t.UTC()
		}
		if ev.ImageVersion == "" {
			res.Skipped = append(res.Skipped, Skip{Ref: refString(repo, "", ev.Digest), Reason: reasonByDigest})
			continue
		}
		res.Pushes = append(res.Pushes, Push{Host: ev.RegistryHost, Repository: repo, Tag: ev.ImageVersion, Digest: ev.Digest,
			PushedAt: pushed, EventID: ev.EventID, InstanceURL: ev.InstanceURL})
	}
	return res, nil
}

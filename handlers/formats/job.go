package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
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

// jobFields are jobEvent's json names, in field order.
var jobFields = []string{"namespace", "image_name", "image_version", "digest", "registry_host", "pushed_at", "event_id", "instance_url"}

func (ev *jobEvent) fields() [8]*string {
	return [...]*string{&ev.Namespace, &ev.ImageName, &ev.ImageVersion, &ev.Digest, &ev.RegistryHost, &ev.PushedAt, &ev.EventID, &ev.InstanceURL}
}

// jobEventsFast reads the jobs of a body without reflection (fastpath.go):
// a body with only "jobs", a non-empty array of objects, or a single job
// object, whose members are all job fields with a string or null value.
// It reports false for any other body, which encoding/json reads.
func jobEventsFast(body []byte) ([]jobEvent, bool) {
	obj, ok := fastObject(body)
	if !ok {
		return nil, false
	}
	var jobs gjson.Result
	var single jobEvent
	fields, others := single.fields(), false
	ok = readKnownMembers(obj, jobTopKeys, func(i int, v gjson.Result) bool {
		if i == 0 {
			jobs = v
			return true
		}
		others = true
		return readString(v, fields[i-1])
	})
	switch {
	case !ok:
		return nil, false
	case !jobs.Exists():
		return []jobEvent{single}, true
	case others || !jobs.IsArray():
		return nil, false
	}
	var events []jobEvent
	ok = readArray(jobs, func(v gjson.Result) bool {
		var ev jobEvent
		fields := ev.fields()
		ok := readKnownMembers(v, jobFields, func(i int, v gjson.Result) bool { return readString(v, fields[i]) })
		events = append(events, ev)
		return ok
	})
	return events, ok && len(events) > 0
}

// jobTopKeys are the members a job body may have at the top.
var jobTopKeys = append([]string{"jobs"}, jobFields...)

// jobRaws splits a body that the fast path declined into its job objects,
// for encoding/json to decode one by one.
func jobRaws(body []byte) ([]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := decodeObject(body, &top); err != nil {
		return nil, err
	}
	jobs, ok := top["jobs"]
	if !ok {
		return []json.RawMessage{body}, nil
	}
	if len(top) != 1 {
		return nil, fmt.Errorf(`"jobs" cannot be combined with other top-level fields`)
	}
	// Into a fresh slice: unmarshalling into one that holds body would
	// reuse body's memory and overwrite the caller's bytes.
	var raws []json.RawMessage
	if err := json.Unmarshal(jobs, &raws); err != nil || len(raws) == 0 {
		return nil, fmt.Errorf(`"jobs" must be a non-empty array of job objects`)
	}
	return raws, nil
}

func decodeJob(body []byte, _ http.Header) (Result, error) {
	events, fast := jobEventsFast(body)
	var raws []json.RawMessage
	if !fast {
		var err error
		if raws, err = jobRaws(body); err != nil {
			return Result{}, err
		}
	}
	var res Result
	for i := range max(len(events), len(raws)) {
		var ev jobEvent
		if fast {
			ev = events[i]
		} else {
			// Decoded here, job by job, so that the first error of a body
			// is the first in body order, whichever check finds it.
			dec := json.NewDecoder(bytes.NewReader(raws[i]))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				return Result{}, fmt.Errorf("job %d: %v", i, err)
			}
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

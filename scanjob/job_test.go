package scanjob

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func validJob() Job {
	return Job{
		Receiver: "harbor-prod", Registry: "harbor", Namespace: "library", Image: "nginx", Tag: "1.25",
		Target: Target{Region: "cn-north-4", ProjectID: "0123456789abcdef", ImageType: PrivateImage},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Job)
		wantErr string // substring; empty means valid
	}{
		{"a complete private image job is valid", func(*Job) {}, ""},
		{"namespace at the 64-character limit is valid", func(j *Job) { j.Namespace = strings.Repeat("n", 64) }, ""},
		{"namespace over 64 characters names the field and the limit", func(j *Job) { j.Namespace = strings.Repeat("n", 65) }, "namespace"},
		{"an empty tag is refused", func(j *Job) { j.Tag = "" }, "image_version is required"},
		{"an image name over 128 characters is refused", func(j *Job) { j.Image = strings.Repeat("i", 129) }, "image_name"},
		{"the limit counts characters, not bytes, and reports the whole length", func(j *Job) { j.Image = strings.Repeat("é", 129) }, "is 129 characters, the HSS limit is 128"},
		{"an instance image needs an instance id", func(j *Job) { j.Target.ImageType = InstanceImage }, "instance_id is required"},
		{"an instance url over 256 characters is refused", func(j *Job) { j.InstanceURL = strings.Repeat("u", 257) }, "instance_url"},
		{"an unknown image type is refused", func(j *Job) { j.Target.ImageType = "local_image" }, "target.image_type"},
		{"a missing region is refused", func(j *Job) { j.Target.Region = "" }, "target.region is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.mutate(&j)
			err := j.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T does not wrap *FieldError", err)
			}
		})
	}
}

// TestIDIsStableAndDiscriminating: a redelivery of one push is one job id,
// and a new push of the same tag is a new one, with or without a digest
// (issue 12, moving tags: a re-pushed latest on Docker Hub, Quay or Nexus
// payloads is scanned again, a retried delivery is not).
func TestIDIsStableAndDiscriminating(t *testing.T) {
	pushed := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	noDigest := func(at time.Time, event string) func(*Job) {
		return func(j *Job) { j.PushedAt, j.EventID = at, event }
	}
	withDigest := func(d string, at time.Time, event string) func(*Job) {
		return func(j *Job) { j.Digest, j.PushedAt, j.EventID = d, at, event }
	}
	tests := []struct {
		name string
		a, b func(*Job)
		same bool
	}{
		{"a redelivered event without digest (same push time and event id, new request) is one job",
			noDigest(pushed, "ev-1"), func(j *Job) {
				noDigest(pushed, "ev-1")(j)
				j.RequestID, j.AcceptedAt = "another-request", pushed.Add(time.Hour)
			}, true},
		{"a redelivery whose push time is given in another zone is one job",
			noDigest(pushed, ""), noDigest(pushed.In(time.FixedZone("UTC+8", 8*3600)), ""), true},
		{"a second push of latest without digest at another time is a new job (Docker Hub pushed_at, Nexus timestamp)",
			noDigest(pushed, ""), noDigest(pushed.Add(time.Second), ""), false},
		{"a second push within the same second but another nanosecond is a new job",
			noDigest(pushed, ""), noDigest(pushed.Add(1), ""), false},
		{"a second push without digest or time but with another event id is a new job (CloudEvents id)",
			noDigest(time.Time{}, "ev-1"), noDigest(time.Time{}, "ev-2"), false},
		{"without digest the push time decides: a new delivery id on a retry of the same event is one job (Nexus)",
			noDigest(pushed, "delivery-1"), noDigest(pushed, "delivery-2"), true},
		{"without digest, time or event id a re-push is one job (Quay says nothing of the push)",
			noDigest(time.Time{}, ""), func(j *Job) { j.RequestID = "another-request" }, true},
		{"an event id that reads like a time is not the time",
			noDigest(time.Unix(5, 0), ""), noDigest(time.Time{}, "5.0"), false},
		{"with a digest, time and event id are left out: a retry is one job",
			withDigest(digest256, pushed, "ev-1"), withDigest(digest256, pushed.Add(time.Minute), "ev-2"), true},
		{"a re-push with a new digest is a new job",
			withDigest(digest256, pushed, "ev-1"), withDigest("sha256:"+strings.Repeat("b", 64), pushed, "ev-1"), false},
		{"the same image for another HSS project is a new job",
			noDigest(pushed, ""), func(j *Job) { noDigest(pushed, "")(j); j.Target.ProjectID = "other" }, false},
		{"a push time that UnixNano cannot hold still tells pushes apart",
			noDigest(time.Date(5000, 1, 1, 0, 0, 0, 0, time.UTC), ""), noDigest(time.Date(5000, 1, 1, 0, 0, 1, 0, time.UTC), ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := validJob(), validJob()
			tt.a(&a)
			tt.b(&b)
			if same := a.ID() == b.ID(); same != tt.same {
				t.Fatalf("same id = %v, want %v\n  a %+v\n  b %+v", same, tt.same, a, b)
			}
		})
	}
}

func TestSplitRepository(t *testing.T) {
	tests := []struct{ repo, ns, image string }{
		{"library/nginx", "library", "nginx"},
		{"team/sub/app", "team", "sub/app"},
		{"/team/app/", "team", "app"},
		{"alpine", "", "alpine"},
	}
	for _, tt := range tests {
		ns, image := SplitRepository(tt.repo)
		if ns != tt.ns || image != tt.image {
			t.Errorf("SplitRepository(%q) = %q, %q; want %q, %q", tt.repo, ns, image, tt.ns, tt.image)
		}
	}
}

func TestRef(t *testing.T) {
	valid := validJob()
	valid.Digest = digest256
	tests := []struct {
		name   string
		mutate func(*Job)
		want   string
	}{
		{"a valid job's ref is plain and whole", func(j *Job) { *j = valid }, "library/nginx:1.25@" + digest256},
		{"the longest valid names are not clipped", func(j *Job) {
			j.Namespace, j.Image, j.Tag = strings.Repeat("n", 64), strings.Repeat("i", 128), strings.Repeat("t", 128)
		}, strings.Repeat("n", 64) + "/" + strings.Repeat("i", 128) + ":" + strings.Repeat("t", 128)},
		{"control characters are quoted", func(j *Job) { j.Tag = "1.0\r\nX" }, `library/nginx:"1.0\r\nX"`},
		{"a right-to-left override is quoted", func(j *Job) { j.Image = "app\u202egpj" }, `library/"app\u202egpj":1.25`},
		{"invalid UTF-8 is quoted byte by byte", func(j *Job) { j.Namespace = "team\xff" }, `"team\xff"/nginx:1.25`},
		{"a space is quoted", func(j *Job) { j.Namespace = "te am" }, `"te am"/nginx:1.25`},
		{"a megabyte tag is clipped at the tag limit", func(j *Job) { j.Tag = strings.Repeat("t", 1<<20) }, "library/nginx:" + strings.Repeat("t", 125) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.mutate(&j)
			if got := j.Ref(); got != tt.want {
				t.Fatalf("Ref() = %q, want %q", got, tt.want)
			}
		})
	}
}

// idAsItWas is Job.ID as it was first written: the reference for the ids
// already in streams and in the accepted-jobs bucket.
func idAsItWas(j Job) string {
	h := sha256.New()
	for _, s := range []string{j.Receiver, j.Target.Key(), j.Namespace, j.Image, j.Tag, j.Digest, j.InstanceID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// TestIDIsUnchanged: a new way of computing the id gives the ids the old
// one gave, for short and long fields alike (past the stack buffer), for
// every job whose id the push time and event id do not enter: one with a
// digest, or with neither.
func TestIDIsUnchanged(t *testing.T) {
	long := validJob()
	long.Receiver, long.Digest, long.InstanceID = strings.Repeat("r", 300), digest256, strings.Repeat("i", 300)
	withDigest := validJob()
	withDigest.Digest, withDigest.PushedAt, withDigest.EventID = digest256, time.Unix(1700000000, 5), "ev-1"
	for _, j := range []Job{validJob(), {}, long, withDigest} {
		if got, want := j.ID(), idAsItWas(j); got != want {
			t.Fatalf("ID() = %s, was %s for %+v", got, want, j)
		}
	}
}

// FuzzIDIsUnchanged is TestIDIsUnchanged for any fields.
func FuzzIDIsUnchanged(f *testing.F) {
	f.Add("harbor-prod", "team", "app", "1.0", digest256, "i", "cn-north-4", "p", "", "private_image")
	f.Fuzz(func(t *testing.T, receiver, ns, image, tag, dgst, instanceID, region, project, epid, imageType string) {
		j := Job{Receiver: receiver, Namespace: ns, Image: image, Tag: tag, Digest: dgst, InstanceID: instanceID,
			Target: Target{Region: region, ProjectID: project, EnterpriseProjectID: epid, ImageType: ImageType(imageType)}}
		if got, want := j.ID(), idAsItWas(j); got != want {
			t.Fatalf("ID() = %s, was %s", got, want)
		}
	})
}

func BenchmarkID(b *testing.B) {
	j := validJob()
	j.Digest = digest256
	b.ReportAllocs()
	for b.Loop() {
		_ = j.ID()
	}
}

// TestIDSurvivesTheQueue: the consumer reads the job back from its JSON,
// and a job without digest takes its push time into its id, so the id of
// the decoded job must be the id it was published under, whatever zone and
// clock reading the time had.
func TestIDSurvivesTheQueue(t *testing.T) {
	j := validJob()
	j.PushedAt = time.Now().In(time.FixedZone("UTC+8", 8*3600)) // with a monotonic reading
	j.EventID = "ev-1"
	b, err := j.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back Job
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID() != j.ID() {
		t.Fatalf("id after the queue %s, before %s (pushed_at %v, then %v)", back.ID(), j.ID(), j.PushedAt, back.PushedAt)
	}
}

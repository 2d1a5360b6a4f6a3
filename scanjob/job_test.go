package scanjob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
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

func TestIDIsStableAndDiscriminating(t *testing.T) {
	a := validJob()
	b := validJob()
	b.EventID = "another-delivery"
	if a.ID() != b.ID() {
		t.Fatal("a retried delivery with a new event id must keep the job id")
	}
	c := validJob()
	c.Digest = "sha256:abc"
	if a.ID() == c.ID() {
		t.Fatal("a re-push with a new digest must get a new job id")
	}
	d := validJob()
	d.Target.ProjectID = "other"
	if a.ID() == d.ID() {
		t.Fatal("the same image for another HSS project must get a new job id")
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
// one gave, for short and long fields alike (past the stack buffer).
func TestIDIsUnchanged(t *testing.T) {
	long := validJob()
	long.Receiver, long.Digest, long.InstanceID = strings.Repeat("r", 300), digest256, strings.Repeat("i", 300)
	for _, j := range []Job{validJob(), {}, long} {
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

package scanjob

import (
	"reflect"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// FuzzNameFastPaths is the differential test of names_fast.go: a fast
// path never accepts a name its library refuses.
func FuzzNameFastPaths(f *testing.F) {
	for _, s := range []string{
		"team", "a", "a__b", "a---b", "team.prod", "my_app.v2", "tools/cli", "a/b/c", "mirror.example.com/app",
		"a___b", "a..b", "app-", "-app", "Team", "a//b", "/a", "a/", "a_.b", "a-_b", "a.-b",
		"1.0", "v1.0_rc-1", "PIG-267-Refactor", "_latest", ".x", "-x", strings.Repeat("t", 128), strings.Repeat("t", 129),
		digest256, "sha256:" + strings.ToUpper(hex64), "sha512:" + hex64 + hex64, "sha256:" + hex64[:63],
		"registry.example.com", "registry.example.com:5000", "localhost:5000", "10.0.0.1:5000", "[fd00::1]:5000",
		"registry", "SWR.CN-NORTH-4.MyHuaweiCloud.com", "registry..example.com", "registry-.example.com", "host:", ":5000",
		"a.b:1:2", "é", "\xff", strings.Repeat("a", 256),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isPathComponent(s) {
			if _, err := reference.WithName(s); err != nil {
				t.Fatalf("isPathComponent(%q), WithName: %v", s, err)
			}
		}
		if isImageName(s) {
			for c := range strings.SplitSeq(s, "/") {
				if _, err := reference.WithName(c); err != nil {
					t.Fatalf("isImageName(%q), WithName(%q): %v", s, c, err)
				}
			}
		}
		if isTag(s) && !anchoredTag.MatchString(s) {
			t.Fatalf("isTag(%q), reference's tag grammar refuses it", s)
		}
		if isSHA256Digest(s) {
			if _, err := digest.Parse(s); err != nil {
				t.Fatalf("isSHA256Digest(%q), go-digest: %v", s, err)
			}
		}
		if isDomainHost(s) && !anchoredHost.MatchString(s) {
			t.Fatalf("isDomainHost(%q), reference's DomainRegexp refuses it", s)
		}
	})
}

// FuzzValidateFastPath: a job the fast path passes, the validator and the
// grammar pass too.
func FuzzValidateFastPath(f *testing.F) {
	f.Add("harbor-prod", "team", "tools/cli", "v1.0", digest256, "registry.example.com:5000", "", "private_image", "cn-north-4", "é")
	f.Add("r", "a", "b", "1", "", "", "i-1", "instance_image", "r", "")
	f.Add(strings.Repeat("r", 65), "Team", "App", "..", "sha256:abc", "[::1]", "", "local_image", "", strings.Repeat("é", 129))
	f.Add("é", "a", "b", "1", "", "", "", "instance_image", "cn-north-4", "")
	f.Fuzz(func(t *testing.T, receiver, ns, image, tag, dgst, host, instanceID, imageType, region, free string) {
		j := Job{
			Receiver: receiver, Registry: free, RegistryHost: host, Namespace: ns, Image: image, Tag: tag, Digest: dgst,
			InstanceID: instanceID, InstanceURL: free, EventID: free, RequestID: free,
			Target: Target{Region: region, ProjectID: receiver, EnterpriseProjectID: free, ImageType: ImageType(imageType)},
		}
		if j.plainlyValid() {
			if err := j.validate(); err != nil {
				t.Fatalf("plainlyValid, validate: %v\n%+v", err, j)
			}
		}
	})
}

// TestPlainlyValidTakesCommonJobs: the jobs registries send take the fast
// path; otherwise it saves nothing.
func TestPlainlyValidTakesCommonJobs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Job)
	}{
		{"a private image job", func(*Job) {}},
		{"with a digest, a host with a port and an event id", func(j *Job) {
			j.Digest, j.RegistryHost, j.EventID = digest256, "harbor.example.com:8443", "6f0c6a1e-7b1c-4b6e-9a53-5a1c1c1f6e01"
		}},
		{"an SWR Enterprise job", func(j *Job) {
			j.Target.ImageType, j.InstanceID, j.InstanceURL = InstanceImage, "0a1b2c3d", "ee.example.com"
		}},
		{"a deep image name with separators", func(j *Job) { j.Namespace, j.Image, j.Tag = "team.prod", "a__b/c---d/e.f", "v1.0_rc-1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.mutate(&j)
			if !j.plainlyValid() {
				t.Fatalf("not plainly valid: %+v", j)
			}
		})
	}
}

// TestPlainlyValidKnowsEveryTag: plainlyValid writes out the validate tags
// of Job and Target; a changed tag must change it too.
func TestPlainlyValidKnowsEveryTag(t *testing.T) {
	want := map[string]string{
		"Receiver": "required,max=64", "Registry": "required,max=64", "RegistryHost": "max=256",
		"Namespace": "required,min=1,max=64", "Image": "required,min=1,max=128", "Tag": "required,min=1,max=128",
		"Digest": "max=256", "InstanceID": "required_if=Target.ImageType instance_image,max=128", "InstanceURL": "max=256",
		"EventID":       "max=256",
		"RequestID":     "max=128",
		"Lane":          "omitempty,oneof=push sweep schedule redrive",
		"Target.Region": "required,max=128", "Target.ProjectID": "required,max=256",
		"Target.EnterpriseProjectID": "omitempty,max=256",
		"Target.ImageType":           "required,oneof=private_image shared_image instance_image",
	}
	got := map[string]string{}
	var collect func(prefix string, typ reflect.Type)
	collect = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			if tag := f.Tag.Get("validate"); tag != "" {
				got[prefix+f.Name] = tag
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
				collect(prefix+f.Name+".", f.Type)
			}
		}
	}
	collect("", reflect.TypeFor[Job]())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("validate tags are now\n%v\nplainlyValid was written for\n%v\nupdate plainlyValid, then this table", got, want)
	}
}

// BenchmarkValidate is the validation of one job as the intake makes it.
func BenchmarkValidate(b *testing.B) {
	j := validJob()
	j.Digest, j.RegistryHost, j.EventID = digest256, "harbor.example.com:8443", "6f0c6a1e-7b1c-4b6e-9a53-5a1c1c1f6e01"
	b.ReportAllocs()
	for b.Loop() {
		if err := j.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

package swrclient

import (
	"strings"
	"testing"
	"time"
)

func TestSWRDecoders(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name, body string
		tags       bool
		wantErr    string
	}{
		{"the API reference's repository example", `[{"name":"nginx","namespace":"root","updated_at":"2017-09-11T03:00:02.542841141Z","num_images":2}]`, false, ""},
		{"a repository without a zone", `[{"name":"a","namespace":"n","updated_at":"2017-09-11T03:00:02"}]`, false, ""},
		{"a repository without a time", `[{"name":"a","namespace":"n"}]`, false, "updated_at"},
		{"a repository without a namespace", `[{"name":"a","updated_at":"2017-09-11T03:00:02Z"}]`, false, "namespace"},
		{"not a list", `{"name":"a"}`, false, "unexpected JSON"},
		{"the API reference's tag example", `[{"Tag":"latest","digest":"` + d + `","updated":"2018-07-06T06:18:55Z","manifest":"{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\"}","tag_type":0}]`, true, ""},
		{"a tag with a bad digest", `[{"Tag":"latest","digest":"sha256:xyz","updated":"2018-07-06T06:18:55Z"}]`, true, "digest"},
		{"a tag with no name", `[{"digest":"` + d + `","updated":"2018-07-06T06:18:55Z"}]`, true, "tag name"},
		{"truncated", `[{"Tag":`, true, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.tags {
				_, err = decodeTags([]byte(tt.body))
			} else {
				_, err = decodeRepos([]byte(tt.body))
			}
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
	tags, _ := decodeTags([]byte(`[{"Tag":"v","digest":"` + d + `","updated":"2018-07-06T06:18:55Z","manifest":"{\"mediaType\":\"application/vnd.oci.image.index.v1+json\"}","tag_type":1}]`))
	if !tags[0].List || tags[0].MediaType != "application/vnd.oci.image.index.v1+json" || !tags[0].Updated.Equal(time.Date(2018, 7, 6, 6, 18, 55, 0, time.UTC)) {
		t.Fatalf("%+v", tags[0])
	}
	// A Helm chart: the manifest SWR lists with the tag says so.
	helm := `{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\"},\"artifactType\":\"application/x-test\"}`
	tags, err := decodeTags([]byte(`[{"Tag":"0.1.0","digest":"` + d + `","updated":"2018-07-06T06:18:55Z","manifest":"` + helm + `","tag_type":0}]`))
	if err != nil || tags[0].ConfigMediaType != "application/vnd.cncf.helm.config.v1+json" || tags[0].ArtifactType != "application/x-test" ||
		tags[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("%+v %v", tags, err)
	}
	long := `{\"mediaType\":\"` + strings.Repeat("a", 256) + `\",\"config\":{\"mediaType\":\"x\"}}`
	tags, _ = decodeTags([]byte(`[{"Tag":"v","digest":"` + d + `","updated":"2018-07-06T06:18:55Z","manifest":"` + long + `"}]`))
	if tags[0].MediaType != "" || tags[0].ConfigMediaType != "x" {
		t.Fatalf("an over-long media type is kept: %+v", tags[0])
	}
}

func TestSWRContentRange(t *testing.T) {
	for h, want := range map[string]int{"": -1, "0-100/250": 250, "200-50/250": 250} {
		if got, err := parseContentRange(h); err != nil || got != want {
			t.Errorf("%q: %d %v", h, got, err)
		}
	}
	for _, h := range []string{"bytes 0-1/2", "0-1", "a-b/c", "0-1/-3"} {
		if _, err := parseContentRange(h); err == nil {
			t.Errorf("%q accepted", h)
		}
	}
	e := decodeError([]byte(`[{"errorCode":"SVCSTG.SWR.4001048","errorMessage":"Failed to get Token from Context","detail":""}]`))
	if e.Code != "SVCSTG.SWR.4001048" || e.Message == "" {
		t.Errorf("%+v", e)
	}
	e = decodeError([]byte(`{"error_code":"APIG.0308","error_msg":"throttled"}`))
	if e.Code != "APIG.0308" {
		t.Errorf("%+v", e)
	}
}

// The decoders read bytes from the network: none may panic, and what
// they accept keeps their invariants.

func FuzzDecodeRepos(f *testing.F) {
	f.Add([]byte(`[{"name":"nginx","namespace":"root","updated_at":"2017-09-11T03:00:02.542841141Z","num_images":2}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		repos, err := decodeRepos(b)
		if err != nil {
			return
		}
		for _, r := range repos {
			if r.Name == "" || r.Namespace == "" || r.UpdatedAt.IsZero() && !strings.Contains(string(b), "0001") {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}

func FuzzDecodeTags(f *testing.F) {
	d := "sha256:" + strings.Repeat("a", 64)
	f.Add([]byte(`[{"Tag":"latest","digest":"` + d + `","updated":"2018-07-06T06:18:55Z","manifest":"{\"mediaType\":\"x\"}","tag_type":0}]`))
	f.Add([]byte(`[{"Tag":"latest","digest":"` + d + `","updated":"2018-07-06 06:18:55"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := decodeTags(b)
		if err != nil {
			return
		}
		for _, tg := range tags {
			if tg.Name == "" || !digestRE.MatchString(tg.Digest) {
				t.Fatalf("accepted %+v", tg)
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Add([]byte(`[{"errorCode":"SVCSTG.SWR.4001048","errorMessage":"m","detail":""}]`))
	f.Add([]byte(`{"error_code":"APIG.0308","error_msg":"m"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := decodeError(b)
		if len(e.Code) > 260 || len(e.Message) > 260 {
			t.Fatalf("unbounded %d %d", len(e.Code), len(e.Message))
		}
	})
}

func FuzzContentRange(f *testing.F) {
	f.Add("0-100/250")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		n, err := parseContentRange(h)
		if err == nil && n < -1 {
			t.Fatalf("%q gave %d", h, n)
		}
	})
}

package formats

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestDecodeJob(t *testing.T) {
	decode, _ := Lookup("job")
	tests := []struct {
		name       string
		body       string
		file       string
		wantPushes []string // repository:tag
		wantSkips  int
		wantErr    bool
	}{
		{name: "one job with every field", file: "single.json", wantPushes: []string{"team/tools/cli:1.2"}},
		{name: "a batch with a digest-only job", file: "batch.json", wantPushes: []string{"team/api:2.0"}, wantSkips: 1},
		{name: "a typo in a field name is refused", body: `{"namespace":"a","imagename":"b","image_version":"1"}`, wantErr: true},
		{name: "a missing namespace is refused", body: `{"image_name":"b","image_version":"1"}`, wantErr: true},
		{name: "an empty batch is refused", body: `{"jobs":[]}`, wantErr: true},
		{name: "jobs mixed with fields is refused", body: `{"jobs":[{"namespace":"a","image_name":"b","image_version":"1"}],"namespace":"x"}`, wantErr: true},
		{name: "a bad time is refused", body: `{"namespace":"a","image_name":"b","image_version":"1","pushed_at":"yesterday"}`, wantErr: true},
		{name: "an upper-case repository is refused", body: `{"namespace":"A","image_name":"b","image_version":"1"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.file != "" {
				var err error
				if body, err = os.ReadFile(filepath.Join("testdata", "job", tt.file)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := decode(body, http.Header{})
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range res.Pushes {
				got = append(got, p.Repository+":"+p.Tag)
			}
			if len(got) != len(tt.wantPushes) || (len(got) > 0 && got[0] != tt.wantPushes[0]) || len(res.Skipped) != tt.wantSkips {
				t.Fatalf("pushes %v skips %d, want %v and %d", got, len(res.Skipped), tt.wantPushes, tt.wantSkips)
			}
		})
	}
}

func FuzzJob(f *testing.F) {
	fuzzDecoder(f, "job", fuzzSeeds{bodies: []string{`{"namespace":"a","image_name":"b/c","image_version":"v1"}`}})
}

func BenchmarkDecodeJob(b *testing.B) {
	benchDecoder(b, "job", "single.json", nil)
}

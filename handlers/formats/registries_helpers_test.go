package formats

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Shared helpers of the registry decoder tests (dockerhub, ghcr, quay, …).
// Names carry a reg prefix so they cannot clash with the helpers of the
// other format tests in this package.

// regCase is one row of a decoder table: a body (a fixture file under
// testdata/<format>/ or an inline string), optional headers, and exactly the
// pushes and skips expected, or an error.
type regCase struct {
	name    string
	file    string
	body    string
	header  http.Header
	want    Result
	wantErr bool
}

// regFixture reads testdata/<format>/<file>.
func regFixture(tb testing.TB, format, file string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", format, file))
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	return b
}

// regDecoder looks the format up in the registry, so every table also
// proves the init registration.
func regDecoder(tb testing.TB, format string) Decoder {
	tb.Helper()
	d, ok := Lookup(format)
	if !ok {
		tb.Fatalf("format %q is not registered (have %v)", format, Names())
	}
	return d
}

// regRunCases runs a decoder table.
func regRunCases(t *testing.T, format string, cases []regCase) {
	t.Helper()
	dec := regDecoder(t, format)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if tc.file != "" {
				body = regFixture(t, format, tc.file)
			}
			got, err := dec(body, tc.header)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("decode = %+v, want an error", got)
				}
				if !strings.HasPrefix(err.Error(), format+": ") {
					t.Errorf("error %q does not name the format %q", err, format)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			regCheckInvariants(t, got)
			if !regPushesEqual(got.Pushes, tc.want.Pushes) {
				t.Errorf("pushes:\n got %s\nwant %s", regFormatPushes(got.Pushes), regFormatPushes(tc.want.Pushes))
			}
			if !slices.Equal(got.Skipped, tc.want.Skipped) {
				t.Errorf("skipped:\n got %+v\nwant %+v", got.Skipped, tc.want.Skipped)
			}
		})
	}
}

// regCheckInvariants asserts what every caller relies on: a push always
// has a repository and a tag, and the tag is never a digest.
func regCheckInvariants(tb testing.TB, res Result) {
	tb.Helper()
	for _, p := range res.Pushes {
		if p.Repository == "" || p.Tag == "" {
			tb.Fatalf("push without repository or tag: %+v", p)
		}
		if looksLikeDigest(p.Tag) {
			tb.Fatalf("push with a digest as tag: %+v", p)
		}
	}
	for _, s := range res.Skipped {
		if s.Reason == "" {
			tb.Fatalf("skip without a reason: %+v", s)
		}
	}
}

func regPushesEqual(a, b []Push) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.PushedAt.Equal(y.PushedAt) {
			return false
		}
		x.PushedAt, y.PushedAt = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}

func regFormatPushes(ps []Push) string {
	var sb strings.Builder
	for _, p := range ps {
		sb.WriteString("\n  ")
		sb.WriteString(regPushString(p))
	}
	return sb.String()
}

func regPushString(p Push) string {
	return "{Host:" + p.Host + " Repository:" + p.Repository + " Tag:" + p.Tag + " Digest:" + p.Digest +
		" MediaType:" + p.MediaType + " PushedAt:" + p.PushedAt.Format(time.RFC3339Nano) +
		" EventID:" + p.EventID + " InstanceURL:" + p.InstanceURL + "}"
}

// regFuzz fuzzes a decoder with every fixture of its testdata directory as
// seed, each paired with every header value given (headerOf turns the
// fuzzed string into headers; nil means no headers). It asserts that the
// decoder does not panic, that its pushes keep the invariants, and that it
// is deterministic.
func regFuzz(f *testing.F, format string, headerOf func(string) http.Header, headerSeeds ...string) {
	f.Helper()
	dec := regDecoder(f, format)
	files, err := filepath.Glob(filepath.Join("testdata", format, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures for %s: %v", format, err)
	}
	if len(headerSeeds) == 0 {
		headerSeeds = []string{""}
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, h := range headerSeeds {
			f.Add(b, h)
		}
	}
	for _, h := range headerSeeds {
		f.Add([]byte(`{}`), h)
		f.Add([]byte(`[]`), h)
		f.Add([]byte(`null`), h)
	}
	if headerOf == nil {
		headerOf = func(string) http.Header { return nil }
	}
	f.Fuzz(func(t *testing.T, body []byte, hv string) {
		h := headerOf(hv)
		res1, err1 := dec(body, h)
		res2, err2 := dec(body, h)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(res1, res2) {
			t.Fatalf("not deterministic: %+v/%v then %+v/%v", res1, err1, res2, err2)
		}
		if err1 != nil {
			if len(res1.Pushes)+len(res1.Skipped) != 0 {
				t.Fatalf("error %v with a non-empty result %+v", err1, res1)
			}
			return
		}
		regCheckInvariants(t, res1)
	})
}

// regBench measures one decode of a fixture.
func regBench(b *testing.B, format, file string, header http.Header) {
	dec := regDecoder(b, format)
	body := regFixture(b, format, file)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := dec(body, header); err != nil {
			b.Fatal(err)
		}
	}
}

// regTime is a test shorthand for a UTC time.
func regTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t.UTC()
}

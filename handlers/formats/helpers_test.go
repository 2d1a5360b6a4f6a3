package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Helpers of the harbor, swr-enterprise, distribution and generic decoder
// tests. Names carry an fx prefix so they cannot clash with the helpers of
// the other format tests in this package.

// fxCase is one row of a decoder table: a body (a fixture under testdata/,
// path relative to it, or an inline string) and exactly the pushes and skips
// it must give, or the error it must fail with.
type fxCase struct {
	name string
	file string // relative to testdata/, e.g. "harbor/pull-artifact-docs.json"
	body string
	want Result
	// wantErr classifies the expected error; nil means no error.
	wantErr func(error) bool
}

// fxErrIs expects an error wrapping target.
func fxErrIs(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// fxErrSyntax expects a JSON syntax error (not JSON, truncated JSON).
func fxErrSyntax(err error) bool {
	var e *json.SyntaxError
	return errors.As(err, &e)
}

// fxErrType expects a JSON type mismatch (the wrong shape).
func fxErrType(err error) bool {
	var e *json.UnmarshalTypeError
	return errors.As(err, &e)
}

// fxReadFixture reads testdata/<file>.
func fxReadFixture(tb testing.TB, file string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	return b
}

// fxDecoder looks the format up in the registry, which also proves that
// the file's init registered it.
func fxDecoder(tb testing.TB, format string) Decoder {
	tb.Helper()
	d, ok := Lookup(format)
	if !ok {
		tb.Fatalf("format %q is not registered (have %v)", format, Names())
	}
	return d
}

// fxRun runs a decoder table.
func fxRun(t *testing.T, format string, cases []fxCase) {
	t.Helper()
	dec := fxDecoder(t, format)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if tc.file != "" {
				body = fxReadFixture(t, tc.file)
			}
			got, err := dec(body, nil)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("decode = %s, want an error", fxFormatResult(got))
				}
				if !tc.wantErr(err) {
					t.Fatalf("decode error %q (%T) is not the expected kind", err, err)
				}
				if !strings.Contains(err.Error(), format) {
					t.Errorf("error %q does not name the format %q", err, format)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			fxCheckInvariants(t, got)
			if !fxResultsEqual(got, tc.want) {
				t.Errorf("decode =%s\nwant%s", fxFormatResult(got), fxFormatResult(tc.want))
			}
		})
	}
}

// fxCheckInvariants asserts what every caller relies on: a push always has
// a repository and a tag (never a digest), and every skip has a reason.
func fxCheckInvariants(tb testing.TB, res Result) {
	tb.Helper()
	for _, p := range res.Pushes {
		if p.Repository == "" || p.Tag == "" {
			tb.Fatalf("push without repository or tag: %+v", p)
		}
		if looksLikeDigest(p.Tag) {
			tb.Fatalf("push with a digest as its tag: %+v", p)
		}
	}
	for _, s := range res.Skipped {
		if s.Reason == "" {
			tb.Fatalf("skip without a reason: %+v", s)
		}
	}
}

// fxResultsEqual compares results; times compare with Equal, and a nil
// slice equals an empty one.
func fxResultsEqual(a, b Result) bool {
	if len(a.Pushes) != len(b.Pushes) || !slices.Equal(a.Skipped, b.Skipped) {
		return false
	}
	for i := range a.Pushes {
		x, y := a.Pushes[i], b.Pushes[i]
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

func fxFormatResult(r Result) string {
	var sb strings.Builder
	for _, p := range r.Pushes {
		fmt.Fprintf(&sb, "\n  push {Host:%q Repository:%q Tag:%q Digest:%q MediaType:%q PushedAt:%s EventID:%q InstanceURL:%q}",
			p.Host, p.Repository, p.Tag, p.Digest, p.MediaType, p.PushedAt.Format(time.RFC3339Nano), p.EventID, p.InstanceURL)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&sb, "\n  skip {Ref:%q Reason:%q}", s.Ref, s.Reason)
	}
	if sb.Len() == 0 {
		return " (nothing)"
	}
	return sb.String()
}

// fxMalformedSeeds are bodies every decoder must refuse without panicking.
var fxMalformedSeeds = []string{
	"", "null", "[]", "[{}]", "0", `"text"`, "{", `{"events":`, "not json at all",
	"\xff\xfe{}", "{}", `{"events":null}`, `{"type":null}`, `{"events":[null]}`,
}

// fxFuzz fuzzes a decoder, seeded with every fixture under the given
// testdata directories, the malformed seeds and any extra seeds. It asserts
// that the decoder does not panic (the fuzzer reports panics), that pushes
// keep the invariants, and that decoding is deterministic: the same body
// gives the same result or the same error.
func fxFuzz(f *testing.F, format string, dirs []string, extra ...string) {
	f.Helper()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		if len(files) == 0 {
			f.Fatalf("no fixtures in testdata/%s", dir)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range fxMalformedSeeds {
		f.Add([]byte(s))
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
	dec := fxDecoder(f, format)
	f.Fuzz(func(t *testing.T, body []byte) {
		res1, err1 := dec(body, nil)
		res2, err2 := dec(slices.Clone(body), nil)
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("not deterministic: errors %v and %v", err1, err2)
		}
		if !reflect.DeepEqual(res1, res2) {
			t.Fatalf("not deterministic:%s\nthen%s", fxFormatResult(res1), fxFormatResult(res2))
		}
		if err1 != nil {
			if len(res1.Pushes) != 0 || len(res1.Skipped) != 0 {
				t.Fatalf("error %v with a non-empty result%s", err1, fxFormatResult(res1))
			}
			return
		}
		fxCheckInvariants(t, res1)
	})
}

// fxBench measures decoding one fixture.
func fxBench(b *testing.B, format, file string) {
	dec := fxDecoder(b, format)
	body := fxReadFixture(b, file)
	res, err := dec(body, nil)
	if err != nil || len(res.Pushes) == 0 {
		b.Fatalf("fixture %s: %v, %d pushes; want a push", file, err, len(res.Pushes))
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec(body, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// fxUnix is a Unix time in seconds as the decoders give it.
func fxUnix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// fxTime parses an RFC 3339 time for expectations.
func fxTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("bad time in test: %v", err)
	}
	return t.UTC()
}

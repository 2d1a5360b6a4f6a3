package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Helpers every decoder test shares: one table type, one runner, one fuzz
// harness, one benchmark, and the invariants every caller relies on.

// decodeCase is one row of a decoder table: a body (a fixture file or an
// inline string), optional headers, and exactly the result it must give,
// or the kind of error it must fail with.
type decodeCase struct {
	name string
	// file is a fixture under testdata/<format>/; "../other/x.json" reads
	// another format's fixture.
	file   string
	body   string
	header http.Header
	want   Result
	// wantErr classifies the expected error; nil means no error. Every
	// error must also wrap ErrMalformed and start with the format's name,
	// which runDecoder checks for every error row.
	wantErr func(error) bool
}

// errIs expects an error wrapping target.
func errIs(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// errSyntax expects a JSON syntax error (not JSON, truncated JSON).
func errSyntax(err error) bool {
	var e *json.SyntaxError
	return errors.As(err, &e)
}

// errType expects a JSON type mismatch (the wrong shape).
func errType(err error) bool {
	var e *json.UnmarshalTypeError
	return errors.As(err, &e)
}

// readFixture reads testdata/<format>/<file>.
func readFixture(tb testing.TB, format, file string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", format, file))
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	return b
}

// decoderFor looks the format up in the registry, which also proves that
// the file's init registered it.
func decoderFor(tb testing.TB, format string) Decoder {
	tb.Helper()
	d, ok := Lookup(format)
	if !ok {
		tb.Fatalf("format %q is not registered (have %v)", format, Names())
	}
	return d
}

// runDecoder runs a decoder table.
func runDecoder(t *testing.T, format string, cases []decodeCase) {
	t.Helper()
	dec := decoderFor(t, format)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if tc.file != "" {
				body = readFixture(t, format, tc.file)
			}
			got, err := dec(body, tc.header)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("decode =%s, want an error", formatResult(got))
				}
				checkError(t, format, err)
				if !tc.wantErr(err) {
					t.Fatalf("decode error %q (%T) is not the expected kind", err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			checkInvariants(t, got)
			if !resultsEqual(got, tc.want) {
				t.Errorf("decode =%s\nwant%s", formatResult(got), formatResult(tc.want))
			}
		})
	}
}

// checkError asserts what the handler relies on for every refused body:
// the error wraps ErrMalformed and names the format first.
func checkError(tb testing.TB, format string, err error) {
	tb.Helper()
	if !errors.Is(err, ErrMalformed) {
		tb.Fatalf("error %q does not wrap ErrMalformed", err)
	}
	if !strings.HasPrefix(err.Error(), format+": ") {
		tb.Fatalf("error %q does not start with the format %q", err, format)
	}
}

// checkInvariants asserts what every caller relies on: a push always has
// a repository and a tag (never a digest), every skip has a reason, and a
// body that wants a reply stores nothing.
func checkInvariants(tb testing.TB, res Result) {
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
	if res.Reply != nil && len(res.Pushes) != 0 {
		tb.Fatalf("a reply with pushes:%s", formatResult(res))
	}
}

// resultsEqual compares results; times compare with Equal, and a nil
// slice equals an empty one.
func resultsEqual(a, b Result) bool {
	if len(a.Pushes) != len(b.Pushes) || !slices.Equal(a.Skipped, b.Skipped) || !reflect.DeepEqual(a.Reply, b.Reply) {
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

func formatResult(r Result) string {
	var sb strings.Builder
	for _, p := range r.Pushes {
		fmt.Fprintf(&sb, "\n  push {Host:%q Repository:%q Tag:%q Digest:%q MediaType:%q PushedAt:%s EventID:%q InstanceURL:%q}",
			p.Host, p.Repository, p.Tag, p.Digest, p.MediaType, p.PushedAt.Format(time.RFC3339Nano), p.EventID, p.InstanceURL)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&sb, "\n  skip {Ref:%q Reason:%q}", s.Ref, s.Reason)
	}
	if r.Reply != nil {
		fmt.Fprintf(&sb, "\n  reply %#v", r.Reply)
	}
	if sb.Len() == 0 {
		return " (nothing)"
	}
	return sb.String()
}

// malformedSeeds are bodies every decoder must refuse or skip without
// panicking.
var malformedSeeds = []string{
	"", "null", "[]", "[{}]", "0", `"text"`, "{", `{"events":`, "not json at all",
	"\xff\xfe{}", "{}", `{"events":null}`, `{"type":null}`, `{"events":[null]}`,
}

// fuzzSeeds are the inputs of a decoder's fuzz test beyond its own
// fixtures under testdata/<format>/ and malformedSeeds.
type fuzzSeeds struct {
	// dirs are other testdata directories whose fixtures seed too.
	dirs []string
	// bodies are extra bodies.
	bodies []string
	// header turns the fuzzed string into request headers; nil means none.
	header func(string) http.Header
	// headerValues seed the fuzzed string; every body is paired with each.
	headerValues []string
}

// fuzzDecoder fuzzes a registered format. It asserts that the decoder does
// not panic (the fuzzer reports panics), that it is deterministic (the same
// body gives the same result or the same error), that an error wraps
// ErrMalformed, names the format and comes with an empty result, and that a
// result keeps the invariants. TestEveryFormatHasFixturesAndAFuzzTest finds
// the format of each Fuzz function by its call of fuzzDecoder.
func fuzzDecoder(f *testing.F, format string, seeds fuzzSeeds) {
	f.Helper()
	var bodies [][]byte
	for _, dir := range append([]string{format}, seeds.dirs...) {
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
			bodies = append(bodies, b)
		}
	}
	for _, s := range slices.Concat(malformedSeeds, seeds.bodies) {
		bodies = append(bodies, []byte(s))
	}
	headerValues := seeds.headerValues
	if len(headerValues) == 0 {
		headerValues = []string{""}
	}
	for _, b := range bodies {
		for _, hv := range headerValues {
			f.Add(b, hv)
		}
	}
	headerOf := seeds.header
	if headerOf == nil {
		headerOf = func(string) http.Header { return nil }
	}
	dec := decoderFor(f, format)
	f.Fuzz(func(t *testing.T, body []byte, hv string) {
		res1, err1 := dec(body, headerOf(hv))
		res2, err2 := dec(slices.Clone(body), headerOf(hv))
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("not deterministic: errors %v and %v", err1, err2)
		}
		if !reflect.DeepEqual(res1, res2) {
			t.Fatalf("not deterministic:%s\nthen%s", formatResult(res1), formatResult(res2))
		}
		if err1 != nil {
			checkError(t, format, err1)
			if !reflect.DeepEqual(res1, Result{}) {
				t.Fatalf("error %v with a non-empty result%s", err1, formatResult(res1))
			}
			return
		}
		checkInvariants(t, res1)
	})
}

// benchDecoder measures decoding one fixture, which must hold a push.
func benchDecoder(b *testing.B, format, file string, header http.Header) {
	dec := decoderFor(b, format)
	body := readFixture(b, format, file)
	res, err := dec(body, header)
	if err != nil || len(res.Pushes) == 0 {
		b.Fatalf("fixture %s: %v, %d pushes; want a push", file, err, len(res.Pushes))
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec(body, header); err != nil {
			b.Fatal(err)
		}
	}
}

// unixUTC is a Unix time in seconds as the decoders give it.
func unixUTC(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// mustTime parses an RFC 3339 time for expectations.
func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("bad time in test: %v", err)
	}
	return t.UTC()
}

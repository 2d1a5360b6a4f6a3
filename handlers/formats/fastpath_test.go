package formats

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The fast path's promise (fastpath.go): what it reads, it reads exactly
// as encoding/json would; everything else it declines. These tests hold
// it to that on any body, and make sure real bodies do take it.

// fastPathDirs are the fixture directories of the formats with a fast
// path, each with a function that reports whether the fast path reads a
// body.
var fastPathDirs = map[string]func(body []byte) bool{
	"harbor":         readsFast[harborPayload],
	"harbor-v1":      readsFast[harborPayload],
	"tencent-tcr":    readsFast[harborPayload],
	"swr-enterprise": readsFast[harborPayload],
	"distribution":   readsFast[distEnvelope],
	"generic":        func(b []byte) bool { _, ok := genericValuesFast(b); return ok },
	"job":            func(b []byte) bool { _, ok := jobEventsFast(b); return ok },
}

func readsFast[T any, PT interface {
	*T
	fastReader
}](body []byte) bool {
	obj, ok := fastObject(body)
	return ok && PT(new(T)).readFast(obj)
}

// trickyBodies are bodies the fast path must decline, or read exactly as
// encoding/json does; they seed the fuzz tests.
var trickyBodies = []string{
	`{"TYPE":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"1"}]}}`,
	`{"type":"PUSH_ARTIFACT","Type":"PULL_ARTIFACT"}`,
	`{"type":"PUSH_ARTIFACT","type":"PULL_ARTIFACT"}`,
	`{"t\u0079pe":"PUSH_ARTIFACT"}`,
	`{"type":"PUSH\u005fARTIFACT"}`,
	"{\"type\":\"PUSH_ARTIFACT\",\"event_data\":{\"resources\":[{\"tag\":\"v1\xff\"}]}}",
	"{\"\u017fpecversion\":\"1.0\",\"type\":\"x\"}",
	`{"type":"PUSH_ARTIFACT","event_data":{"resources":[null]}}`,
	`{"type":"PUSH_ARTIFACT","event_data":{"resources":null,"repository":null}}`,
	`{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}`,
	`{"type":"PUSH_ARTIFACT","event_data":{"resources":{}}}`,
	`{"type":"PUSH_ARTIFACT","event_data":{"repository":{"name":1}}}`,
	`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"a"}]},"event_data":{"repository":{"name":"b"}}}`,
	`{"type":"PUSH_ARTIFACT","occur_at":{"x":[1,2]},"operator":null}`,
	`{"type":"PUSH_ARTIFACT","occur_at":"1.5e9 "}`,
	`{"type":5}`,
	`{"type":null}`,
	`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"a/b","tag":"1","references":[{"mediaType":"x"},null]}}]}`,
	`{"events":[{"action":"push","target":null,"request":{"host":"H:5000"}}]}`,
	`{"events":[],"Events":null}`,
	`{"events":{}}`,
	`{"events":[{"target":{"mediatype":"x"}}]}`,
	`{"type":"PUSH_ARTIFACT"} `,
	`{"repository":"team/app","tag":"1","Tag":"2"}`,
	`{"events":[{"repository":"team/app","tag":"1"}],"tag":null}`,
	`{"events":[{"repository":"team/app","tag":"1"},null]}`,
	`{"events":[]}`,
	`{"events":null}`,
	`{"repository":"team/app","tag":null,"digest":5}`,
	`{"repository":"team/app","tga":"1"}`,
	`{"jobs":[{"namespace":"a","image_name":"b","image_version":"1"}]}`,
	`{"jobs":[{"namespace":"a","image_name":"b","Image_Version":"1"}]}`,
	`{"jobs":[{"namespace":"a","image_name":"b"}],"namespace":null}`,
	`{"jobs":[null]}`,
	`{"namespace":"a","image_name":"b","image_version":"1","namespace":"c"}`,
	`{"type":"PUSH_ARTIFACT"} {}`,
	`{"type":"PUSH_ARTIFACT","x":` + strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting) + `}`,
}

// FuzzValidAgreesWithEncodingJSON: the fast path reads only bodies that
// encoding/json accepts. gjson.Valid alone accepts nesting deeper than
// encoding/json's limit; fastObject must not.
func FuzzValidAgreesWithEncodingJSON(f *testing.F) {
	for _, b := range fastPathSeeds(f) {
		f.Add(b)
	}
	for _, s := range []string{`{"a":01}`, `{"a":1.}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":1e}`, `{"a":NaN}`,
		`{"a":tru}`, `{"a":[1,]}`, `{"a":1,}`, `{"a":"\ud800"}`, `{}x`, `{"a":.5}`, `{"a":+1}`, `{"a":"\x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, ok := fastObject(body); ok && !json.Valid(body) {
			t.Fatalf("the fast path takes a body encoding/json refuses: %q", body)
		}
	})
}

func FuzzHarborFastPath(f *testing.F) { fuzzFastPath[harborPayload](f) }

func FuzzDistributionFastPath(f *testing.F) { fuzzFastPath[distEnvelope](f) }

// FuzzGenericFastPath: when the fast path reads a generic body, the
// encoding/json path reads the same values without an error.
func FuzzGenericFastPath(f *testing.F) {
	for _, b := range fastPathSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := genericValuesFast(body)
		if !ok {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			t.Fatalf("the fast path read a body encoding/json refuses (%v): %q", err, body)
		}
		objects := []map[string]json.RawMessage{top}
		if raw, ok := top["events"]; ok {
			if len(top) > 1 {
				t.Fatalf("the fast path read \"events\" with other members: %q", body)
			}
			objects = nil
			if err := json.Unmarshal(raw, &objects); err != nil || len(objects) == 0 {
				t.Fatalf("the fast path read events encoding/json refuses (%v): %q", err, body)
			}
		}
		var slow []genericValues
		for i, fields := range objects {
			vals, err := genericEventValues(i, fields)
			if err != nil {
				t.Fatalf("the fast path read an event encoding/json refuses (%v): %q", err, body)
			}
			slow = append(slow, vals)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("body %q\nfast path %q\nencoding/json %q", body, fast, slow)
		}
	})
}

// FuzzJobFastPath: when the fast path reads a job body, the encoding/json
// path reads the same jobs without an error.
func FuzzJobFastPath(f *testing.F) {
	for _, b := range fastPathSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := jobEventsFast(body)
		if !ok {
			return
		}
		raws, err := jobRaws(body)
		if err != nil {
			t.Fatalf("the fast path read a body encoding/json refuses (%v): %q", err, body)
		}
		var slow []jobEvent
		for _, raw := range raws {
			var ev jobEvent
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("the fast path read a job encoding/json refuses (%v): %q", err, body)
			}
			slow = append(slow, ev)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("body %q\nfast path %+v\nencoding/json %+v", body, fast, slow)
		}
	})
}

// fuzzFastPath holds a payload type's fast reader to json.Unmarshal: when
// it reads a body, encoding/json accepts that body and gives the same
// value; when it declines, it leaves the value zero.
func fuzzFastPath[T any, PT interface {
	*T
	fastReader
}](f *testing.F) {
	for _, b := range fastPathSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast T
		obj, ok := fastObject(body)
		if !ok {
			return
		}
		if !PT(&fast).readFast(obj) {
			var zero T
			if !reflect.DeepEqual(fast, zero) {
				t.Fatalf("declined but changed the value: %+v", fast)
			}
			return
		}
		var slow T
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("the fast path read a body encoding/json refuses (%v): %q", err, body)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("body %q\nfast path %#v\nencoding/json %#v", body, fast, slow)
		}
	})
}

// fastPathSeeds are every fixture of the formats with a fast path, the
// malformed seeds and trickyBodies.
func fastPathSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for dir := range fastPathDirs {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			tb.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				tb.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	for _, s := range append(append([]string{}, malformedSeeds...), trickyBodies...) {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// TestFastPathReadsEveryFixture: real registry bodies take the fast path,
// so a change that makes it decline them (and quietly cost what it saves)
// fails here.
func TestFastPathReadsEveryFixture(t *testing.T) {
	// declined are the fixtures the fast path leaves to encoding/json.
	declined := map[string]bool{
		"generic/typo-field.json": true, // an unknown field: refused, in encoding/json's words
	}
	for dir, reads := range fastPathDirs {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
		}
		for _, file := range files {
			name := dir + "/" + filepath.Base(file)
			t.Run(name, func(t *testing.T) {
				body, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := reads(body), !declined[name]; got != want {
					t.Fatalf("the fast path reads it: %v, want %v", got, want)
				}
			})
		}
	}
}

// TestFastPathDeclines names what the fast path leaves to encoding/json,
// and checks that the decoder's result is still encoding/json's.
func TestFastPathDeclines(t *testing.T) {
	tests := []struct{ name, body string }{
		{"a key in another case", `{"TYPE":"PUSH_ARTIFACT"}`},
		{"a known key twice", `{"type":"PULL_ARTIFACT","type":"PUSH_ARTIFACT"}`},
		{"an escaped key", `{"t\u0079pe":"PUSH_ARTIFACT"}`},
		{"a key that folds to a known one outside ASCII", "{\"\u017fpecversion\":\"1.0\",\"type\":\"x\"}"},
		{"an escaped string", `{"type":"PUSH\u005fARTIFACT"}`},
		{"invalid UTF-8 in a string", "{\"type\":\"PUSH_ARTIFACT\xff\"}"},
		{"a number for a string", `{"type":5}`},
		{"a null resource", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[null]}}`},
		{"nesting deeper than encoding/json's limit", `{"type":"PUSH_ARTIFACT","x":` + strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting) + `}`},
		{"text after the object", `{"type":"PUSH_ARTIFACT"} {}`},
	}
	dec := decoderFor(t, "harbor")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			var p harborPayload
			if obj, ok := fastObject(body); ok && p.readFast(obj) {
				t.Fatalf("the fast path read it: %+v", p)
			}
			var want Result
			var wantErr error
			var slow harborPayload
			if err := json.Unmarshal(body, &slow); err != nil {
				wantErr = err
			} else {
				want, wantErr = harborDefaultResult(&slow, harborDialect{})
			}
			got, err := dec(body, nil)
			if (err == nil) != (wantErr == nil) || !resultsEqual(got, want) {
				t.Fatalf("decode = %s, %v; encoding/json gives %s, %v", formatResult(got), err, formatResult(want), wantErr)
			}
		})
	}
}

// TestFastObjectSharesOneCopy: the strings the fast path reads share one
// copy of the body, and none shares the caller's bytes.
func TestFastObjectSharesOneCopy(t *testing.T) {
	body := []byte(`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"1.0"}]}}`)
	obj, ok := fastObject(body)
	if !ok {
		t.Fatal("declined")
	}
	var p harborPayload
	if !p.readFast(obj) {
		t.Fatal("declined")
	}
	for i := range body {
		body[i] = 'x'
	}
	if p.Type != "PUSH_ARTIFACT" || p.EventData.Resources[0].Tag != "1.0" {
		t.Fatalf("the result changed with the caller's bytes: %+v", p)
	}
}

// TestResultBuilderSkipsRepeatsPastTheScan: a repeated tag is one push
// whether the builder still scans its pushes or keeps a map of them.
func TestResultBuilderSkipsRepeatsPastTheScan(t *testing.T) {
	var b resultBuilder
	n := 3 * seenScan
	for i := range n {
		b.add(candidate{Push: Push{Host: "h", Repository: "team/app", Tag: "t" + strconv.Itoa(i)}})
	}
	for _, i := range []int{0, seenScan - 1, seenScan, n - 1} {
		b.add(candidate{Push: Push{Host: "h", Repository: "team/app", Tag: "t" + strconv.Itoa(i)}})
	}
	b.add(candidate{Push: Push{Host: "other", Repository: "team/app", Tag: "t0"}})
	res := b.result()
	if len(res.Pushes) != n+1 || len(res.Skipped) != 4 {
		t.Fatalf("%d pushes and %d skips, want %d and 4", len(res.Pushes), len(res.Skipped), n+1)
	}
	for _, s := range res.Skipped {
		if s.Reason != reasonSameTag {
			t.Fatalf("skip %+v, want %q", s, reasonSameTag)
		}
	}
}

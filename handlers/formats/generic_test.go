package formats

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const gDigest = "sha256:4f98543ac6f792c1352e8c5a0555601ab3fd3497810581606c36c7416c5ffe37"

// genericFieldErr expects a *genericError about one field of one event.
func genericFieldErr(event int, field string) func(error) bool {
	return func(err error) bool {
		var ge *genericError
		return errors.As(err, &ge) && ge.Event == event && ge.Field == field
	}
}

func TestGeneric(t *testing.T) {
	app := Push{Repository: "team/app", Tag: "1.2.3"}
	runDecoder(t, "generic", []decodeCase{
		{
			name: "a single event without the envelope is a push with every field mapped",
			file: "single-event.json",
			want: Result{Pushes: []Push{{Host: "registry.example.com:5000", Repository: "team/app", Tag: "1.2.3", Digest: gDigest,
				PushedAt: mustTime(t, "2025-06-01T12:00:00Z"), EventID: "pipeline-4711-push-1"}}},
		},
		{
			name: "an envelope gives a push and skips the event without a tag",
			file: "envelope-two-events.json",
			want: Result{
				Pushes: []Push{{Host: "ee-instance.example.com", InstanceURL: "ee-instance.example.com", Repository: "payments/api-gateway", Tag: "v1.4.0",
					PushedAt: time.Date(2025, 6, 1, 6, 0, 0, 250_000_000, time.UTC), EventID: "release-88"}},
				Skipped: []Skip{{Ref: "payments/api-gateway@sha256:5d41402abc4b2a76b9719d911017c592aaf0b8a7c8e1d2f3a4b5c6d7e8f9a0b1", Reason: "push by digest without a tag"}},
			},
		},
		{name: "a misspelt field is refused and named", file: "typo-field.json", wantErr: genericFieldErr(0, "tga")},

		{name: "repository and tag alone are enough", body: `{"repository":"team/app","tag":"1.2.3"}`, want: Result{Pushes: []Push{app}}},
		{name: "null fields count as absent", body: `{"repository":"team/app","tag":"1.2.3","digest":null,"pushed_at":null}`, want: Result{Pushes: []Push{app}}},
		{name: "an empty tag is a push by digest", body: `{"repository":"team/app","tag":""}`, want: Result{Skipped: []Skip{{Ref: "team/app", Reason: "push by digest without a tag"}}}},
		{
			name: "a cosign signature tag is skipped",
			body: `{"repository":"team/app","tag":"sha256-4f98543ac6f792c1352e8c5a0555601ab3fd3497810581606c36c7416c5ffe37.sig"}`,
			want: Result{Skipped: []Skip{{Ref: "team/app:sha256-4f98543ac6f792c1352e8c5a0555601ab3fd3497810581606c36c7416c5ffe37.sig", Reason: "cosign signature tag, not a container image"}}},
		},
		{
			name: "an IPv6 registry with a port is a host",
			body: `{"repository":"team/app","tag":"1.2.3","registry":"[fd00::1]:5000"}`,
			want: Result{Pushes: []Push{{Host: "[fd00::1]:5000", Repository: "team/app", Tag: "1.2.3"}}},
		},

		// Refused, with the event and field named.
		{name: "a missing repository is refused", body: `{"tag":"1.2.3"}`, wantErr: genericFieldErr(0, "repository")},
		{name: "a repository with the registry host in it is refused", body: `{"repository":"registry.example.com/team/app","tag":"1"}`, wantErr: genericFieldErr(0, "repository")},
		{name: "an upper-case repository is refused", body: `{"repository":"Team/App","tag":"1"}`, wantErr: genericFieldErr(0, "repository")},
		{name: "a digest in the tag field is refused", body: `{"repository":"team/app","tag":"` + gDigest + `"}`, wantErr: genericFieldErr(0, "tag")},
		{name: "a tag with a space is refused", body: `{"repository":"team/app","tag":"1.2 3"}`, wantErr: genericFieldErr(0, "tag")},
		{name: "a tag over 128 characters is refused", body: `{"repository":"team/app","tag":"` + strings.Repeat("t", 129) + `"}`, wantErr: genericFieldErr(0, "tag")},
		{name: "a malformed digest is refused", body: `{"repository":"team/app","tag":"1","digest":"abc"}`, wantErr: genericFieldErr(0, "digest")},
		{name: "a registry given as a URL is refused", body: `{"repository":"team/app","tag":"1","registry":"https://registry.example.com"}`, wantErr: genericFieldErr(0, "registry")},
		{name: "a registry with a path is refused", body: `{"repository":"team/app","tag":"1","registry":"registry.example.com/team"}`, wantErr: genericFieldErr(0, "registry")},
		{name: "a pushed_at that is not RFC 3339 is refused", body: `{"repository":"team/app","tag":"1","pushed_at":"2025-06-01 12:00"}`, wantErr: genericFieldErr(0, "pushed_at")},
		{name: "a numeric tag is refused as not a string", body: `{"repository":"team/app","tag":1}`, wantErr: genericFieldErr(0, "tag")},
		{name: "field names are case-sensitive", body: `{"Repository":"team/app","tag":"1"}`, wantErr: genericFieldErr(0, "Repository")},
		{name: "the second bad event is named by its index", body: `{"events":[{"repository":"team/app","tag":"1"},{"repository":"team/app","tag":"1","size":3}]}`, wantErr: genericFieldErr(1, "size")},
		{name: "a null event is refused", body: `{"events":[null]}`, wantErr: genericFieldErr(0, "")},
		{name: "an empty events array is refused", body: `{"events":[]}`, wantErr: errIs(errGenericEvents)},
		{name: "events as an object is refused", body: `{"events":{"repository":"team/app"}}`, wantErr: errIs(errGenericEvents)},
		{name: "null events is refused", body: `{"events":null}`, wantErr: errIs(errGenericEvents)},
		{name: "events beside event fields is refused", body: `{"events":[{"repository":"team/app","tag":"1"}],"repository":"team/app"}`, wantErr: errIs(errGenericMixed)},
		{name: "null is not an object", body: `null`, wantErr: errIs(errNotJSONObject)},
		{name: "a bare array of events is not an object", body: `[{"repository":"team/app","tag":"1"}]`, wantErr: errIs(errNotJSONObject)},
		{name: "text is not JSON", body: `repository=team/app`, wantErr: errIs(errNotJSONObject)},
		{name: "truncated JSON is a syntax error", body: `{"repository":"team/app"`, wantErr: errSyntax},
	})
}

// TestGenericDocsExamples decodes every json example of the format's
// documentation, so docs/formats/generic.md cannot drift from the decoder.
func TestGenericDocsExamples(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "formats", "generic.md"))
	if err != nil {
		t.Fatalf("read the format's documentation: %v", err)
	}
	blocks := markdownBlocks(string(md), "json")
	if len(blocks) < 2 {
		t.Fatalf("found %d json examples in generic.md, want the envelope and the single event", len(blocks))
	}
	dec := decoderFor(t, "generic")
	for i, block := range blocks {
		res, err := dec([]byte(block), nil)
		if err != nil {
			t.Errorf("example %d does not decode: %v\n%s", i, err, block)
			continue
		}
		if len(res.Pushes) == 0 || len(res.Skipped) != 0 {
			t.Errorf("example %d gives%s; want only pushes", i, formatResult(res))
		}
	}
}

// markdownBlocks returns the bodies of the fenced code blocks of a language.
func markdownBlocks(md, lang string) []string {
	var blocks []string
	rest := md
	for {
		_, after, ok := strings.Cut(rest, "```"+lang+"\n")
		if !ok {
			return blocks
		}
		body, tail, ok := strings.Cut(after, "```")
		if !ok {
			return blocks
		}
		blocks = append(blocks, body)
		rest = tail
	}
}

func FuzzGeneric(f *testing.F) {
	fuzzDecoder(f, "generic", fuzzSeeds{bodies: []string{
		`{"repository":"a/b","tag":"t","registry":"[::1]:5000","pushed_at":"2006-01-02T15:04:05Z"}`,
		`{"events":[{"repository":"a","tag":"sha256-0000000000000000000000000000000000000000000000000000000000000000.att"}]}`,
	}})
}

// BenchmarkDecodeGeneric decodes a single event with every common field.
func BenchmarkDecodeGeneric(b *testing.B) {
	benchDecoder(b, "generic", "single-event.json", nil)
}

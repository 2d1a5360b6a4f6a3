package scanjob

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/distribution/reference"
)

const (
	digest256 = "sha256:4f98543ac6f792c1352e8c5a0555601ab3fd3497810581606c36c7416c5ffe37"
	hex64     = "4f98543ac6f792c1352e8c5a0555601ab3fd3497810581606c36c7416c5ffe37"
)

// nameField is one name field of a job: how to set it and a valid value
// to graft attacks onto.
type nameField struct {
	json  string
	set   func(*Job, string)
	valid string
}

var nameFields = []nameField{
	{"namespace", func(j *Job, v string) { j.Namespace = v }, "team"},
	{"image_name", func(j *Job, v string) { j.Image = v }, "tools/cli"},
	{"image_version", func(j *Job, v string) { j.Tag = v }, "1.0"},
	{"digest", func(j *Job, v string) { j.Digest = v }, digest256},
	{"registry_host", func(j *Job, v string) { j.RegistryHost = v }, "registry.example.com"},
}

// attacks are the values an outside attacker sent through the lenient
// formats, as a change to a field's valid value.
var attacks = []struct {
	name string
	make func(valid string) string
}{
	{"CR LF", func(v string) string { return v + "\r\nX-Injected: 1" }},
	{"a NUL byte", func(v string) string { return v + "\x00" }},
	{"a space", func(v string) string { return v[:1] + " " + v[1:] }},
	{"a glob *", func(v string) string { return v + "*" }},
	{"a NATS wildcard >", func(v string) string { return v + ">" }},
	{"a right-to-left override U+202E", func(v string) string { return v[:1] + "\u202e" + v[1:] }},
	{"invalid UTF-8 bytes", func(v string) string { return v + "\xff\xfe" }},
	{"a non-ASCII letter", func(v string) string { return v + "é" }},
	{"a tab", func(v string) string { return v + "\t" }},
	{"a leading -", func(v string) string { return "-" + v }},
	{"a leading .", func(v string) string { return "." + v }},
	{"a /.. path", func(v string) string { return v + "/.." }},
}

func TestValidateRefusesAttackValuesInEveryNameField(t *testing.T) {
	for _, f := range nameFields {
		for _, a := range attacks {
			value := a.make(f.valid)
			t.Run(f.json+" with "+a.name+" is refused naming the field", func(t *testing.T) {
				j := validJob()
				f.set(&j, value)
				fe := onlyFieldError(t, j.Validate())
				if fe.Field != f.json {
					t.Fatalf("error names %q, want %q: %v", fe.Field, f.json, fe)
				}
				assertSafeMessage(t, fe)
			})
		}
	}
}

func TestValidateNames(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*Job)
		wantField string // "" means valid
		wantRule  string
	}{
		// Valid edge cases of the grammar.
		{"a one-letter namespace and image", func(j *Job) { j.Namespace, j.Image = "a", "b" }, "", ""},
		{"a double underscore inside a component", func(j *Job) { j.Namespace, j.Image = "a__b", "c__d" }, "", ""},
		{"a run of dashes inside a component", func(j *Job) { j.Namespace, j.Image = "a---b", "c---d" }, "", ""},
		{"dots and single underscores inside a component", func(j *Job) { j.Namespace, j.Image = "team.prod", "my_app.v2" }, "", ""},
		{"a multi-segment image", func(j *Job) { j.Image = "tools/cli" }, "", ""},
		{"a deep multi-segment image", func(j *Job) { j.Image = "a/b/c/d/e" }, "", ""},
		{"an image whose first segment looks like a host", func(j *Job) { j.Image = "mirror.example.com/app" }, "", ""},
		{"a tag with underscore, dot and dash", func(j *Job) { j.Tag = "v1.0_rc-1" }, "", ""},
		{"a tag with upper case letters", func(j *Job) { j.Tag = "PIG-267-Refactor" }, "", ""},
		{"a tag starting with an underscore", func(j *Job) { j.Tag = "_latest" }, "", ""},
		{"a 128-character tag", func(j *Job) { j.Tag = strings.Repeat("t", 128) }, "", ""},
		{"a sha256 digest", func(j *Job) { j.Digest = digest256 }, "", ""},
		{"a sha384 digest", func(j *Job) { j.Digest = "sha384:" + strings.Repeat("ab", 48) }, "", ""},
		{"a sha512 digest", func(j *Job) { j.Digest = "sha512:" + hex64 + hex64 }, "", ""},
		{"a host with a port", func(j *Job) { j.RegistryHost = "registry.example.com:5000" }, "", ""},
		{"localhost with a port", func(j *Job) { j.RegistryHost = "localhost:5000" }, "", ""},
		{"an IPv4 host with a port", func(j *Job) { j.RegistryHost = "10.0.0.1:5000" }, "", ""},
		{"an IPv6 host with a port", func(j *Job) { j.RegistryHost = "[fd00::1]:5000" }, "", ""},
		{"a single-label host (a compose service name)", func(j *Job) { j.RegistryHost = "registry" }, "", ""},
		{"a host in upper case (host names ignore case)", func(j *Job) { j.RegistryHost = "SWR.CN-NORTH-4.MyHuaweiCloud.com" }, "", ""},

		// Names registries never report.
		{"an upper-case namespace", func(j *Job) { j.Namespace = "Team" }, "namespace", RuleGrammar},
		{"an upper-case image name", func(j *Job) { j.Image = "repoTest" }, "image_name", RuleGrammar},
		{"a namespace holding a /", func(j *Job) { j.Namespace = "team/app" }, "namespace", RuleGrammar},
		{"a namespace of ..", func(j *Job) { j.Namespace = ".." }, "namespace", RuleGrammar},
		{"an image name of ..", func(j *Job) { j.Image = ".." }, "image_name", RuleGrammar},
		{"an image name with .. inside", func(j *Job) { j.Image = "a..b" }, "image_name", RuleGrammar},
		{"an image name with an empty segment", func(j *Job) { j.Image = "tools//cli" }, "image_name", RuleGrammar},
		{"an image name with a trailing /", func(j *Job) { j.Image = "tools/" }, "image_name", RuleGrammar},
		{"an image name with a leading /", func(j *Job) { j.Image = "/cli" }, "image_name", RuleGrammar},
		{"an image name with three underscores", func(j *Job) { j.Image = "a___b" }, "image_name", RuleGrammar},
		{"an image name ending in a separator", func(j *Job) { j.Image = "app-" }, "image_name", RuleGrammar},
		{"an image name with a tag in it", func(j *Job) { j.Image = "app:1.0" }, "image_name", RuleGrammar},
		{"a tag of ..", func(j *Job) { j.Tag = ".." }, "image_version", RuleGrammar},
		{"a tag starting with -", func(j *Job) { j.Tag = "-rc1" }, "image_version", RuleGrammar},
		{"a tag holding a digest separator", func(j *Job) { j.Tag = "1.0@sha256" }, "image_version", RuleGrammar},
		{"a 129-character tag is over the HSS limit", func(j *Job) { j.Tag = strings.Repeat("t", 129) }, "image_version", "max"},
		{"an over-long whole name is over the HSS limit", func(j *Job) {
			j.Namespace, j.Image = strings.Repeat("n", 64), strings.Repeat("abcdefghi/", 20)+"x"
		}, "image_name", "max"},
		{"a digest without its algorithm", func(j *Job) { j.Digest = hex64 }, "digest", RuleGrammar},
		{"a digest of the wrong length", func(j *Job) { j.Digest = "sha256:" + hex64[:60] }, "digest", RuleGrammar},
		{"a digest in upper-case hex", func(j *Job) { j.Digest = "sha256:" + strings.ToUpper(hex64) }, "digest", RuleGrammar},
		{"a digest masked with x", func(j *Job) { j.Digest = "sha256:" + hex64[:50] + "xxxx" + hex64[54:] }, "digest", RuleGrammar},
		{"a digest of an unknown algorithm", func(j *Job) { j.Digest = "md5:d41d8cd98f00b204e9800998ecf8427e" }, "digest", RuleGrammar},
		{"a host with a scheme", func(j *Job) { j.RegistryHost = "https://registry.example.com" }, "registry_host", RuleGrammar},
		{"a host with a path", func(j *Job) { j.RegistryHost = "registry.example.com/team" }, "registry_host", RuleGrammar},
		{"a host with an empty label", func(j *Job) { j.RegistryHost = "registry..example.com" }, "registry_host", RuleGrammar},
		{"a host label ending in -", func(j *Job) { j.RegistryHost = "registry-.example.com" }, "registry_host", RuleGrammar},
		{"a host with a non-numeric port", func(j *Job) { j.RegistryHost = "registry.example.com:http" }, "registry_host", RuleGrammar},
		{"a host with user info", func(j *Job) { j.RegistryHost = "user@registry.example.com" }, "registry_host", RuleGrammar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.mutate(&j)
			err := j.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			fe := onlyFieldError(t, err)
			if fe.Field != tt.wantField || fe.Rule != tt.wantRule {
				t.Fatalf("Validate() = %v (field %s, rule %s); want field %s, rule %s", fe, fe.Field, fe.Rule, tt.wantField, tt.wantRule)
			}
			assertSafeMessage(t, fe)
		})
	}
}

func TestValidateReportsEachBrokenFieldOnce(t *testing.T) {
	j := validJob()
	j.Namespace = strings.Repeat("N", 65) // over the limit and upper case: one error, the limit
	j.Tag = "1.0\r\n"
	j.Digest = "sha256:abc"
	var fields []string
	for _, err := range unwrapAll(j.Validate()) {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("error %T is not a *FieldError: %v", err, err)
		}
		fields = append(fields, fe.Field+"/"+fe.Rule)
	}
	want := "namespace/max image_version/grammar digest/grammar"
	if got := strings.Join(fields, " "); got != want {
		t.Fatalf("errors %s, want %s", got, want)
	}
}

func TestFieldErrorMessages(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Job)
		want   string
	}{
		{"a tag with CR LF is quoted with escapes",
			func(j *Job) { j.Tag = "1.0\r\nX" },
			`image_version "1.0\r\nX": not a valid tag (OCI distribution grammar: letters, digits, _ . -, up to 128, not starting with . or -)`},
		{"a right-to-left override shows as an escape",
			func(j *Job) { j.Image = "app\u202egpj.exe" },
			`image_name "app\u202egpj.exe": not a valid image name`},
		{"invalid UTF-8 shows byte by byte",
			func(j *Job) { j.Namespace = "team\xff" },
			`namespace "team\xff": not a valid namespace`},
		{"a NUL shows as an escape",
			func(j *Job) { j.RegistryHost = "registry.example.com\x00" },
			`registry_host "registry.example.com\x00": not a valid registry host`},
		{"a long value is clipped and its whole length given",
			func(j *Job) { j.Tag = strings.Repeat("t", 1<<20) },
			`image_version "` + strings.Repeat("t", 77) + `..." is 1048576 characters, the HSS limit is 128`},
		{"a long invalid value is clipped",
			func(j *Job) { j.Digest = "sha256:" + strings.Repeat("\xff", 200) },
			`digest "sha256:` + strings.Repeat(`\xff`, 70) + `...": not a valid digest`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.mutate(&j)
			fe := onlyFieldError(t, j.Validate())
			if got := fe.Error(); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("message\n%s\nwant prefix\n%s", got, tt.want)
			}
		})
	}
}

// TestHSSLimitsFitTheOCILimit is why Validate has no check of its own for
// reference's limit on a whole repository name: the HSS limits on the
// namespace and the image name keep namespace/image under it.
func TestHSSLimitsFitTheOCILimit(t *testing.T) {
	const longest = 64 + len("/") + 128
	if longest > reference.RepositoryNameTotalLengthMax {
		t.Fatalf("namespace/image can be %d characters, over reference's %d: check the whole name in Validate",
			longest, reference.RepositoryNameTotalLengthMax)
	}
	j := validJob()
	j.Namespace = strings.Repeat("n", 64)
	j.Image = strings.Repeat("i", 63) + "/" + strings.Repeat("j", 64)
	if err := j.Validate(); err != nil {
		t.Fatalf("the longest valid name: %v", err)
	}
	if _, err := reference.WithName(j.Repository()); err != nil {
		t.Fatalf("reference refuses the longest valid name: %v", err)
	}
}

// FuzzJobValidate checks the promise Validate makes to everything
// downstream (the queue subject, the logs, HSS): a job it accepts has
// names of printable ASCII without spaces, which compose into a reference
// that reference's own parser reads back unchanged.
func FuzzJobValidate(f *testing.F) {
	f.Add("team", "tools/cli", "v1.0_rc-1", digest256, "registry.example.com:5000")
	f.Add("a", "b", "1", "", "")
	f.Add("a__b", "c---d/e.f", strings.Repeat("t", 128), "", "localhost")
	f.Add("team.prod", "mirror.example.com/app", "_x", "sha512:"+hex64+hex64, "[::1]:5000")
	f.Add("Team", "App", "latest", "", "Registry")
	f.Add("team", "app", "1.0\r\nX", "sha256:abc", "registry.example.com\x00")
	f.Add("te am", "app*", "1>", "sha256:"+strings.ToUpper(hex64), "https://registry")
	f.Add("team\u202e", "app\xff", "..", hex64, "registry..example.com")
	f.Fuzz(func(t *testing.T, ns, image, tag, dgst, host string) {
		j := validJob()
		j.Namespace, j.Image, j.Tag, j.Digest, j.RegistryHost = ns, image, tag, dgst, host
		err := j.Validate()
		if err != nil {
			for _, e := range unwrapAll(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %T is not a *FieldError: %v", e, e)
				}
				assertSafeMessage(t, fe)
			}
			return
		}
		for field, v := range map[string]string{"namespace": ns, "image_name": image, "image_version": tag, "digest": dgst, "registry_host": host} {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c <= ' ' || c > '~' {
					t.Fatalf("valid job has byte %#x in %s %q", c, field, v)
				}
			}
		}
		// Docker reads a first component without "." or ":" (other than
		// localhost) as a Docker Hub path, not a host, so a single-label
		// host gets a port to be read as the host it is.
		h := host
		switch {
		case h == "":
			h = "registry.invalid"
		case !strings.ContainsAny(h, ".:") && h != "localhost":
			h += ":5000"
		}
		s := h + "/" + ns + "/" + image + ":" + tag
		if dgst != "" {
			s += "@" + dgst
		}
		named, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			t.Fatalf("valid job %q: reference.ParseNormalizedNamed: %v", s, err)
		}
		if got := reference.Path(named); got != ns+"/"+image {
			t.Fatalf("%q reads back as path %q", s, got)
		}
		if tagged, ok := named.(reference.Tagged); !ok || tagged.Tag() != tag {
			t.Fatalf("%q reads back without tag %q", s, tag)
		}
		if dgst != "" {
			if d, ok := named.(reference.Digested); !ok || d.Digest().String() != dgst {
				t.Fatalf("%q reads back without digest %q", s, dgst)
			}
		}
	})
}

// onlyFieldError returns the one *FieldError err holds.
func onlyFieldError(t *testing.T, err error) *FieldError {
	t.Helper()
	errs := unwrapAll(err)
	if len(errs) != 1 {
		t.Fatalf("Validate() = %v, want exactly one error", err)
	}
	var fe *FieldError
	if !errors.As(errs[0], &fe) {
		t.Fatalf("error %T does not wrap *FieldError", errs[0])
	}
	return fe
}

// unwrapAll lists the errors an errors.Join holds (nil: none).
func unwrapAll(err error) []error {
	if err == nil {
		return nil
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}

// assertSafeMessage checks that a message can be shown anywhere: valid
// UTF-8, no control characters or bidi marks, bounded whatever the value.
func assertSafeMessage(t *testing.T, fe *FieldError) {
	t.Helper()
	msg := fe.Error()
	if !utf8.ValidString(msg) {
		t.Fatalf("message is not valid UTF-8: %q", msg)
	}
	for _, r := range msg {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' || r == '\u200f' || r == '\u2066' {
			t.Fatalf("message holds %U: %q", r, msg)
		}
	}
	if len(msg) > 600 {
		t.Fatalf("message is %d bytes: %.100q...", len(msg), msg)
	}
	if !strings.HasPrefix(msg, fe.Field) {
		t.Fatalf("message does not start with the field %s: %q", fe.Field, msg)
	}
}

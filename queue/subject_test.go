package queue

import (
	"errors"
	"regexp"
	"testing"
)

func TestEscapeToken(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain names stay as they are", "team-a_1", "team-a_1"},
		{"a dot would split the subject", "team.prod", "team%2Eprod"},
		{"wildcards become literals", "*>", "%2A%3E"},
		{"a space is escaped", "my team", "my%20team"},
		{"the escape character escapes itself", "100%", "100%25"},
		{"multibyte characters are escaped byte by byte", "é", "%C3%A9"},
		{"the empty string stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EscapeToken(tt.in); got != tt.want {
				t.Errorf("EscapeToken(%q) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := UnescapeToken(tt.want)
			if err != nil || back != tt.in {
				t.Errorf("UnescapeToken(%q) = %q, %v; want %q", tt.want, back, err, tt.in)
			}
		})
	}
}

func TestUnescapeTokenRefusesOtherSpellings(t *testing.T) {
	tests := []struct{ name, in string }{
		{"a truncated escape", "ab%2"},
		{"lower-case hex", "a%2eb"},
		{"an escaped plain character", "%41"},
		{"a raw dot", "a.b"},
		{"a raw wildcard", "a*"},
		{"a non-hex escape", "%ZZ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := UnescapeToken(tt.in); !errors.Is(err, ErrBadToken) {
				t.Errorf("UnescapeToken(%q) = %q, %v; want ErrBadToken", tt.in, got, err)
			}
		})
	}
}

var tokenChars = regexp.MustCompile(`^[A-Za-z0-9_%-]*$`)

func FuzzEscapeTokenRoundTrip(f *testing.F) {
	for _, s := range []string{"", "library", "team.prod", "a b", "*", ">", "%", "%25", "é", "\x00\xff", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := EscapeToken(s)
		if !tokenChars.MatchString(tok) {
			t.Fatalf("EscapeToken(%q) = %q holds characters a subject token must not", s, tok)
		}
		if (tok == "") != (s == "") {
			t.Fatalf("EscapeToken(%q) = %q: empty iff the input is", s, tok)
		}
		back, err := UnescapeToken(tok)
		if err != nil || back != s {
			t.Fatalf("UnescapeToken(EscapeToken(%q)) = %q, %v", s, back, err)
		}
		// Every accepted token has exactly one spelling.
		if u, err := UnescapeToken(s); err == nil && EscapeToken(u) != s {
			t.Fatalf("UnescapeToken(%q) = %q escapes back to %q", s, u, EscapeToken(u))
		}
	})
}

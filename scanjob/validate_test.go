package scanjob

import (
	"strings"
	"testing"
)

func TestClipKeepsInvalidUTF8AndRuneBoundaries(t *testing.T) {
	tests := []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", 10), strings.Repeat("a", 10)},
		{strings.Repeat("a", 11), strings.Repeat("a", 7) + "..."},
		{"aaaaaa" + "é" + "zzz", "aaaaaa..."},                           // é would straddle the cut
		{strings.Repeat("\xff", 11), strings.Repeat("\xff", 7) + "..."}, // invalid bytes are kept, not replaced
		{strings.Repeat("\x80", 11), strings.Repeat("\x80", 4) + "..."}, // bounded backing off over continuation bytes
	}
	for _, tt := range tests {
		if got := clip(tt.in, 10); got != tt.want {
			t.Errorf("clip(%q, 10) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

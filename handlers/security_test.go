package handlers

import (
	"crypto/sha256"
	"testing"
)

func TestMatchAnyComparesDigests(t *testing.T) {
	candidates := []digest{sha256.Sum256([]byte("first-secret-0123")), sha256.Sum256([]byte("second-secret-0123"))}
	tests := []struct {
		name string
		got  string
		want bool
	}{
		{"the first secret matches", "first-secret-0123", true},
		{"the last secret matches too (every candidate is compared)", "second-secret-0123", true},
		{"a prefix of a secret does not match", "first-secret", false},
		{"a secret with a byte more does not match", "first-secret-01234", false},
		{"an empty value does not match", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchAny([]byte(tt.got), candidates); got != tt.want {
				t.Fatalf("matchAny(%q) = %t, want %t", tt.got, got, tt.want)
			}
		})
	}
}

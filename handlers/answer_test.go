package handlers

import (
	"bytes"
	"encoding/json"
	"testing"
)

func encodeAnswer(t *testing.T, a Answer) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(a); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppendAnswerIsEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		a    Answer
	}{
		{"empty", Answer{}},
		{"accepted", Answer{Status: "accepted", Receiver: "r", RequestID: "id-1", Jobs: []JobAnswer{{ID: "a", Image: "team/app:1"}, {ID: "b", Image: "team/app:2", Duplicate: true}}}},
		{"refused", Answer{Status: "error", Receiver: "r", Reason: "a job breaks an HSS field limit; nothing was stored", Errors: []string{"x: tag: too long", "y"}}},
		{"skipped", Answer{Status: "ignored", Skipped: []SkipAnswer{{Reason: "no tag"}, {Ref: "team/app:1", Reason: "dropped by routes[0]"}}}},
		{"escapes", Answer{Status: "error", Reason: "body is not a <harbor> event: \"x\" & \\ \n\t\x01 é \u2028 \xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.a.appendJSON(nil), encodeAnswer(t, tt.a); !bytes.Equal(got, want) {
				t.Fatalf("appendJSON:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
}

// FuzzAppendAnswer holds the hand-written answer encoder byte-equal to
// encoding/json for any strings.
func FuzzAppendAnswer(f *testing.F) {
	f.Add("accepted", "r", "id", "", "job", "team/app:1", true, "team/app:2", "why")
	f.Add("error", "", "", "<&>\"\\\n", "\xff", "\u2028", false, "", "")
	f.Fuzz(func(t *testing.T, status, receiver, reqID, reason, id, image string, dup bool, ref, why string) {
		a := Answer{Status: status, Receiver: receiver, RequestID: reqID, Reason: reason,
			Errors: []string{reason, id}, Jobs: []JobAnswer{{ID: id, Image: image, Duplicate: dup}},
			Skipped: []SkipAnswer{{Ref: ref, Reason: why}}}
		if got, want := a.appendJSON(nil), encodeAnswer(t, a); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON:\n%q\nencoding/json:\n%q", got, want)
		}
	})
}

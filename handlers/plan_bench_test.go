package handlers

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
)

// BenchmarkDecodeValidate is decode + normalize + route + validate per
// format, on the first fixture of that format that yields a job: the
// intake's work per webhook before auth and the store.
func BenchmarkDecodeValidate(b *testing.B) {
	for _, name := range formats.Names() {
		cfg := DefaultConfig()
		cfg.Receivers = []ReceiverConfig{{Name: "r", Format: name, Target: target, Auth: AuthConfig{Method: AuthNone}, DefaultNamespace: "library"}}
		s, err := New(cfg, Options{Publisher: &memPublisher{}})
		if err != nil {
			b.Fatal(err)
		}
		body, hdr := firstPushFixture(b, s, name)
		if body == nil {
			b.Logf("%s: no fixture yields a job without headers; skipped", name)
			continue
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := s.Explain("r", hdr, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func firstPushFixture(b *testing.B, s *Server, format string) ([]byte, http.Header) {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join("formats", "testdata", format, "*.json"))
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		ex, err := s.Explain("r", http.Header{}, body)
		if err == nil && len(ex.Jobs) > 0 {
			return body, http.Header{}
		}
	}
	return nil, nil
}

package bridgeproc

import (
	"os"
	"reflect"
	"testing"
)

func TestSet(t *testing.T) {
	cfg := map[string]any{"http": map[string]any{"listen": ":8080"}}
	Set(cfg, "http.max_in_flight", 4)
	Set(cfg, "nats.intake.enabled", true)
	want := map[string]any{
		"http": map[string]any{"listen": ":8080", "max_in_flight": 4},
		"nats": map[string]any{"intake": map[string]any{"enabled": true}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("cfg = %v, want %v", cfg, want)
	}
}

func TestMemoryOfThisProcess(t *testing.T) {
	hwm, rss, err := Memory(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if hwm <= 0 || rss <= 0 || rss > hwm {
		t.Fatalf("hwm %d, rss %d: want 0 < rss <= hwm", hwm, rss)
	}
	if _, _, err := Memory(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

func TestMiB(t *testing.T) {
	for in, want := range map[int64]string{0: "-", -1: "-", 3 << 19: "1.5 MiB"} {
		if got := MiB(in); got != want {
			t.Errorf("MiB(%d) = %q, want %q", in, got, want)
		}
	}
}

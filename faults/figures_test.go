//go:build linux

package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/bridgeproc"
)

// figure is one scenario's line of the table the closing note carries.
type figure struct {
	Fault string
	// Accepted is how many distinct images got a 202; Delivered how many
	// of them reached HSS; Lost = Accepted - Delivered - DeadLettered.
	Accepted, Delivered, Lost int
	// DeadLettered are accepted images parked in the DLQ on purpose.
	DeadLettered int
	// Duplicates counts HSS items beyond the first per image.
	Duplicates int
	// Drain is from the end of the fault (restart ready, HSS or NATS back)
	// to the last accepted image at HSS; 0 when not measured.
	Drain time.Duration
	// PeakRSS is the largest VmHWM of the scenario's bridge processes.
	PeakRSS int64
	// Note carries the scenario's own figures (503 answers, refusals,
	// exit time, ...).
	Note string
}

var (
	figuresMu sync.Mutex
	figures   []figure
)

// record keeps f for the table and logs it as one line.
func record(t *testing.T, f figure) {
	t.Helper()
	figuresMu.Lock()
	figures = append(figures, f)
	figuresMu.Unlock()
	t.Logf("figures: fault=%q accepted=%d delivered=%d lost=%d dead_lettered=%d duplicates=%d drain=%s peak_rss=%s %s",
		f.Fault, f.Accepted, f.Delivered, f.Lost, f.DeadLettered, f.Duplicates, drainText(f.Drain), bridgeproc.MiB(f.PeakRSS), f.Note)
}

// figuresTable is the markdown table of every recorded figure, in run
// order; empty when nothing ran.
func figuresTable() string {
	figuresMu.Lock()
	defer figuresMu.Unlock()
	if len(figures) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| fault | jobs accepted | jobs delivered | lost | duplicates | time to drain | peak RSS | notes |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, f := range figures {
		delivered := fmt.Sprint(f.Delivered)
		if f.DeadLettered > 0 {
			delivered += fmt.Sprintf(" (+%d dead-lettered)", f.DeadLettered)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %s | %s | %s |\n",
			f.Fault, f.Accepted, delivered, f.Lost, f.Duplicates, drainText(f.Drain), bridgeproc.MiB(f.PeakRSS), f.Note)
	}
	return b.String()
}

func drainText(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

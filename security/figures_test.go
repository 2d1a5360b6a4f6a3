//go:build linux

package security

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/scan-bridge/scan-bridge/internal/bridgeproc"
)

// figure is one scenario's line of the table TestMain prints.
type figure struct {
	Scenario string
	// Attack is what was sent, Answer what the bridge did about it.
	Attack, Answer string
	// PeakRSS is the bridge's VmHWM over the scenario; 0 when the
	// scenario is not about memory.
	PeakRSS int64
	// Limit is what the scenario asserts.
	Limit string
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
	t.Logf("figures: scenario=%q attack=%q answer=%q peak_rss=%s limit=%q", f.Scenario, f.Attack, f.Answer, bridgeproc.MiB(f.PeakRSS), f.Limit)
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
	b.WriteString("| scenario | attack | answer | peak RSS | limit |\n")
	b.WriteString("| --- | --- | --- | ---: | --- |\n")
	for _, f := range figures {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.Scenario, f.Attack, f.Answer, bridgeproc.MiB(f.PeakRSS), f.Limit)
	}
	return b.String()
}

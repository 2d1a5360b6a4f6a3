//go:build linux

package security

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestRawNATSClientAgainstTheDefaults runs the bridge with the default
// NATS settings (the embedded server; only the listeners and the store
// are the test's) and finds every TCP port the process listens on. Past
// the webhook and admin listeners there must be none, or a raw NATS
// client without credentials must be refused on it: anyone on the host
// reaching an open embedded server could publish jobs, read them, or
// delete the stream.
func TestRawNATSClientAgainstTheDefaults(t *testing.T) {
	needBridge(t)
	b := newBridge(t, "")
	b.cfg["nats"] = map[string]any{"data_dir": filepath.Join(b.dir, "nats")} // every other NATS setting at its default
	b.start()

	ports, err := listeningPorts(b.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	for _, p := range ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if addr == b.addr || addr == b.adminAddr {
			continue
		}
		nc, err := nats.Connect("nats://"+addr, nats.Name("security-raw-client"), nats.Timeout(5*time.Second), nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Errorf("the bridge listens on %d, where a NATS client without credentials is let in", p)
			answers = append(answers, fmt.Sprintf("%d: let in", p))
			continue
		}
		answers = append(answers, fmt.Sprintf("%d: refused (%v)", p, err))
	}
	answer := "no port beyond the two listeners"
	if len(answers) > 0 {
		answer = strings.Join(answers, "; ")
	}
	record(t, figure{Scenario: "raw NATS client, default config", Attack: "connect without credentials to every port the bridge listens on",
		Answer: answer, Limit: "refused, or no port"})
}

// listeningPorts are the TCP ports process pid listens on: the inodes of
// its sockets (/proc/<pid>/fd) that /proc/<pid>/net/tcp and tcp6 list in
// state LISTEN (0A), per proc(5).
func listeningPorts(pid int) ([]int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, fmt.Errorf("list the bridge's descriptors: %w", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read the socket table: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			p, err := strconv.ParseInt(hexPort, 16, 32)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("socket table: port %q: %w", hexPort, err)
			}
			ports = append(ports, int(p))
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read the socket table: %w", err)
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports), nil
}

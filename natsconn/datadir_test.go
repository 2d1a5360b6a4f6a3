package natsconn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The embedded server's start failures, each named by its setting and its
// cause instead of "not ready after 10s".

func TestEmbeddedStartFailuresNameTheCause(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		cfg  Config
		want string // the whole error
	}{
		{
			name: "a port another process listens on",
			cfg:  Config{DataDir: t.TempDir(), Listen: busy.Addr().String()},
			want: "nats.listen " + busy.Addr().String() + ": address already in use",
		},
		{
			name: "a file where the data dir should be",
			cfg:  Config{DataDir: notADir},
			want: "nats.data_dir " + notADir + ": not a directory",
		},
		{
			name: "a data dir under a file",
			cfg:  Config{DataDir: filepath.Join(notADir, "nats")},
			want: "nats.data_dir " + filepath.Join(notADir, "nats") + ": not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			began := time.Now()
			e, err := StartEmbedded(tt.cfg, slog.New(slog.NewTextHandler(&log, nil)))
			if err == nil {
				e.Stop()
				t.Fatal("the server started")
			}
			if err.Error() != tt.want {
				t.Fatalf("start = %q, want %q", err, tt.want)
			}
			if d := time.Since(began); d > readyTimeout/2 {
				t.Errorf("the failure took %s: it waited for the timeout instead of the server's error", d)
			}
		})
	}
}

func TestEmbeddedServerLogReachesTheBridgeLog(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var log bytes.Buffer
	_, err = StartEmbedded(Config{DataDir: t.TempDir(), Listen: busy.Addr().String()}, slog.New(slog.NewTextHandler(&log, nil)))
	if err == nil {
		t.Fatal("the server started on a port in use")
	}
	// The server's own line, at error level, with its cause.
	if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "address already in use") {
		t.Fatalf("the bridge log does not show the server's error:\n%s", log.String())
	}
	if strings.Contains(log.String(), "level=DEBUG") {
		t.Errorf("the server's notices reached an info logger:\n%s", log.String())
	}
}

func TestAReadOnlyDataDirIsNamed(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to a read-only directory; the not-a-directory cases cover the path")
	}
	dir := filepath.Join(t.TempDir(), "nats")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := StartEmbedded(Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.HasPrefix(err.Error(), "nats.data_dir "+dir+": permission denied") {
		t.Fatalf("start = %v, want nats.data_dir %s: permission denied", err, dir)
	}
	if err := checkDataDir(dir); err == nil || !strings.HasPrefix(err.Error(), "nats.data_dir "+dir+": permission denied") {
		t.Fatalf("checkDataDir = %v, want permission denied", err)
	}
}

func TestASecondBridgeOnTheDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	first := startEmbedded(t, Config{DataDir: dir}, nil)

	// flock locks belong to the open file description: the second start
	// opens the lock file anew, as another process would, and conflicts
	// although it is the same process.
	_, err := StartEmbedded(Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	host, _ := os.Hostname()
	want := "nats.data_dir " + dir + " is in use by another bridge (pid " + strconv.Itoa(os.Getpid()) + " on host " + host + ", lock " +
		filepath.Join(dir, lockFileName) + ")"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("second start = %v, want it to begin %q", err, want)
	}

	first.Stop()
	second := startEmbedded(t, Config{DataDir: dir}, nil)
	if second.Addr() != nil {
		t.Fatal("unexpected listener")
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		cfg  Config
		want string // "" for no error, else a part of it
	}{
		{"an embedded server in a dir yet to be made", Config{DataDir: filepath.Join(dir, "a", "b")}, ""},
		{"an embedded server's data dir under a file", Config{DataDir: filepath.Join(file, "nats")}, "nats.data_dir " + filepath.Join(file, "nats") + ": not a directory"},
		{"an embedded server's data dir is a file", Config{DataDir: file}, "nats.data_dir " + file + ": not a directory"},
		{"the operator's listen password file is missing", Config{DataDir: dir, Listen: "127.0.0.1:0", ListenPasswordFile: missing}, "nats.listen_password_file: open " + missing},
		{"an external NATS with its password file", Config{URL: "nats://n:4222", User: "u", PasswordFile: pw}, ""},
		{"an external NATS without its password file", Config{URL: "nats://n:4222", User: "u", PasswordFile: missing}, "nats.password_file: open " + missing},
		{"an external NATS with an empty password file", Config{URL: "nats://n:4222", User: "u", PasswordFile: file}, "is empty"},
		{"an external NATS without its creds file", Config{URL: "nats://n:4222", CredsFile: missing}, "nats.creds_file: open " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckFiles()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("CheckFiles() = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("CheckFiles made the data dir (%v)", err)
	}
}

// TestALockHeldByAnotherProcess runs this test binary again as the holder
// (lockHelperEnv), so the lock and the pid are another process's.
func TestALockHeldByAnotherProcess(t *testing.T) {
	if dir := os.Getenv(lockHelperEnv); dir != "" {
		holdLock(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestALockHeldByAnotherProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // on a failure: the helper lets go at EOF
		stdin.Close()
		_ = cmd.Wait()
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}

	_, err = StartEmbedded(Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	want := "nats.data_dir " + dir + " is in use by another bridge (pid " + strconv.Itoa(cmd.Process.Pid)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("start = %v, want it to begin %q", err, want)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	// The holder is gone (its lock with it, however it ended): this one
	// starts.
	startEmbedded(t, Config{DataDir: dir}, nil)
}

// lockHelperEnv names the data dir the helper process locks.
const lockHelperEnv = "NATSCONN_TEST_LOCK_HELPER"

// holdLock takes dir's lock, says so on stdout and holds it until stdin
// ends.
func holdLock(dir string) {
	l, err := lockDataDir(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	l.release()
}

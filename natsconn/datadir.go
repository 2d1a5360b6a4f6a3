package natsconn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFileName is the lock file in the data dir: held (flock) by the
// bridge whose embedded server uses the store, with its pid and host name
// inside.
const lockFileName = "bridge.lock"

// errLocked is what tryLock returns when another open file holds the
// lock.
var errLocked = errors.New("locked")

// prepareDataDir makes the data dir and proves it writable before the
// server starts. nats-server reports a store it cannot write only as a
// line of its log and a server that never becomes ready; here the
// setting, the directory and the cause are named: a file where the
// directory should be, a read-only volume, a volume owned by another
// user.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return dataDirError(dir, err)
	}
	return probeWritable(dir)
}

// checkDataDir is prepareDataDir for bridge config check: it creates
// nothing that stays. A dir that does not exist yet must be creatable in
// its nearest existing parent.
func checkDataDir(dir string) error {
	d := dir
	for {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return dataDirError(dir, syscall.ENOTDIR)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return dataDirError(dir, err)
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	err := probeWritable(d)
	if err != nil && d != dir {
		return fmt.Errorf("nats.data_dir %s cannot be created in %s: %w", dir, d, errors.Unwrap(err))
	}
	return err
}

// probeWritable writes and removes a file in dir and in the JetStream
// store under it, if there is one yet (a volume from an older image may
// hold a store owned by another user in a dir this one owns).
func probeWritable(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "jetstream")} {
		if d != dir {
			if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		f, err := os.CreateTemp(d, ".write-test-*")
		if err != nil {
			return dataDirError(d, err)
		}
		f.Close()
		if err := os.Remove(f.Name()); err != nil {
			return dataDirError(d, err)
		}
	}
	return nil
}

// dataDirError names the setting and the directory with the system's
// reason alone ("permission denied", "read-only file system", "not a
// directory"), which is what the operator can act on.
func dataDirError(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("nats.data_dir %s: %w (the bridge runs as uid %d; the directory must be writable by it)", dir, err, os.Getuid())
	}
	return fmt.Errorf("nats.data_dir %s: %w", dir, err)
}

// dirLock holds the data dir's lock file, so that a second bridge on the
// same store is refused: two nats-servers on one JetStream store each
// write its files as if alone, and lose or corrupt jobs.
type dirLock struct{ f *os.File }

// lockDataDir takes the lock file of dir and writes this process's pid
// and host name in it. It fails at once, naming the holder's pid, when another process
// (or another server of this process) holds it. The lock is the flock of
// the open file, so the kernel releases it when the process ends however
// it ends: a crash leaves no stale lock, only a stale pid in the file,
// which the next holder overwrites.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, dataDirError(dir, err)
	}
	if err := tryLock(f); err != nil {
		holder := lockHolder(path)
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("nats.data_dir %s is in use by another bridge (%s, lock %s): two servers on one JetStream store corrupt it; "+
				"stop that one, or give this one its own nats.data_dir", dir, holder, path)
		}
		return nil, fmt.Errorf("nats.data_dir %s: lock %s: %w", dir, path, err)
	}
	// The host too: two containers sharing a volume may well both be
	// pid 1.
	host, _ := os.Hostname()
	content := []byte(strconv.Itoa(os.Getpid()) + "\n" + host + "\n")
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(content, 0)
	}
	if err != nil {
		f.Close()
		return nil, dataDirError(dir, err)
	}
	return &dirLock{f: f}, nil
}

// lockHolder describes the process whose pid and host the lock file
// holds: "pid 42 on host a1b2".
func lockHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "pid unknown"
	}
	lines := strings.Fields(string(b))
	switch len(lines) {
	case 0:
		return "pid unknown" // it has just taken the lock and not written yet
	case 1:
		return "pid " + lines[0]
	}
	return "pid " + lines[0] + " on host " + lines[1]
}

// release gives the lock up (closing the file releases the flock). The
// file stays: removing it would race with a process about to lock it.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

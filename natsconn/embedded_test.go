package natsconn

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startEmbedded starts an embedded server for c, logging into log (nil:
// discarded), and stops it at cleanup.
func startEmbedded(t *testing.T, c Config, log *bytes.Buffer) *Embedded {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, nil))
	}
	e, err := StartEmbedded(c, logger)
	if err != nil {
		t.Fatalf("start embedded: %v", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// jetStreamWorks fails the test unless nc can use JetStream.
func jetStreamWorks(t *testing.T, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("jetstream account info: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestEmbeddedIsInProcessOnlyByDefault(t *testing.T) {
	c := Config{DataDir: t.TempDir()}
	e := startEmbedded(t, c, nil)
	if addr := e.Addr(); addr != nil {
		t.Fatalf("the server listens on %s, want no port at all", addr)
	}
	nc, err := Connect(c, e, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("in-process connect: %v", err)
	}
	defer nc.Close()
	jetStreamWorks(t, nc)
	if _, err := os.Stat(filepath.Join(c.DataDir, passwordFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a password file was made for a server that does not listen: %v", err)
	}
	if _, err := Dial(t.Context(), c, "", "test"); err == nil || !strings.Contains(err.Error(), "nats.listen") {
		t.Fatalf("Dial = %v, want an error saying the server does not listen", err)
	}
}

func TestEmbeddedListenRequiresThePassword(t *testing.T) {
	var log bytes.Buffer
	c := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}
	e := startEmbedded(t, c, &log)
	url := e.ClientURL()
	path := filepath.Join(c.DataDir, passwordFileName)
	pw := readFile(t, path)

	tests := []struct {
		name    string
		opts    []nats.Option
		wantErr error
	}{
		{"without credentials the server refuses", nil, nats.ErrAuthorization},
		{"a wrong password is refused", []nats.Option{nats.UserInfo(ListenUser, "not-the-password")}, nats.ErrAuthorization},
		{"the right password as another user is refused", []nats.Option{nats.UserInfo("admin", pw)}, nats.ErrAuthorization},
		{"the generated password is accepted", []nats.Option{nats.UserInfo(ListenUser, pw)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(url, tt.opts...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("connect = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				defer nc.Close()
				jetStreamWorks(t, nc)
			}
		})
	}

	t.Run("the bridge's in-process connection logs in by itself", func(t *testing.T) {
		nc, err := Connect(c, e, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		jetStreamWorks(t, nc)
	})
	t.Run("a command with the same config logs in from the file", func(t *testing.T) {
		nc, err := Dial(t.Context(), c, url, "test")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		jetStreamWorks(t, nc)
	})
	t.Run("the password is 32 random bytes in a 0600 file and never logged", func(t *testing.T) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("password file mode %s, want -rw-------", fi.Mode().Perm())
		}
		if len(pw) != 43 {
			t.Errorf("password of %d characters, want 43 (32 bytes in base64url)", len(pw))
		}
		if strings.Contains(log.String(), pw) {
			t.Errorf("the log shows the password:\n%s", log.String())
		}
		if !strings.Contains(log.String(), path) {
			t.Errorf("the log does not name the password file:\n%s", log.String())
		}
		// The server holds a bcrypt hash of it (password.go), so it has
		// no plaintext password to warn about.
		if strings.Contains(log.String(), "Plaintext passwords") {
			t.Errorf("the server holds the password in plain text:\n%s", log.String())
		}
	})
	t.Run("a restart keeps the password", func(t *testing.T) {
		e.Stop()
		e2 := startEmbedded(t, c, nil)
		if got := readFile(t, path); got != pw {
			t.Fatal("the password changed over a restart")
		}
		nc, err := nats.Connect(e2.ClientURL(), nats.UserInfo(ListenUser, pw))
		if err != nil {
			t.Fatalf("connect after restart: %v", err)
		}
		nc.Close()
	})
}

func TestEmbeddedWithTheOperatorsPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "nats-password")
	c := Config{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0", ListenPasswordFile: pwFile}

	t.Run("a file that is not there stops the start and is named", func(t *testing.T) {
		_, err := StartEmbedded(c, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), pwFile) || !strings.Contains(err.Error(), "nats.listen_password_file") {
			t.Fatalf("start = %v, want an error naming the setting and the file", err)
		}
	})

	if err := os.WriteFile(pwFile, []byte("operator-chosen-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startEmbedded(t, c, nil)
	if _, err := os.Stat(filepath.Join(c.DataDir, passwordFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a password was generated although the operator gave one: %v", err)
	}
	nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(ListenUser, "operator-chosen-password"))
	if err != nil {
		t.Fatalf("connect with the operator's password: %v", err)
	}
	nc.Close()

	// The same server seen as an external NATS with user and password:
	// the settings nats.user and nats.password_file.
	ext := Config{URL: e.ClientURL(), User: ListenUser, PasswordFile: pwFile}
	nc, err = Dial(t.Context(), ext, "", "test")
	if err != nil {
		t.Fatalf("dial with nats.user and nats.password_file: %v", err)
	}
	nc.Close()
	nc, err = Connect(ext, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("connect with nats.user and nats.password_file: %v", err)
	}
	nc.Close()
	wrong := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrong, []byte("guess"), 0o600); err != nil {
		t.Fatal(err)
	}
	ext.PasswordFile = wrong
	if _, err := Dial(t.Context(), ext, "", "test"); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("dial with a wrong password = %v, want %v", err, nats.ErrAuthorization)
	}
}

func TestAnEmptyPasswordFileIsRefused(t *testing.T) {
	c := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}
	path := filepath.Join(c.DataDir, passwordFileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := StartEmbedded(c, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("start = %v, want the empty file named", err)
	}
}

func TestGeneratePasswordKeepsAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", passwordFileName)
	first, err := generatePassword(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := generatePassword(path)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("a second generation replaced the password")
	}
	if s := slogText(slog.Any("password", first)); strings.Contains(s, string(first)) {
		t.Fatalf("a logged password shows: %s", s)
	}
}

func slogText(a slog.Attr) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", a)
	return b.String()
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"the defaults", Config{DataDir: "data/nats"}, ""},
		{"a user with a password file", Config{URL: "nats://n:4222", User: "bridge", PasswordFile: "/run/secrets/nats"}, ""},
		{"a user without a password file", Config{URL: "nats://n:4222", User: "bridge"}, "nats.password_file"},
		{"a password file without a user", Config{URL: "nats://n:4222", PasswordFile: "/p"}, "nats.user"},
		{"a creds file and a user", Config{URL: "nats://n:4222", CredsFile: "/c", User: "u", PasswordFile: "/p"}, "nats.creds_file"},
		{"a listen address without a port", Config{Listen: "127.0.0.1"}, "nats.listen"},
		{"a listen port out of range", Config{Listen: "127.0.0.1:70000"}, "nats.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

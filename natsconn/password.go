package natsconn

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"
)

// secret is a password that prints as a placeholder, so that no log line
// or %v of a struct can show it.
type secret string

func (secret) String() string       { return "[redacted]" }
func (secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// passwordBytes is the generated password's entropy: 32 bytes, 43
// characters in base64url.
const passwordBytes = 32

// listenPassword is the password the embedded server requires on its
// listen address. The operator's file (nats.listen_password_file) must
// exist: a secret not mounted yet must not turn into a new password. The
// default file in the data dir is generated on the first start and
// re-used after.
func listenPassword(c Config, log *slog.Logger) (secret, error) {
	path := c.ListenPasswordPath()
	if c.ListenPasswordFile != "" {
		return readPassword(path, "nats.listen_password_file")
	}
	pw, err := readPassword(path, "embedded nats password")
	if !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			warnIfShared(path, log)
		}
		return pw, err
	}
	pw, err = generatePassword(path)
	if err != nil {
		return "", err
	}
	log.Info("embedded nats password generated", "password_file", path)
	return pw, nil
}

// generatePassword writes a new random password to path, which must not
// exist: O_EXCL, so a password is never replaced (clients hold it), and
// mode 0600, so only the bridge's user reads it. If another process made
// the file first, its password is the one.
func generatePassword(path string) (secret, error) {
	raw := make([]byte, passwordBytes)
	_, _ = rand.Read(raw) // crypto/rand.Read does not fail (it crashes the program instead)
	pw := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("embedded nats password: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readPassword(path, "embedded nats password")
	}
	if err != nil {
		return "", fmt.Errorf("embedded nats password: %w", err)
	}
	_, err = f.WriteString(pw + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Leave no empty or partial file behind to be read as the password.
		_ = os.Remove(path)
		return "", fmt.Errorf("embedded nats password: write %s: %w", path, err)
	}
	return secret(pw), nil
}

// readPassword reads a password file, trimmed. what names the setting in
// errors; the errors name the file, never its content.
func readPassword(path, what string) (secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("%s: %s is empty (delete it to have a new password generated, or write one)", what, path)
	}
	return secret(pw), nil
}

// warnIfShared warns when the generated password file has been opened
// to other users since it was made 0600.
func warnIfShared(path string, log *slog.Logger) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("embedded nats password file is readable by other users; chmod 600 it", "password_file", path,
			"mode", fi.Mode().Perm().String())
	}
}

// credentials is how a client logs in: nats.creds_file, else nats.user
// with nats.password_file, else, for the embedded server that listens, as
// ListenUser with the password file (which the running bridge made). nil
// when none applies.
func (c Config) credentials() (nats.Option, error) {
	switch {
	case c.CredsFile != "":
		return nats.UserCredentials(c.CredsFile), nil
	case c.User != "":
		pw, err := readPassword(c.PasswordFile, "nats.password_file")
		if err != nil {
			return nil, err
		}
		return nats.UserInfo(c.User, string(pw)), nil
	case c.Embedded() && c.Listen != "":
		pw, err := readPassword(c.ListenPasswordPath(), "the embedded server's password (nats.listen_password_file, default <nats.data_dir>/"+passwordFileName+")")
		if err != nil {
			return nil, fmt.Errorf("%w; run with the bridge's own config, on its host, after it started with nats.listen set", err)
		}
		return nats.UserInfo(ListenUser, string(pw)), nil
	}
	return nil, nil
}

// passwordHash is what the embedded server is given for pw: a bcrypt hash,
// which nats-server compares a client's password with (server/auth.go,
// comparePasswords), so that the server's options never hold the password
// and it does not warn "Plaintext passwords detected" at every start. The
// generated password has 256 random bits, where bcrypt's work factor adds
// nothing, so it gets the lowest (each client's login costs a bcrypt
// compare: about a millisecond instead of tens); an operator's password
// file may hold a weaker one and gets bcrypt's default. bcrypt takes at
// most 72 bytes: a longer password from the operator is given as it is
// (the server then warns).
func passwordHash(c Config, pw secret) (string, error) {
	if len(pw) > 72 {
		return string(pw), nil
	}
	cost := bcrypt.MinCost
	if c.ListenPasswordFile != "" {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("embedded nats password: %w", err)
	}
	return string(h), nil
}

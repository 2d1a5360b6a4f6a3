package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Config says where the bridge's JetStream is and how to log in to it:
// the nats.* settings of the bridge's configuration (cmd/bridge adds the
// NATS intake's own beside them).
type Config struct {
	// URL is an external NATS (a cluster: comma-separated URLs). Empty:
	// the bridge embeds a nats-server with JetStream on DataDir.
	URL string `koanf:"url"`
	// CredsFile is a NATS credentials file (JWT + nkey) for URL.
	CredsFile string `koanf:"creds_file"`
	// User and PasswordFile log in to URL with a user name and the
	// password in the file (trimmed), for a NATS that authenticates by
	// user and password; the other way is CredsFile.
	User         string `koanf:"user"`
	PasswordFile string `koanf:"password_file"`
	// DataDir is the embedded server's JetStream store.
	DataDir string `koanf:"data_dir"`
	// Listen is the embedded server's client address, where internal
	// services and the bridge's commands reach it. Empty (the default)
	// serves the bridge in-process only: nothing else can reach the job
	// stream. When set, every client must log in as ListenUser.
	Listen string `koanf:"listen"`
	// ListenPasswordFile holds ListenUser's password on Listen. Empty:
	// <data_dir>/client.password, generated on the first start that
	// listens. The bridge's commands read the same file through the same
	// config.
	ListenPasswordFile string `koanf:"listen_password_file"`
}

// ListenUser is the one user of the embedded server when it listens: the
// bridge, its commands and whoever else the operator gives the password.
const ListenUser = "bridge"

// passwordFileName is the generated password's file in the data dir.
const passwordFileName = "client.password"

// ListenPasswordPath is the file that holds the embedded server's
// password: nats.listen_password_file, else client.password in the data
// dir.
func (c Config) ListenPasswordPath() string {
	if c.ListenPasswordFile != "" {
		return c.ListenPasswordFile
	}
	return filepath.Join(c.DataDir, passwordFileName)
}

// Validate reports the settings that cannot work together, naming them.
func (c Config) Validate() error {
	var errs []error
	if (c.User == "") != (c.PasswordFile == "") {
		errs = append(errs, errors.New("nats.user and nats.password_file: set both or neither"))
	}
	if c.User != "" && c.CredsFile != "" {
		errs = append(errs, errors.New("nats.creds_file and nats.user: set one way to log in, not both"))
	}
	if c.Listen != "" {
		if _, _, err := splitListen(c.Listen); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Embedded reports whether the bridge runs its own nats-server.
func (c Config) Embedded() bool { return c.URL == "" }

// clientURL is where a command finds the running bridge's JetStream: the
// flag, then nats.url, then the bridge's embedded server at nats.listen.
// The embedded server's data dir cannot be opened instead: the bridge
// holds it.
func (c Config) clientURL(flag string) (string, error) {
	switch {
	case flag != "":
		return flag, nil
	case c.URL != "":
		return c.URL, nil
	case c.Listen != "":
		return "nats://" + c.Listen, nil
	}
	return "", errors.New("no NATS to connect to: nats.url is empty and the embedded server does not listen " +
		"(nats.listen is empty); set nats.listen on the bridge, or give --nats-url")
}

// redact hides the passwords of a comma-separated URL list, so that an
// error can name the server without the secret a URL may carry.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// CheckFiles reads the files the bridge reads at start, for bridge config
// check: with an external NATS, nats.creds_file and nats.password_file;
// with the embedded one, nats.listen_password_file when given, and the
// data dir, which must be a directory the bridge can write (or create).
// It creates nothing that stays.
func (c Config) CheckFiles() error {
	var errs []error
	if c.Embedded() {
		if err := checkDataDir(c.DataDir); err != nil {
			errs = append(errs, err)
		}
		if c.Listen != "" && c.ListenPasswordFile != "" {
			if _, err := readPassword(c.ListenPasswordFile, "nats.listen_password_file"); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if c.CredsFile != "" {
		if _, err := os.ReadFile(c.CredsFile); err != nil {
			errs = append(errs, fmt.Errorf("nats.creds_file: %w", err))
		}
	}
	if c.User != "" && c.PasswordFile != "" {
		if _, err := readPassword(c.PasswordFile, "nats.password_file"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

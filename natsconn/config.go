package natsconn

import (
	"errors"
	"net/url"
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
	// DataDir is the embedded server's JetStream store.
	DataDir string `koanf:"data_dir"`
	// Listen is the embedded server's client address, where internal
	// services and the bridge's commands reach it; empty serves the
	// bridge in-process only.
	Listen string `koanf:"listen"`
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

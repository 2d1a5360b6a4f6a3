package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/notify"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanner"
)

// envPrefix starts every environment variable the bridge reads for its
// own settings. A double underscore separates levels, because single
// underscores occur inside setting names: BRIDGE_HSS__CALLS_PER_MINUTE is
// hss.calls_per_minute.
const envPrefix = "BRIDGE_"

// Config is the whole configuration: the YAML file, then BRIDGE_*
// variables, then flags, each over the defaults of Default.
type Config struct {
	HTTP HTTPConfig `koanf:"http"`
	NATS NATSConfig `koanf:"nats"`
	// Queue is the JetStream stream, dead-letter stream and batching
	// consumer (see the queue package for each setting).
	Queue queue.Config `koanf:"queue"`
	// HSS is how to reach HSS, the default target and the rate limit
	// (see the scanner package for each setting).
	HSS scanner.Config `koanf:"hss"`
	// Lifecycle is where every image's lifecycle record and its result
	// event are stored (see the lifecycle package).
	Lifecycle LifecycleConfig `koanf:"lifecycle"`
	Log       LogConfig       `koanf:"log"`
	// DryRun replaces HSS by the in-process fake (hsstest), which checks
	// and logs every request. Never on unless asked for.
	DryRun bool `koanf:"dry_run"`
	// Debug switches on Go's profiles (net/http/pprof) on the admin
	// listener.
	Debug DebugConfig `koanf:"debug"`
	// Receivers are the webhook endpoints (also BRIDGE_RECEIVERS as JSON).
	Receivers []handlers.ReceiverConfig `koanf:"receivers"`
	// Admin is the admin listener (/metrics, pprof) and the admin HTTP
	// API on it (dead letters), which is off without a token.
	Admin AdminConfig `koanf:"admin"`
	// Routes map pushes to SWR names and HSS targets (first match wins).
	Routes []handlers.RouteConfig `koanf:"routes"`

	// Notify is the outbound result webhooks (package notify,
	// docs/notifications.md); none by default.
	Notify notify.Config `koanf:"notify"`
}

// HTTPConfig is the webhook listener: /webhooks/*, /healthz and /readyz,
// nothing else (the rest is on the admin listener, AdminConfig.Listen).
type HTTPConfig struct {
	Listen       string `koanf:"listen" validate:"required"`
	MaxBodyBytes int64  `koanf:"max_body_bytes" validate:"min=1024"`
	MaxInFlight  int    `koanf:"max_in_flight" validate:"min=1"` // see handlers.Config
	// MaxConnections bounds the connections the webhook listener holds
	// open, idle keep-alive ones and ones still sending their headers
	// included. MaxInFlight bounds the requests being handled, but not the
	// connections behind them: without this, a sender that opens
	// connections and sends nothing (or a byte at a time) makes the
	// bridge hold a goroutine and its buffers for each, up to read_timeout,
	// for as many as it cares to open. Past the bound a new connection
	// waits in the kernel's accept queue until one closes. The default,
	// 1024, is four times max_in_flight: room for the registries'
	// keep-alive connections and the probes. A held connection costs a
	// goroutine and its read and write buffers, some 10-20 KiB, so the
	// default bounds that to about 20 MiB.
	MaxConnections int           `koanf:"max_connections" validate:"min=1"`
	PublishTimeout time.Duration `koanf:"publish_timeout" validate:"min=1ms"`
	ReadTimeout    time.Duration `koanf:"read_timeout" validate:"min=1s"`
	// ShutdownGrace bounds the whole shutdown: stop intake, finish
	// in-flight HSS calls, Nak the rest, drain NATS.
	ShutdownGrace time.Duration `koanf:"shutdown_grace" validate:"min=1ms"`
}

// NATSConfig is the nats block: where JetStream is and how to log in to
// it (package natsconn), and the NATS intake.
type NATSConfig struct {
	natsconn.Config `koanf:",squash"`
	// Intake takes push events from internal services over NATS.
	Intake handlers.NATSIntakeConfig `koanf:"intake"`
}

// AdminConfig is the admin listener and the admin HTTP API on it.
//
// The listener serves /metrics (no credentials: it is for Prometheus),
// the admin API and, with debug.pprof, Go's profiles. It is a listener of
// its own so that none of that is reachable where webhooks are: the
// webhook port faces the registries, often the internet, while this one
// stays on loopback (the default) or inside the cluster (the Helm chart
// sets ":9090" behind a NetworkPolicy).
//
// The admin API (/admin/dlq: list, show, redrive, purge dead letters; see
// docs/dead-letters.md) is off, every /admin path 404, unless a token is
// set.
type AdminConfig struct {
	// Listen is the admin listener's address; empty turns the listener,
	// and with it /metrics, the admin API and pprof, off.
	Listen string `koanf:"listen"`
	// Token is an accepted bearer token (BRIDGE_ADMIN__TOKEN), at least
	// minAdminToken (32) bytes.
	Token string `koanf:"token"`
	// TokenFile holds accepted tokens, one per line (blank lines and lines
	// starting with # ignored), e.g. a mounted secret; each line at least
	// minAdminToken bytes. Several lines allow rotation: add the new token,
	// switch the clients, remove the old one.
	TokenFile string `koanf:"token_file"`
}

// DebugConfig holds the profiling switch, off by default.
type DebugConfig struct {
	// PProf serves net/http/pprof under /debug/pprof on the admin
	// listener (never on the webhook one). Profiles show request contents
	// and a CPU profile costs CPU while it runs: switch it on to profile,
	// then off.
	PProf bool `koanf:"pprof"`
}

// LogConfig sets slog.
type LogConfig struct {
	Level  string `koanf:"level" validate:"oneof=debug info warn error"`
	Format string `koanf:"format" validate:"oneof=json text"`
}

// Default holds every default the README documents.
func Default() Config {
	hc := handlers.DefaultConfig()
	return Config{
		HTTP: HTTPConfig{Listen: ":8080", MaxBodyBytes: hc.MaxBodyBytes, MaxInFlight: hc.MaxInFlight, MaxConnections: 1024,
			PublishTimeout: hc.PublishTimeout, ReadTimeout: 15 * time.Second, ShutdownGrace: 25 * time.Second},
		NATS:      NATSConfig{Config: natsconn.Config{DataDir: "data/nats"}},
		Queue:     queue.Config{}, // zero: queue.Open applies its defaults, derived ones included
		HSS:       scanner.DefaultConfig(),
		Lifecycle: DefaultLifecycle(),
		Log:       LogConfig{Level: "info", Format: "json"},
		Admin:     AdminConfig{Listen: "127.0.0.1:9090"},
	}
}

// Load reads path (may be empty) and the environment over the
// defaults. environ is os.Environ in production, a fixed list in tests.
// Every key must be a setting: an unknown key in the file (at any depth,
// in the receivers' and routes' items too) or an unknown BRIDGE_*
// variable is an error that names it as written and the setting it was
// most likely meant to be, as is a value that is not of its setting's
// type. The error joins one line per problem.
func Load(path string, environ func() []string) (Config, error) {
	l, err := read(path, environ)
	if err != nil {
		return Config{}, err
	}
	if len(l.problems) > 0 {
		return Config{}, joinLines(l.problems)
	}
	return l.cfg, nil
}

// LoadChecked is Load, then override (the flags a command set; may be
// nil), then Validate: what every command of the bridge runs first. The
// error lists every problem, the unknown keys and the bad values
// together, one line each, before anything is started.
func LoadChecked(path string, environ func() []string, override func(*Config)) (Config, error) {
	l, err := read(path, environ)
	if err != nil {
		return Config{}, err
	}
	if override != nil {
		override(&l.cfg)
	}
	if lines := append(l.problems, l.cfg.problems()...); len(lines) > 0 {
		return Config{}, invalid(lines)
	}
	return l.cfg, nil
}

// invalid is the error of a configuration with problems.
func invalid(lines []string) error {
	s := "s"
	if len(lines) == 1 {
		s = ""
	}
	return fmt.Errorf("invalid configuration, %d problem%s:\n%w", len(lines), s, joinLines(lines))
}

func joinLines(lines []string) error {
	errs := make([]error, len(lines))
	for i, l := range lines {
		errs[i] = errors.New(l)
	}
	return errors.Join(errs...)
}

// Validate checks every setting, the receivers and the routes (with the
// checks the webhook server runs, handlers.CheckConfig: secret files
// readable, templates that name their variables), without starting
// anything. The error joins one line per problem, each naming the
// setting, its variable, the rule and the value.
func (c Config) Validate() error {
	if lines := c.problems(); len(lines) > 0 {
		return joinLines(lines)
	}
	return nil
}

// PresenceTimeouts maps each receiver's name to its presence_timeout
// (0 left out: the scanner's default applies), for scanner.Options.
func (c Config) PresenceTimeouts() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, r := range c.Receivers {
		if r.PresenceTimeout > 0 {
			out[r.Name] = r.PresenceTimeout
		}
	}
	return out
}

// FilledReceivers fills each receiver's empty target fields from the hss
// defaults, so a single-tenant setup names its project once.
func (c Config) FilledReceivers() ([]handlers.ReceiverConfig, error) {
	out := make([]handlers.ReceiverConfig, len(c.Receivers))
	for i, r := range c.Receivers {
		r.Target = c.HSS.FillTarget(r.Target)
		out[i] = r
	}
	if len(out) == 0 {
		return nil, errors.New("no receivers configured: add at least one under receivers (see README)")
	}
	return out, nil
}

package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/natsconn"
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
	Log LogConfig      `koanf:"log"`
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
	PublishTimeout time.Duration `koanf:"publish_timeout" validate:"min=1000000"`
	ReadTimeout    time.Duration `koanf:"read_timeout" validate:"min=1000000"`
	// ShutdownGrace bounds the whole shutdown: stop intake, finish
	// in-flight HSS calls, Nak the rest, drain NATS.
	ShutdownGrace time.Duration `koanf:"shutdown_grace" validate:"min=1000000"`
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
		NATS:  NATSConfig{Config: natsconn.Config{DataDir: "data/nats"}},
		Queue: queue.Config{}, // zero: queue.Open applies its defaults, derived ones included
		HSS:   scanner.DefaultConfig(),
		Log:   LogConfig{Level: "info", Format: "json"},
		Admin: AdminConfig{Listen: "127.0.0.1:9090"},
	}
}

// Load reads path (may be empty) and the environment over the
// defaults. environ is os.Environ in production, a fixed list in tests.
func Load(path string, environ func() []string) (Config, error) {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	var envErr error
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: environ,
		TransformFunc: func(key, v string) (string, any) {
			key = strings.ToLower(strings.TrimPrefix(key, envPrefix))
			if key == "receivers" {
				// A list of structs cannot be spelled as flat variables:
				// BRIDGE_RECEIVERS holds the whole list as JSON (or YAML).
				m, err := yaml.Parser().Unmarshal([]byte("r: " + v))
				if err != nil {
					envErr = fmt.Errorf("BRIDGE_RECEIVERS: %w", err)
					return "", nil
				}
				return "receivers", m["r"]
			}
			return strings.ReplaceAll(key, "__", "."), v
		},
	}), nil)
	if err != nil {
		return Config{}, fmt.Errorf("read environment: %w", err)
	}
	if envErr != nil {
		return Config{}, envErr
	}
	cfg := Default()
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// LoadChecked is Load, then override (the flags a command set; may be
// nil), then Validate: what every command of the bridge runs first.
func LoadChecked(path string, environ func() []string, override func(*Config)) (Config, error) {
	cfg, err := Load(path, environ)
	if err != nil {
		return Config{}, err
	}
	if override != nil {
		override(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// validate reports fields by their koanf names, as the user writes them.
var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		return name
	})
	return v
}()

// Validate checks every setting and names each bad one.
func (c Config) Validate() error {
	if err := c.Queue.WithDefaults().Validate(); err != nil {
		return err
	}
	if err := c.NATS.Config.Validate(); err != nil {
		return err
	}
	if _, port, _ := net.SplitHostPort(c.Admin.Listen); c.Admin.Listen == c.HTTP.Listen && port != "" && port != "0" {
		return fmt.Errorf("admin.listen: %q is http.listen too; the admin listener needs an address of its own, away from the webhooks", c.Admin.Listen)
	}
	err := validate.Struct(c)
	var verrs validator.ValidationErrors
	if errors.As(err, &verrs) {
		msgs := make([]error, 0, len(verrs))
		for _, fe := range verrs {
			msgs = append(msgs, fmt.Errorf("%s: %q fails %s %s", settingName(fe.Namespace()), fmt.Sprint(fe.Value()), fe.Tag(), fe.Param()))
		}
		return errors.Join(msgs...)
	}
	return err
}

// settingName turns "Config.http.listen" into "http.listen".
func settingName(ns string) string {
	_, name, _ := strings.Cut(ns, ".")
	return name
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

package sources

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Kinds of source.
const (
	// KindRegistry polls any OCI distribution API registry (catalog, tag
	// lists, manifest HEADs).
	KindRegistry = "registry"
	// KindSWR polls Huawei Cloud SWR (basic edition) through its own API
	// (package swrclient): repositories by update time, tags with their
	// digests, no manifest HEAD.
	KindSWR = "swr"
)

// Config is one source: a registry the bridge polls for pushes that send
// no webhook, or, with SweepFor, a sweep beside a webhook receiver that
// finds the pushes its webhook lost.
type Config struct {
	// Name names the source in metrics, keys and `bridge sources`; 1-64
	// letters, digits, '-' or '_'. It is the job's receiver unless
	// SweepFor is set, so it must not be a receiver's name.
	Name string `koanf:"name" json:"name"`
	// Kind is registry (an OCI distribution API) or swr (Huawei SWR's
	// own API; the swr section).
	Kind string `koanf:"kind" json:"kind" validate:"required,oneof=registry swr"`
	// Schedule says when a round runs.
	Schedule Schedule `koanf:"schedule" json:"schedule"`
	// SWR is where and as whom a kind swr source polls.
	SWR SWR `koanf:"swr" json:"swr,omitzero"`
	// URL is the registry's base URL, https://host[:port]. http only
	// with Insecure. Kind registry only.
	URL string `koanf:"url" json:"url"`
	// Insecure allows an http:// URL: credentials then travel in clear.
	Insecure bool `koanf:"insecure" json:"insecure,omitempty"`
	// CAFile is a PEM file of CA certificates the registry's TLS
	// certificate is checked against, instead of the system's.
	CAFile string `koanf:"ca_file" json:"ca_file,omitempty"`
	// Auth is how the bridge logs in to the registry.
	Auth Auth `koanf:"auth" json:"auth"`
	// Repositories limits the repositories polled, so a large registry is
	// not walked whole.
	Repositories Globs `koanf:"repositories" json:"repositories,omitzero"`
	// SweepFor names the webhook receiver this source sweeps for: its
	// jobs are that receiver's (target, defaults, routes, job ids), and
	// the images it finds that the webhook did not announce are counted
	// in scanbridge_sweep_found_total.
	SweepFor string `koanf:"sweep_for" json:"sweep_for,omitempty"`
	// Target, InstanceID, InstanceURL and DefaultNamespace are as a
	// receiver's (empty target fields take the hss defaults). Not with
	// SweepFor: the receiver's apply.
	Target           scanjob.Target `koanf:"target" json:"target,omitzero"`
	InstanceID       string         `koanf:"instance_id" json:"instance_id,omitempty"`
	InstanceURL      string         `koanf:"instance_url" json:"instance_url,omitempty"`
	DefaultNamespace string         `koanf:"default_namespace" json:"default_namespace,omitempty"`
	// Limits bound one round.
	Limits Limits `koanf:"limits" json:"limits,omitzero"`
}

// SWR is a kind swr source's account: region, endpoint, namespaces and
// AK/SK. Credentials left empty are the hss section's (filled by package
// config), and when that has none too, the HUAWEICLOUD_SDK_AK / _SK (or
// CLOUD_SDK_AK / _SK, or their *_FILE) variables, as hss reads them.
type SWR struct {
	// Region is the SWR region (default: hss.region), e.g. cn-north-4.
	Region string `koanf:"region" json:"region,omitempty"`
	// Endpoint overrides https://swr-api.{region}.myhuaweicloud.com.
	Endpoint string `koanf:"endpoint" json:"endpoint,omitempty"`
	// ProjectID, when set, is sent as X-Project-Id as the SDK sends it
	// (default: the target's project).
	ProjectID string `koanf:"project_id" json:"project_id,omitempty"`
	// Namespaces select SWR organizations by glob, as repositories
	// selects repositories; when every include is a plain name, only
	// those organizations are listed.
	Namespaces Globs `koanf:"namespaces" json:"namespaces,omitzero"`
	// AccessKey with SecretKey or, better, SecretKeyFile (a mounted
	// secret, read at each round); SecurityToken(File) for temporary
	// credentials.
	AccessKey         string `koanf:"access_key" json:"access_key,omitempty"`
	SecretKey         string `koanf:"secret_key" json:"-"`
	SecretKeyFile     string `koanf:"secret_key_file" json:"secret_key_file,omitempty"`
	SecurityToken     string `koanf:"security_token" json:"-"`
	SecurityTokenFile string `koanf:"security_token_file" json:"security_token_file,omitempty"`
	// CallsPerMinute paces this source's SWR calls; default
	// swrclient.DefaultCallsPerMinute (30; its doc says why).
	CallsPerMinute float64 `koanf:"calls_per_minute" json:"calls_per_minute,omitempty" validate:"omitempty,gt=0,lte=600"`
	// CredentialsFrom says where the credentials come from: "source"
	// (set here), "hss" (filled from the hss section) or "" (the
	// environment). Set by package config, not by the user.
	CredentialsFrom string `koanf:"-" json:"credentials_from,omitempty"`
}

// Schedule is when rounds run. Every is the interval (cron expressions
// are a later kind of schedule).
type Schedule struct {
	// Every is the time from the start of one round to the start of the
	// next; at least 10s. Default 5m; 1m for kind swr (DefaultEverySWR).
	Every time.Duration `koanf:"every" json:"every" validate:"omitempty,min=10s"`
}

// Auth methods of a source.
const (
	AuthNone         = "none"
	AuthBasic        = "basic"
	AuthBearer       = "bearer"
	AuthDockerConfig = "docker-config"
)

// Auth is the registry login. Secrets are given inline (in the file or
// BRIDGE_SOURCES) or, better, as files (mounted secrets); a file is read
// at each round, so a rotated secret is used without a restart.
type Auth struct {
	// Method is none (anonymous, the default), basic, bearer or
	// docker-config.
	Method string `koanf:"method" json:"method" validate:"omitempty,oneof=none basic bearer docker-config"`
	// User and Password (or PasswordFile) are the basic login; the
	// registry's token service exchanges them for a bearer token as
	// docker login does.
	User         string `koanf:"user" json:"user,omitempty"`
	Password     string `koanf:"password" json:"-"`
	PasswordFile string `koanf:"password_file" json:"password_file,omitempty"`
	// Token (or TokenFile) is a bearer token sent as is (a registry
	// access token, an identity token).
	Token     string `koanf:"token" json:"-"`
	TokenFile string `koanf:"token_file" json:"token_file,omitempty"`
	// DockerConfigFile is a docker config.json (e.g. a mounted
	// kubernetes.io/dockerconfigjson secret); the entry for the
	// registry's host is used.
	DockerConfigFile string `koanf:"docker_config_file" json:"docker_config_file,omitempty"`
}

// Globs select repositories by path.Match globs ('*' does not cross '/',
// as in routes' match.repository). A repository is polled when it
// matches an include (or there is none) and no exclude. When every
// include is a plain name, the catalog is not read at all.
type Globs struct {
	Include []string `koanf:"include" json:"include,omitempty"`
	Exclude []string `koanf:"exclude" json:"exclude,omitempty"`
}

// Limits bound the work and the time of one round.
type Limits struct {
	// PageSize is the n of catalog and tag list requests. Default 100.
	PageSize int `koanf:"page_size" json:"page_size,omitempty" validate:"omitempty,min=1,max=1000"`
	// MaxRepositories is how many repositories one round checks. A
	// larger registry is covered over several rounds: the next round goes
	// on after the last repository checked. Default 1000.
	MaxRepositories int `koanf:"max_repositories" json:"max_repositories,omitempty" validate:"omitempty,min=1,max=100000"`
	// MaxTags is how many tags of one repository are checked (the first
	// in the registry's order) and kept in its checkpoint. Default 1000.
	MaxTags int `koanf:"max_tags" json:"max_tags,omitempty" validate:"omitempty,min=1,max=2000"`
	// Concurrency is how many manifest HEADs are in flight at once.
	// Default 4.
	Concurrency int `koanf:"concurrency" json:"concurrency,omitempty" validate:"omitempty,min=1,max=32"`
	// RoundTimeout bounds a round; what it did not reach waits for the
	// next. Default and maximum: schedule.every.
	RoundTimeout time.Duration `koanf:"round_timeout" json:"round_timeout,omitempty" validate:"omitempty,min=1s"`
}

// Defaults.
const (
	DefaultEvery = 5 * time.Minute
	// DefaultEverySWR: an SWR round that finds nothing new costs one
	// call per page of repositories (1,000 a page), so polling every
	// minute keeps push → job under about a minute plus the round's own
	// time while spending at most a few of the 30 calls a minute
	// (swrclient.DefaultCallsPerMinute) on rounds with nothing to do.
	DefaultEverySWR        = time.Minute
	DefaultPageSize        = 100
	DefaultMaxRepositories = 1000
	DefaultMaxTags         = 1000
	DefaultConcurrency     = 4
)

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Kind == "" {
		c.Kind = KindRegistry
	}
	if c.Schedule.Every == 0 {
		c.Schedule.Every = DefaultEvery
		if c.Kind == KindSWR {
			c.Schedule.Every = DefaultEverySWR
		}
	}
	if c.Auth.Method == "" {
		c.Auth.Method = AuthNone
	}
	l := &c.Limits
	if l.PageSize == 0 {
		l.PageSize = DefaultPageSize
	}
	if l.MaxRepositories == 0 {
		l.MaxRepositories = DefaultMaxRepositories
	}
	if l.MaxTags == 0 {
		l.MaxTags = DefaultMaxTags
	}
	if l.Concurrency == 0 {
		l.Concurrency = DefaultConcurrency
	}
	if l.RoundTimeout == 0 || l.RoundTimeout > c.Schedule.Every {
		l.RoundTimeout = c.Schedule.Every
	}
	return c
}

var sourceName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Check reports what the validate tags cannot say, one error per
// problem, each starting with the setting inside the source ("url: ...").
// It reads the secret and CA files, as a round would. Target fields are
// checked by the caller (they take the hss defaults first).
func (c Config) Check() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !sourceName.MatchString(c.Name) {
		bad("name %q: use 1-64 letters, digits, '-' or '_'", c.Name)
	}
	switch c.Kind {
	case KindSWR:
		errs = append(errs, c.checkSWR()...)
	default:
		u, err := url.Parse(c.URL)
		switch {
		case c.URL == "":
			bad("url: is required, e.g. https://registry.example.com")
		case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
			bad("url %q: use scheme://host[:port] and nothing else (credentials go under auth)", c.URL)
		case u.Scheme == "http" && !c.Insecure:
			bad("url %q: http sends the registry credentials in clear; use https, or set insecure: true", c.URL)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("url %q: scheme %q: use https", c.URL, u.Scheme)
		}
		if c.CAFile != "" {
			if _, err := os.ReadFile(c.CAFile); err != nil {
				bad("ca_file: %v", err)
			}
		}
		for _, e := range c.Auth.check() {
			bad("auth.%v", e)
		}
	}
	for i, g := range c.Repositories.Include {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			bad("repositories.include[%d] %q: not a glob (path.Match syntax)", i, g)
		}
	}
	for i, g := range c.Repositories.Exclude {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			bad("repositories.exclude[%d] %q: not a glob (path.Match syntax)", i, g)
		}
	}
	if c.SweepFor != "" && (c.Target != (scanjob.Target{}) || c.InstanceID != "" || c.InstanceURL != "" || c.DefaultNamespace != "") {
		bad("sweep_for %q: the receiver's target, instance and default_namespace apply; remove them from the source", c.SweepFor)
	}
	if every := c.WithDefaults().Schedule.Every; c.Limits.RoundTimeout > every {
		bad("limits.round_timeout %s: must not exceed schedule.every (%s)", c.Limits.RoundTimeout, every)
	}
	return errs
}

// checkSWR checks a kind swr source: the registry settings unused, a
// region or an endpoint, the globs, and the credentials' files.
func (c Config) checkSWR() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for k, set := range map[string]bool{"url": c.URL != "", "insecure": c.Insecure, "ca_file": c.CAFile != "",
		"auth": c.Auth != (Auth{}) && c.Auth != (Auth{Method: AuthNone})} {
		if set {
			bad("%s: not used by kind swr (SWR is reached at swr.region or swr.endpoint and signed with AK/SK); remove it", k)
		}
	}
	s := c.SWR
	if s.Region == "" && s.Endpoint == "" {
		bad("swr.region: is required for kind swr (or hss.region), e.g. cn-north-4")
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" || u.RawQuery != "" || u.User != nil {
			bad("swr.endpoint %q: use https://host[:port]", s.Endpoint)
		}
	}
	for i, g := range s.Namespaces.Include {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			bad("swr.namespaces.include[%d] %q: not a glob (path.Match syntax)", i, g)
		}
	}
	for i, g := range s.Namespaces.Exclude {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			bad("swr.namespaces.exclude[%d] %q: not a glob (path.Match syntax)", i, g)
		}
	}
	if s.CredentialsFrom == "hss" {
		return errs // the hss section's, checked there
	}
	switch {
	case s.AccessKey == "" && (s.SecretKey != "" || s.SecretKeyFile != ""):
		bad("swr.access_key: is required with swr.secret_key_file")
	case s.AccessKey != "" && s.SecretKey == "" && s.SecretKeyFile == "":
		bad("swr.secret_key_file: swr.access_key needs its secret key (secret_key_file, or secret_key)")
	case s.SecretKey != "" && s.SecretKeyFile != "":
		bad("swr.secret_key_file: set secret_key or secret_key_file, not both")
	}
	for _, kf := range [...][2]string{{"secret_key_file", s.SecretKeyFile}, {"security_token_file", s.SecurityTokenFile}} {
		if kf[1] == "" {
			continue
		}
		if b, err := os.ReadFile(kf[1]); err != nil {
			bad("swr.%s: %v", kf[0], err)
		} else if strings.TrimSpace(string(b)) == "" {
			bad("swr.%s: %s is empty", kf[0], kf[1])
		}
	}
	return errs
}

func (a Auth) check() []error {
	var errs []error
	has := map[string]bool{"user": a.User != "", "password": a.Password != "", "password_file": a.PasswordFile != "",
		"token": a.Token != "", "token_file": a.TokenFile != "", "docker_config_file": a.DockerConfigFile != ""}
	allowed := map[string][]string{
		"": nil, AuthNone: nil,
		AuthBasic:        {"user", "password", "password_file"},
		AuthBearer:       {"token", "token_file"},
		AuthDockerConfig: {"docker_config_file"},
	}[a.Method]
	for _, k := range []string{"user", "password", "password_file", "token", "token_file", "docker_config_file"} {
		if has[k] && !contains(allowed, k) {
			method := a.Method
			if method == "" {
				method = AuthNone
			}
			errs = append(errs, fmt.Errorf("%s: not used by method %s; remove it", k, method))
		}
	}
	switch a.Method {
	case AuthBasic:
		if a.User == "" {
			errs = append(errs, errors.New("user: is required for method basic"))
		}
		if a.Password == "" && a.PasswordFile == "" {
			errs = append(errs, errors.New("password_file: method basic needs password_file (or password)"))
		}
		if a.Password != "" && a.PasswordFile != "" {
			errs = append(errs, errors.New("password_file: set password or password_file, not both"))
		}
	case AuthBearer:
		if a.Token == "" && a.TokenFile == "" {
			errs = append(errs, errors.New("token_file: method bearer needs token_file (or token)"))
		}
		if a.Token != "" && a.TokenFile != "" {
			errs = append(errs, errors.New("token_file: set token or token_file, not both"))
		}
	case AuthDockerConfig:
		if a.DockerConfigFile == "" {
			errs = append(errs, errors.New("docker_config_file: is required for method docker-config"))
		}
	}
	for _, kf := range [...][2]string{{"password_file", a.PasswordFile}, {"token_file", a.TokenFile}, {"docker_config_file", a.DockerConfigFile}} {
		k, f := kf[0], kf[1]
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", k, err))
		} else if strings.TrimSpace(string(b)) == "" {
			errs = append(errs, fmt.Errorf("%s: %s is empty", k, f))
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// ReceiverConfig is one webhook endpoint, POST /webhooks/{name}.
type ReceiverConfig struct {
	// Name is the path segment; letters, digits, '-' and '_'.
	Name string `koanf:"name" json:"name"`
	// Format is the sender's payload format, one of formats.Names().
	Format string `koanf:"format" json:"format"`
	// Auth says how the sender proves itself.
	Auth AuthConfig `koanf:"auth" json:"auth"`
	// Target is the HSS tenant its images are scanned in. Empty fields
	// take the deployment defaults (hss.region, hss.project_id, ...).
	Target scanjob.Target `koanf:"target" json:"target"`
	// InstanceID and InstanceURL name the SWR Enterprise Edition instance
	// for instance_image targets. InstanceURL defaults to the host the
	// payload names.
	InstanceID  string `koanf:"instance_id" json:"instance_id,omitempty"`
	InstanceURL string `koanf:"instance_url" json:"instance_url,omitempty"`
	// DefaultNamespace is used for repositories with a single path
	// segment (e.g. "alpine" on a plain distribution registry), which
	// have no SWR organization of their own.
	DefaultNamespace string `koanf:"default_namespace" json:"default_namespace,omitempty"`
	// MaxBodyBytes overrides http.max_body_bytes for this receiver, e.g.
	// lower for a sender known to send small events (0: the http
	// setting). For hmac and standard-webhooks it is what an
	// unauthenticated sender can make the bridge read.
	MaxBodyBytes int64 `koanf:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// MaxJobs bounds the events one body may hold: the tagged pushes and
	// the events passed over (each is a line in the answer). A body with
	// more is refused whole with 413 before anything is routed or stored.
	// 0: the default, 1000.
	MaxJobs int `koanf:"max_jobs" json:"max_jobs,omitempty"`
	// RateLimit bounds the authenticated requests per second.
	RateLimit RateLimitConfig `koanf:"rate_limit" json:"rate_limit,omitzero"`
	// PresenceTimeout is how long the scanner waits for HSS to know an
	// image of this receiver (replicated into SWR and synchronised into
	// HSS) before it gives the job up as not_in_swr; 0: 30 minutes. The
	// scanner reads it (package scanner, presence.go); the webhook path
	// does not.
	PresenceTimeout time.Duration `koanf:"presence_timeout" json:"presence_timeout,omitempty"`
}

// RateLimitConfig is a token bucket for one receiver's requests. It is
// taken from after the sender is authenticated, so unauthenticated
// requests (a flood from anyone who knows the URL) cannot use up the
// legitimate sender's budget; they are bounded by http.max_in_flight
// instead. Past it a request gets 429 with Retry-After, which registries
// retry.
type RateLimitConfig struct {
	// PerSecond is the sustained rate. Default 50: a registry sends one
	// request per push, and 50 a second is a push every 20 ms for as long
	// as it lasts.
	PerSecond float64 `koanf:"per_second" json:"per_second,omitempty"`
	// Burst is how many requests may come at once above the rate. Default
	// 100 (a replication or a CI matrix pushing many tags together).
	Burst int `koanf:"burst" json:"burst,omitempty"`
}

const (
	defaultRatePerSecond = 50
	defaultRateBurst     = 100
)

// defaultMaxJobs is far above what a real delivery holds (one push, or a
// multi-arch index with its few platforms), yet keeps one request to a
// bounded answer: a Quay body of under 1 MB can name 110,000 tags
// (TestJobsPerRequestCap builds one), which uncapped would be 110,000
// jobs, an answer of megabytes and as many log lines.
const defaultMaxJobs = 1000

var receiverName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// receiver is a checked ReceiverConfig ready to serve.
type receiver struct {
	cfg    ReceiverConfig
	decode formats.Decoder
	auth   verifier
	// maxBody is the body budget: cfg.MaxBodyBytes or http.max_body_bytes.
	maxBody int64
	// maxJobs is cfg.MaxJobs or defaultMaxJobs.
	maxJobs int
	// limiter is cfg.RateLimit with the defaults filled in.
	limiter *rate.Limiter
	// metrics are the collectors of its accepted requests.
	metrics receiverMetrics
}

// newReceiver checks c, the i-th receiver of the configuration; errors
// start with receivers[i] and the name, so the setting can be found.
func newReceiver(i int, c ReceiverConfig) (*receiver, error) {
	var errs []error
	if !receiverName.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("name %q: use 1-64 letters, digits, '-' or '_'", c.Name))
	}
	decode, ok := formats.Lookup(c.Format)
	if !ok {
		errs = append(errs, fmt.Errorf("format %q: unknown, use one of %s", c.Format, strings.Join(formats.Names(), ", ")))
	}
	if err := validate.Struct(c.Auth); err != nil {
		errs = append(errs, fmt.Errorf("auth: %w", err))
	}
	auth, err := newVerifier(c.Auth)
	if err != nil {
		errs = append(errs, fmt.Errorf("auth: %w", err))
	}
	if err := c.Target.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("target: %w", err))
	}
	if c.Target.ImageType == scanjob.InstanceImage && c.InstanceID == "" {
		errs = append(errs, errors.New("instance_id is required for image_type instance_image"))
	}
	if c.MaxBodyBytes != 0 && c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_body_bytes %d: use 0 (the http setting) or at least 1024", c.MaxBodyBytes))
	}
	if c.RateLimit.PerSecond < 0 || c.RateLimit.Burst < 0 {
		errs = append(errs, errors.New("rate_limit: per_second and burst must not be negative (0: the defaults)"))
	}
	if c.MaxJobs < 0 {
		errs = append(errs, fmt.Errorf("max_jobs %d: use 0 (the default, %d) or more", c.MaxJobs, defaultMaxJobs))
	}
	if len(c.DefaultNamespace) > 64 {
		errs = append(errs, errors.New("default_namespace is over the HSS limit of 64 characters"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("receivers[%d] %q: %w", i, c.Name, err)
	}
	limiter := rate.NewLimiter(rate.Limit(cmp.Or(c.RateLimit.PerSecond, defaultRatePerSecond)), cmp.Or(c.RateLimit.Burst, defaultRateBurst))
	return &receiver{cfg: c, decode: decode, auth: auth, maxJobs: cmp.Or(c.MaxJobs, defaultMaxJobs), limiter: limiter}, nil
}

// allow takes one request from the receiver's rate limit, or reports how
// long until the next one would be allowed.
func (r *receiver) allow() (wait time.Duration, ok bool) {
	res := r.limiter.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel() // a refused request takes nothing
		return d, false
	}
	return 0, true
}

// job normalizes one decoded push into a job for this receiver, before
// routing. Namespace may come out empty (a one-segment repository and no
// default_namespace); a routing rule may still supply one.
func (r *receiver) job(p formats.Push) scanjob.Job {
	ns, image := scanjob.SplitRepository(p.Repository)
	if ns == "" {
		ns = r.cfg.DefaultNamespace
	}
	j := scanjob.Job{
		Receiver:     r.cfg.Name,
		Registry:     r.cfg.Format,
		RegistryHost: p.Host,
		Namespace:    ns,
		Image:        image,
		Tag:          p.Tag,
		Digest:       p.Digest,
		Target:       r.cfg.Target,
		EventID:      p.EventID,
		PushedAt:     p.PushedAt,
		InstanceID:   r.cfg.InstanceID,
		InstanceURL:  cmp.Or(r.cfg.InstanceURL, p.InstanceURL),
	}
	return j
}

// withFormat is the receiver reading another payload format, for NATS
// messages that name theirs in the Scan-Bridge-Format header.
func (r *receiver) withFormat(name string) (*receiver, error) {
	decode, ok := formats.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("format %q: unknown, use one of %s", name, strings.Join(formats.Names(), ", "))
	}
	alt := *r
	alt.cfg.Format, alt.decode = name, decode
	return &alt, nil
}

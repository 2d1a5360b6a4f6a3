package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/ratelimit"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// HSSConfig says how to reach HSS and what to scan by default.
type HSSConfig struct {
	// Region, ProjectID, EnterpriseProjectID and ImageType are the
	// default target of every receiver that does not set its own.
	// ProjectID falls back to HUAWEICLOUD_SDK_PROJECT_ID.
	Region              string `koanf:"region"`
	ProjectID           string `koanf:"project_id"`
	EnterpriseProjectID string `koanf:"enterprise_project_id"`
	ImageType           string `koanf:"image_type" validate:"oneof=private_image shared_image instance_image"`
	// Endpoint overrides https://hss.{region}.myhuaweicloud.com.
	Endpoint string `koanf:"endpoint"`
	// Auth is aksk (request signing, the default), token (a fixed IAM
	// token) or password (IAM user login, token refreshed before expiry).
	Auth string `koanf:"auth" validate:"oneof=aksk token password"`
	// AccessKey, SecretKey and SecurityToken (each also *_file) for aksk;
	// when empty, HUAWEICLOUD_SDK_AK / _SK / _SECURITY_TOKEN or
	// CLOUD_SDK_AK / _SK are used.
	AccessKey         string `koanf:"access_key"`
	SecretKey         string `koanf:"secret_key"`
	SecretKeyFile     string `koanf:"secret_key_file"`
	SecurityToken     string `koanf:"security_token"`
	SecurityTokenFile string `koanf:"security_token_file"`
	// Token or TokenFile for auth: token.
	Token     string `koanf:"token"`
	TokenFile string `koanf:"token_file"`
	// IAM is the login for auth: password.
	IAM IAMConfig `koanf:"iam"`
	// CallsPerMinute is the HSS rate limit for the deployment: HSS allows
	// each user 5 calls per minute per API (see the API notes). The rate
	// halves on a 429 and climbs back after successes (ratelimit package).
	CallsPerMinute float64 `koanf:"calls_per_minute" validate:"gt=0,lte=600"`
	// Burst is how many calls may go at once after a quiet spell. 1
	// keeps every sliding minute within CallsPerMinute.
	Burst int `koanf:"burst" validate:"min=1"`
	// SharedLimit keeps the limiter's state in a JetStream KV key, so all
	// replicas together stay within CallsPerMinute (HSS counts per user,
	// not per process). Off: each process limits itself (one replica only).
	SharedLimit bool `koanf:"shared_limit"`
	// LimitKV is where the shared limiter keeps its state.
	LimitKV ratelimit.KVConfig `koanf:"limit_kv"`
	// MaxConcurrent bounds the calls in flight.
	MaxConcurrent int `koanf:"max_concurrent" validate:"min=1"`
	// CallTimeout bounds one HSS exchange.
	CallTimeout time.Duration `koanf:"call_timeout" validate:"min=1000000"`
}

// IAMConfig is an IAM user login.
type IAMConfig struct {
	Endpoint     string `koanf:"endpoint"`
	DomainName   string `koanf:"domain_name"`
	UserName     string `koanf:"user_name"`
	Password     string `koanf:"password"`
	PasswordFile string `koanf:"password_file"`
}

// DefaultHSSConfig holds the documented defaults.
func DefaultHSSConfig() HSSConfig {
	return HSSConfig{
		ImageType:      string(scanjob.PrivateImage),
		Auth:           "aksk",
		CallsPerMinute: hssclient.DefaultCallsPerMinute,
		Burst:          hssclient.DefaultBurst,
		SharedLimit:    true,
		MaxConcurrent:  hssclient.DefaultMaxConcurrent,
		CallTimeout:    hssclient.DefaultCallTimeout,
	}
}

// errNoCredentials names every way to give credentials, so the operator
// sees what to set rather than a stack of field names.
var errNoCredentials = errors.New("no HSS credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK " +
	"(or hss.access_key with hss.secret_key_file), or hss.auth=token with hss.token_file, " +
	"or hss.auth=password with hss.iam.domain_name, hss.iam.user_name and hss.iam.password_file; " +
	"or run with --dry-run to use the built-in HSS simulator")

// authenticator builds HSS authentication from the config and environment.
func (c HSSConfig) authenticator(log *slog.Logger) (hssclient.Authenticator, error) {
	switch c.Auth {
	case "token":
		tok, err := readSecret(c.Token, c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("hss.token_file: %w", err)
		}
		if tok == "" {
			return nil, errNoCredentials
		}
		return hssclient.StaticToken(hssclient.NewSecret(tok))
	case "password":
		pw, err := readSecret(c.IAM.Password, c.IAM.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("hss.iam.password_file: %w", err)
		}
		if c.IAM.DomainName == "" || c.IAM.UserName == "" || pw == "" {
			return nil, errNoCredentials
		}
		return hssclient.NewPasswordAuth(hssclient.PasswordConfig{
			DomainName: c.IAM.DomainName, UserName: c.IAM.UserName, Password: hssclient.NewSecret(pw),
			IAMEndpoint: c.IAM.Endpoint, Logger: log,
		})
	}
	creds, err := c.credentials()
	if err != nil {
		return nil, err
	}
	return hssclient.NewSigner(creds)
}

// credentials takes AK/SK from the config when set there, else from the
// SDK's environment variables.
func (c HSSConfig) credentials() (hssclient.Credentials, error) {
	if c.AccessKey != "" {
		sk, err := readSecret(c.SecretKey, c.SecretKeyFile)
		if err != nil {
			return hssclient.Credentials{}, fmt.Errorf("hss.secret_key_file: %w", err)
		}
		st, err := readSecret(c.SecurityToken, c.SecurityTokenFile)
		if err != nil {
			return hssclient.Credentials{}, fmt.Errorf("hss.security_token_file: %w", err)
		}
		if sk == "" {
			return hssclient.Credentials{}, errNoCredentials
		}
		return hssclient.Credentials{AccessKey: c.AccessKey, SecretKey: hssclient.NewSecret(sk), SecurityToken: hssclient.NewSecret(st)}, nil
	}
	creds, err := hssclient.CredentialsFromEnv()
	if errors.Is(err, hssclient.ErrNoCredentials) {
		return creds, errNoCredentials
	}
	return creds, err
}

// hssBackend is the HSS side of the bridge: the client and, in a dry run,
// the simulator it talks to.
type hssBackend struct {
	client  *hssclient.Client
	limiter ratelimit.Limiter
	slots   chan struct{}
	metrics *hssMetrics
	log     *slog.Logger  // component=hss
	root    *slog.Logger  // for parts that name their own component
	fake    *hsstest.Fake // nil unless dry run
}

// newHSSBackend builds the client. In a dry run the client talks to the
// in-process simulator through its transport, with a token the simulator
// knows: the request path, validation and limits are the real ones.
//
// The limiter starts process-local; useSharedLimit swaps in the
// cluster-wide one once NATS is up. root is the process logger: the
// simulator names its own component.
func newHSSBackend(c HSSConfig, dryRun bool, reg prometheus.Registerer, root *slog.Logger) (*hssBackend, error) {
	log := root.With("component", "hss")
	local, err := ratelimit.NewAdaptive(c.rateConfig(), ratelimit.WithLogger(root))
	if err != nil {
		return nil, fmt.Errorf("hss rate limit: %w", err)
	}
	b := &hssBackend{
		limiter: local,
		slots:   make(chan struct{}, c.MaxConcurrent),
		metrics: newHSSMetrics(reg),
		log:     log,
		root:    root,
	}
	b.metrics.rate(func() float64 { return b.limiter.Rate() })
	cfg := hssclient.Config{Endpoint: c.Endpoint, UserAgent: "scan-bridge/" + version, CallTimeout: c.CallTimeout,
		MaxConcurrent: c.MaxConcurrent}
	// The backend takes the rate-limit permit in Acquire, before the queue
	// packs a call, so the client itself must not wait again.
	opts := []hssclient.Option{hssclient.WithLimiter(hssclient.Unlimited), hssclient.WithLogger(root),
		hssclient.WithObserver(b.metrics)}
	if dryRun {
		b.fake = hsstest.New(hsstest.Options{Tokens: []string{"dry-run"}, Logger: root})
		auth, err := hssclient.StaticToken(hssclient.NewSecret("dry-run"))
		if err != nil {
			return nil, err
		}
		cfg.Auth, cfg.Endpoint = auth, "http://hss-simulator.invalid"
		opts = append(opts, hssclient.WithHTTPClient(&http.Client{Transport: b.fake.Transport()}))
	} else {
		auth, err := c.authenticator(log)
		if err != nil {
			return nil, err
		}
		cfg.Auth = auth
	}
	client, err := hssclient.New(cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("hss client: %w", err)
	}
	b.client = client
	return b, nil
}

func (c HSSConfig) rateConfig() ratelimit.Config {
	return ratelimit.Config{CallsPerMinute: c.CallsPerMinute, Burst: c.Burst}
}

// useSharedLimit replaces the process-local limiter by the one every
// replica shares through JetStream KV.
func (b *hssBackend) useSharedLimit(ctx context.Context, js jetstream.JetStream, c HSSConfig, replicas int) error {
	kv := c.LimitKV
	if kv.Replicas == 0 {
		kv.Replicas = replicas
	}
	shared, err := ratelimit.OpenShared(ctx, js, c.rateConfig(), kv, ratelimit.WithLogger(b.root))
	if err != nil {
		return fmt.Errorf("shared hss rate limit: %w", err)
	}
	b.limiter = shared
	return nil
}

// Acquire implements queue.Scanner: a call slot, then a rate permit.
func (b *hssBackend) Acquire(ctx context.Context) (func(), error) {
	start := time.Now()
	defer func() { b.metrics.wait.Observe(time.Since(start).Seconds()) }()
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := b.limiter.Wait(ctx); err != nil {
		<-b.slots
		return nil, err
	}
	return func() { <-b.slots }, nil
}

// Scan implements queue.Scanner: one targeted batch scan of the items.
func (b *hssBackend) Scan(ctx context.Context, t scanjob.Target, items []scanjob.Job) error {
	infos := make([]hssclient.ImageInfo, len(items))
	for i, j := range items {
		infos[i] = hssclient.ImageInfo{Namespace: j.Namespace, ImageName: j.Image, ImageVersion: j.Tag,
			InstanceID: j.InstanceID, InstanceURL: j.InstanceURL}
	}
	req := hssclient.TargetedScan(hssclient.ImageType(t.ImageType), infos...)
	err := b.client.BatchScan(ctx, hssTarget(t), req)
	b.feedback(ctx, err)
	return err
}

// feedback tells the limiter whether HSS throttled the call: a 429 cuts
// the rate, a success lets it climb back; other failures say nothing
// about the rate.
func (b *hssBackend) feedback(ctx context.Context, err error) {
	var api *hssclient.APIError
	throttled := errors.As(err, &api) && api.StatusCode == http.StatusTooManyRequests
	if err != nil && !throttled {
		return
	}
	if ferr := b.limiter.Feedback(ctx, throttled); ferr != nil {
		b.log.Warn("rate limit feedback lost", "throttled", throttled, "error", ferr)
	}
}

// Judge implements queue.Scanner. Auth and quota refusals are not the
// images' fault: they are retried (and alerted on), never dead-lettered.
func (b *hssBackend) Judge(err error) queue.Verdict {
	v := queue.Verdict{Class: queue.Retry}
	switch hssclient.Classify(err) {
	case hssclient.ClassOK:
		v.Class = queue.Accepted
	case hssclient.ClassPermanent:
		v.Class = queue.Permanent
	}
	var api *hssclient.APIError
	if errors.As(err, &api) {
		v.Status, v.Code, v.Message, v.RequestID = api.StatusCode, api.ErrorCode, api.ErrorMsg, api.RequestID
	} else if err != nil {
		v.Message = err.Error()
	}
	return v
}

func hssTarget(t scanjob.Target) hssclient.Target {
	return hssclient.Target{Region: t.Region, ProjectID: t.ProjectID, EnterpriseProjectID: t.EnterpriseProjectID}
}

// hssMetrics records every HSS call for /metrics.
type hssMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	images   *prometheus.CounterVec
	wait     prometheus.Histogram
	reg      prometheus.Registerer
}

func newHSSMetrics(reg prometheus.Registerer) *hssMetrics {
	m := &hssMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_hss_calls_total",
			Help: "HSS batch-scan calls by HTTP status and class."}, []string{"status", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scanbridge_hss_call_duration_seconds",
			Help: "HSS batch-scan latency (HTTP exchange only).", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"class"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_hss_images_total",
			Help: "Images sent to HSS by call class."}, []string{"class"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scanbridge_hss_rate_limit_wait_seconds",
			Help: "Time a call waited for a call slot and a rate-limit permit.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	m.reg = reg
	if reg != nil {
		reg.MustRegister(m.calls, m.duration, m.images, m.wait)
	}
	return m
}

// rate exports the limiter's current rate (it drops after a 429).
func (m *hssMetrics) rate(f func() float64) {
	if m.reg != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scanbridge_hss_rate_limit_per_minute",
			Help: "Calls per minute the HSS rate limiter allows now (the ceiling, or less after 429s)."}, f))
	}
}

// ObserveCall implements hssclient.Observer.
func (m *hssMetrics) ObserveCall(c hssclient.Call) {
	class := strings.ToLower(c.Class.String())
	m.calls.WithLabelValues(fmt.Sprint(c.Status), class).Inc()
	m.duration.WithLabelValues(class).Observe(c.Duration.Seconds())
	m.images.WithLabelValues(class).Add(float64(c.Images))
}

package scanner

import (
	"cmp"
	"os"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/ratelimit"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Config says how to reach HSS, what to scan by default and how fast. It is
// the hss section of the bridge's configuration: the koanf tags are the
// setting names the README documents, and the validate tags are checked by
// cmd/bridge, which reports each bad setting by name.
type Config struct {
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
	// each user 5 calls per minute per API ("Limitations and Constraints",
	// https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html). The rate
	// halves on a 429 and climbs back after successes (ratelimit package).
	// At most 600, the API's total over all users.
	CallsPerMinute float64 `koanf:"calls_per_minute" validate:"gt=0,lte=600"`
	// Burst is how many calls may go at once after a quiet spell. 1
	// keeps every sliding minute within CallsPerMinute (see
	// ratelimit.DefaultBurst).
	Burst int `koanf:"burst" validate:"min=1"`
	// SharedLimit keeps the limiter's state in a JetStream KV key, so all
	// replicas together stay within CallsPerMinute (HSS counts per user,
	// not per process), and bridge scan takes its permit there too. Off:
	// each process limits itself (one replica only, or a scan with no
	// bridge running).
	SharedLimit bool `koanf:"shared_limit"`
	// LimitKV is where the shared limiter keeps its state.
	LimitKV ratelimit.KVConfig `koanf:"limit_kv"`
	// MaxConcurrent bounds the calls in flight, per process.
	MaxConcurrent int `koanf:"max_concurrent" validate:"min=1"`
	// CallTimeout bounds one HSS exchange.
	CallTimeout time.Duration `koanf:"call_timeout" validate:"min=1000000"`
	// PresenceCheck makes Scan confirm that HSS knows each image
	// (ListSwrImageRepository) before asking it to scan, deferring the
	// ones it does not know yet and giving them up as not_in_swr after
	// the receiver's presence_timeout (presence.go). Off: every item goes
	// to batch-scan as it comes, and an unknown image fails the call.
	PresenceCheck bool `koanf:"presence_check"`
	// SyncInterval is the least time between two RunImageSynchronize
	// calls for one target and image type, asked for when images stay
	// unknown to HSS. instance_image (SWR Enterprise) cannot be
	// synchronised by this API and is never asked for.
	SyncInterval time.Duration `koanf:"sync_interval" validate:"min=1000000000"`
	// API picks the HSS APIs of the image lifecycle (Catalog): swr-v5
	// (ListSwrImageRepository, RunImageSynchronize, BatchScanSwrImage) or
	// tasks (ListRegistryImages, CreateImageSynchronizeTask,
	// CreateManualImageScanTask, ListImageScanTask), the successors of
	// the three HSS's docs mark deprecated.
	API string `koanf:"api" validate:"oneof=swr-v5 tasks"`
	// Watch is how a requested scan is followed to its result.
	Watch WatchConfig `koanf:"watch"`
}

// IAMConfig is an IAM user login.
type IAMConfig struct {
	Endpoint     string `koanf:"endpoint"`
	DomainName   string `koanf:"domain_name"`
	UserName     string `koanf:"user_name"`
	Password     string `koanf:"password"`
	PasswordFile string `koanf:"password_file"`
}

// DefaultMaxConcurrent is the default of hss.max_concurrent.
const DefaultMaxConcurrent = 2

// DefaultConfig holds the documented defaults. The rate ones are
// ratelimit's, where the reasons for them are written down.
func DefaultConfig() Config {
	return Config{
		ImageType:      string(scanjob.PrivateImage),
		Auth:           "aksk",
		CallsPerMinute: ratelimit.DefaultCallsPerMinute,
		Burst:          ratelimit.DefaultBurst,
		SharedLimit:    true,
		MaxConcurrent:  DefaultMaxConcurrent,
		CallTimeout:    hssclient.DefaultCallTimeout,
		PresenceCheck:  true,
		SyncInterval:   DefaultSyncInterval,
		API:            DefaultCatalog,
		Watch:          DefaultWatchConfig(),
	}
}

// Presence defaults (presence.go says why).
const (
	// DefaultSyncInterval is the default of hss.sync_interval: a sync
	// re-reads the whole SWR image list, and HSS allows 5 calls a minute
	// of it per user.
	DefaultSyncInterval = 5 * time.Minute
	// DefaultPresenceTimeout is a receiver's presence_timeout when it
	// sets none: long enough for a registry's replication into SWR and a
	// sync to finish.
	DefaultPresenceTimeout = 30 * time.Minute
)

// FillTarget fills the empty fields of t from the default target, the
// project id last from HUAWEICLOUD_SDK_PROJECT_ID, so a single-tenant setup
// names its project once.
func (c Config) FillTarget(t scanjob.Target) scanjob.Target {
	t.Region = cmp.Or(t.Region, c.Region)
	t.ProjectID = cmp.Or(t.ProjectID, c.ProjectID, os.Getenv("HUAWEICLOUD_SDK_PROJECT_ID"))
	t.EnterpriseProjectID = cmp.Or(t.EnterpriseProjectID, c.EnterpriseProjectID)
	t.ImageType = cmp.Or(t.ImageType, scanjob.ImageType(c.ImageType))
	return t
}

// rateConfig is the limiter's part of the settings; ratelimit fills the
// rest (floor, steps, holdoff) with its defaults.
func (c Config) rateConfig() ratelimit.Config {
	return ratelimit.Config{CallsPerMinute: c.CallsPerMinute, Burst: c.Burst}
}

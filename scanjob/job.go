package scanjob

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// ImageType is the HSS image_type of a batch-scan request.
type ImageType string

// The image types HSS accepts for SWR batch scans. instance_image addresses
// SWR Enterprise Edition instances and needs an instance id on every item.
const (
	PrivateImage  ImageType = "private_image"
	SharedImage   ImageType = "shared_image"
	InstanceImage ImageType = "instance_image"
)

// Target says which HSS tenant scans an image. Every item of one HSS call
// shares a Target, so it is part of the batch key.
type Target struct {
	// Region is the Huawei Cloud region id, e.g. cn-north-4. It selects the
	// endpoint and is sent in the region header.
	Region string `json:"region" yaml:"region" koanf:"region" validate:"required,max=128"`
	// ProjectID is the tenant project id in the request path.
	ProjectID string `json:"project_id" yaml:"project_id" koanf:"project_id" validate:"required,max=256"`
	// EnterpriseProjectID is sent as the enterprise_project_id query
	// parameter when set; HSS defaults it to "0".
	EnterpriseProjectID string `json:"enterprise_project_id,omitempty" yaml:"enterprise_project_id" koanf:"enterprise_project_id" validate:"omitempty,max=256"`
	// ImageType is the request's image_type.
	ImageType ImageType `json:"image_type" yaml:"image_type" koanf:"image_type" validate:"required,oneof=private_image shared_image instance_image"`
}

// Key is a stable string naming the target, used to group batches.
func (t Target) Key() string {
	return t.Region + "|" + t.ProjectID + "|" + t.EnterpriseProjectID + "|" + string(t.ImageType)
}

// Job is one pushed image tag that HSS must scan.
type Job struct {
	// Receiver is the name of the webhook receiver (or NATS intake) that
	// accepted the event.
	Receiver string `json:"receiver" validate:"required,max=64"`
	// Registry is the sender's format, e.g. harbor or distribution.
	Registry string `json:"registry" validate:"required,max=64"`
	// RegistryHost is the registry host as the sender named it, if it did:
	// host[:port] in the OCI distribution grammar (names.go).
	RegistryHost string `json:"registry_host,omitempty" validate:"max=256"`
	// Namespace is the SWR organization: the first path segment of the
	// repository, so one OCI path component (names.go).
	Namespace string `json:"namespace" validate:"required,min=1,max=64"`
	// Image is the rest of the repository path after the namespace: OCI
	// path components separated by "/" (names.go).
	Image string `json:"image_name" validate:"required,min=1,max=128"`
	// Tag is the pushed tag; HSS addresses an image by tag (image_version),
	// so a push without one is not a job. It follows the OCI tag grammar.
	Tag string `json:"image_version" validate:"required,min=1,max=128"`
	// Digest is the manifest digest when the registry sent one. HSS does not
	// take it; it makes the message id tell apart re-pushes of a tag. When
	// set it must be a valid digest (algorithm:hex of the right length).
	Digest string `json:"digest,omitempty" validate:"max=256"`
	// InstanceID and InstanceURL address an SWR Enterprise Edition instance.
	InstanceID  string `json:"instance_id,omitempty" validate:"required_if=Target.ImageType instance_image,max=128"`
	InstanceURL string `json:"instance_url,omitempty" validate:"max=256"`
	// Target is where HSS scans it.
	Target Target `json:"target"`
	// EventID is the sender's delivery or event id, for tracing; it enters
	// ID only for a job with neither digest nor push time (ID says why).
	EventID string `json:"event_id,omitempty" validate:"max=256"`
	// RequestID is the request id of the webhook that brought the job (its
	// X-Request-Id as handlers/requestid.go kept or made it), so the result
	// of the scan can name the delivery that asked for it. It is left out
	// of ID: it changes between retries.
	RequestID string `json:"request_id,omitempty" validate:"max=128"`
	// PushedAt is when the registry says the push happened (zero if it did
	// not say); AcceptedAt is when the bridge stored the job. Both feed the
	// push-to-scan latency metric. PushedAt also enters ID when there is no
	// digest, to tell a new push of a tag from a retry of the same one.
	PushedAt   time.Time `json:"pushed_at,omitzero"`
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
}

// Repository is the full repository path, namespace/image.
func (j Job) Repository() string { return j.Namespace + "/" + j.Image }

// Ref is the human-readable image reference, for logs and answers. The
// answer that refuses an invalid job names it by its Ref
// (handlers/intake.go), so each part is clipped at its limit and quoted
// when it holds anything but printable ASCII: a valid job's Ref is plain
// and whole, while a sender's megabyte of tag is not echoed back and its
// control characters, bidi marks and invalid UTF-8 show escaped.
func (j Job) Ref() string {
	ref := refPart(j.Namespace, 64) + "/" + refPart(j.Image, 128) + ":" + refPart(j.Tag, 128)
	if j.Digest != "" {
		ref += "@" + refPart(j.Digest, 256)
	}
	return ref
}

// refPart is one part of a Ref: s clipped to limit bytes, quoted with
// strconv.Quote unless it is printable ASCII without spaces (which every
// valid name is).
func refPart(s string, limit int) string {
	s = clip(s, limit)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}

// ID is a stable hash of what makes two jobs the same push: the receiver,
// the target, the repository, the tag and the digest. The queue uses it as
// Nats-Msg-Id, so a registry that retries a delivery (distribution retries
// the same event until it gets a 2xx) produces one stored job within the
// stream's duplicate window.
//
// A digest tells two pushes of one tag apart. Without one (Docker Hub,
// Quay, Nexus and others send none) the id also takes what the sender says
// of this push, so that re-pushing a moving tag such as latest within the
// window is scanned again: the push time when there is one, else the event
// id. The push time comes first because it belongs to the push, while some
// event ids belong to the delivery (Nexus's X-Nexus-Webhook-Delivery, a
// generic sender's per-request id) and could differ on a retry; a sender's
// retry of one event repeats its time. A body with neither (Quay's) keeps
// the id of repository and tag, so a re-push within the window is one job
// (docs/registries/README.md, "What identifies a push"). With a digest,
// times and event ids are left out: they change between retries of some
// senders, and the digest already says which push it is.
//
// The hash input is built in a stack buffer and hashed at once, and only
// the id itself is allocated: it is computed for every job the intake
// stores. TestIDIsUnchanged holds it to the input it always had for a job
// with a digest or without time and event id, every field followed by a 0
// byte and the target as Key writes it, since a changed id would let a
// retried delivery be stored twice across an upgrade.
func (j Job) ID() string {
	var buf [512]byte
	t := &j.Target
	b := append(buf[:0], j.Receiver...)
	b = append(b, 0)
	for i, s := range [...]string{t.Region, t.ProjectID, t.EnterpriseProjectID, string(t.ImageType)} {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, s...)
	}
	for _, s := range [...]string{j.Namespace, j.Image, j.Tag, j.Digest, j.InstanceID} {
		b = append(append(b, 0), s...)
	}
	b = append(b, 0)
	if j.Digest == "" {
		b = j.appendPushIdentity(b)
	}
	sum := sha256.Sum256(b)
	var id [32]byte
	hex.Encode(id[:], sum[:16])
	return string(id[:])
}

// appendPushIdentity appends what tells this push of a tag from another
// when there is no digest: "t" and the push time in Unix seconds and nanoseconds (any year, unlike
// UnixNano), or
// "e" and the event id, each ending in a 0 byte; nothing when the job has
// neither. The letter keeps a time from ever hashing like an event id.
func (j Job) appendPushIdentity(b []byte) []byte {
	switch {
	case !j.PushedAt.IsZero():
		b = strconv.AppendInt(append(b, 't'), j.PushedAt.Unix(), 10)
		b = strconv.AppendInt(append(b, '.'), int64(j.PushedAt.Nanosecond()), 10)
	case j.EventID != "":
		b = append(append(b, 'e'), j.EventID...)
	default:
		return b
	}
	return append(b, 0)
}

// ItemKey names the HSS item a job becomes. Jobs with the same ItemKey in
// one batch collapse into one image_info_list entry (two digests pushed
// under one tag are one scan of that tag).
func (j Job) ItemKey() string {
	return strings.Join([]string{j.Namespace, j.Image, j.Tag, j.InstanceID, j.InstanceURL}, "\x00")
}

// BatchKey groups jobs that may share one HSS call and one namespace batch:
// the target (region, project, enterprise project, image type) and the
// namespace.
func (j Job) BatchKey() string { return j.Target.Key() + "|" + j.Namespace }

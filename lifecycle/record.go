package lifecycle

import (
	"time"
	"unicode/utf8"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// State is where an image is in its lifecycle (doc.go has the diagram).
type State string

// The states. The three terminal ones end a lifecycle; only a new push or
// a rescan starts the image again (back to accepted).
const (
	Accepted        State = "accepted"
	WaitingPresence State = "waiting_presence"
	SyncRequested   State = "sync_requested"
	ScanRequested   State = "scan_requested"
	Scanning        State = "scanning"
	Scanned         State = "scanned"
	ScanFailed      State = "scan_failed"
	GivenUp         State = "given_up"
)

// States lists every state in lifecycle order, for metrics and help texts.
var States = []State{Accepted, WaitingPresence, SyncRequested, ScanRequested, Scanning, Scanned, ScanFailed, GivenUp}

// Terminal reports whether s ends a lifecycle.
func (s State) Terminal() bool { return s == Scanned || s == ScanFailed || s == GivenUp }

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Given-up reasons the bridge sets itself. A scan HSS failed carries HSS's
// own scan_failed_desc instead.
const (
	ReasonNotInSWR    = "not_in_swr"
	ReasonScanTimeout = "scan_timeout"
)

// maxHistory bounds Record.History: enough for a lifecycle with a few
// retries, small enough that a record stays a few kilobytes.
const maxHistory = 16

// Record is the lifecycle of one image: who pushed it, where it is, what
// HSS last said. It is stored as JSON under Key.
type Record struct {
	// Key is the record's KV key (KeyOf), stored for readers of the JSON.
	Key string `json:"key"`

	Target       scanjob.Target `json:"target"`
	Receiver     string         `json:"receiver"`
	Registry     string         `json:"registry"`
	RegistryHost string         `json:"registry_host,omitempty"`
	Namespace    string         `json:"namespace"`
	Image        string         `json:"image_name"`
	Tag          string         `json:"image_version"`
	Digest       string         `json:"digest,omitempty"`
	InstanceID   string         `json:"instance_id,omitempty"`
	InstanceURL  string         `json:"instance_url,omitempty"`
	// JobID is scanjob.Job.ID of the job that (last) started the
	// lifecycle; RequestID is that webhook's request id.
	JobID     string `json:"job_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`

	State State `json:"state"`
	// Reason says why a lifecycle ended as it did: a given-up reason
	// (ReasonNotInSWR, ReasonScanTimeout) or HSS's scan_failed_desc.
	Reason string `json:"reason,omitempty"`

	PushedAt        time.Time `json:"pushed_at,omitzero"`
	AcceptedAt      time.Time `json:"accepted_at,omitzero"`
	SyncRequestedAt time.Time `json:"sync_requested_at,omitzero"`
	ScanRequestedAt time.Time `json:"scan_requested_at,omitzero"`
	ScanStartedAt   time.Time `json:"scan_started_at,omitzero"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`
	UpdatedAt       time.Time `json:"updated_at,omitzero"`

	// ScanAttempts counts scan requests of this lifecycle, PresenceChecks
	// the presence checks that did not find the image. The driver sets
	// them.
	ScanAttempts   int `json:"scan_attempts,omitempty"`
	PresenceChecks int `json:"presence_checks,omitempty"`
	// Generation counts lifecycles of this key: 1 for the first push, one
	// more for every restart (Begin on a finished record). It tells apart
	// the result events of two lifecycles that end in the same state.
	Generation int `json:"generation"`

	// HSS is what HSS's image list says of the image, once it was found.
	HSS HSSFacts `json:"hss,omitzero"`
	// LastAnswer is HSS's last answer about this image.
	LastAnswer Answer `json:"last_answer,omitzero"`

	// Published is set once the result event of a terminal state was
	// published (Publisher.Finish); a terminal record without it is
	// published again by the next Finish or Republish.
	Published bool `json:"published,omitempty"`

	// History is the last maxHistory state changes, oldest first.
	History []Transition `json:"history,omitempty"`

	// note is the note of the state change the current Update makes
	// (SetState); never stored.
	note string
}

// HSSFacts are the facts of the image's row in HSS's image list.
type HSSFacts struct {
	// ID is the row's id in HSS (the image list's id).
	ID              int64  `json:"id,omitempty"`
	ImageID         string `json:"image_id,omitempty"`
	ImageDigest     string `json:"image_digest,omitempty"`
	ScanStatus      string `json:"scan_status,omitempty"`
	Vulnerabilities int64  `json:"vulnerabilities"`
	MaliciousFiles  int64  `json:"malicious_files"`
	UnsafeSettings  int64  `json:"unsafe_settings"`
	// ScannedAt is HSS's latest_scan_time for the row.
	ScannedAt time.Time `json:"scanned_at,omitzero"`
}

// Answer is one HSS answer: which API, its HTTP status, HSS's error code
// and message, and its request id (X-Request-Id), so an operator can quote
// it to Huawei support.
type Answer struct {
	API       string    `json:"api"`
	Status    int       `json:"status,omitempty"`
	Code      string    `json:"code,omitempty"`
	Message   string    `json:"message,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// Transition is one state change in a record's History.
type Transition struct {
	State State     `json:"state"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// SetState moves r to s with a note for its History entry (e.g. "HSS.0011
// answered", "sync requested for private_image"). Setting r.State directly
// works too; the entry then has no note.
func (r *Record) SetState(s State, note string) {
	r.State, r.note = s, note
}

// NewRecord is the accepted record of a job: its identity, the push and
// acceptance times and the request id. The store fills Key.
func NewRecord(j scanjob.Job) Record {
	return Record{
		Target: j.Target, Receiver: j.Receiver, Registry: j.Registry, RegistryHost: j.RegistryHost,
		Namespace: j.Namespace, Image: j.Image, Tag: j.Tag, Digest: j.Digest,
		InstanceID: j.InstanceID, InstanceURL: j.InstanceURL,
		JobID: j.ID(), RequestID: j.RequestID,
		State: Accepted, PushedAt: j.PushedAt, AcceptedAt: j.AcceptedAt,
	}
}

// Job is the identity of r as a job: what KeyOf reads.
func (r Record) Job() scanjob.Job {
	return scanjob.Job{
		Receiver: r.Receiver, Registry: r.Registry, RegistryHost: r.RegistryHost,
		Namespace: r.Namespace, Image: r.Image, Tag: r.Tag, Digest: r.Digest,
		InstanceID: r.InstanceID, InstanceURL: r.InstanceURL, Target: r.Target,
		RequestID: r.RequestID, PushedAt: r.PushedAt, AcceptedAt: r.AcceptedAt,
	}
}

// Ref is namespace/image:tag[@digest], for logs and tables.
func (r Record) Ref() string { return r.Job().Ref() }

// addHistory appends a transition, keeping the last maxHistory.
func (r *Record) addHistory(t Transition) {
	r.History = append(r.History, t)
	if n := len(r.History); n > maxHistory {
		r.History = append(r.History[:0:0], r.History[n-maxHistory:]...)
	}
}

// Bounds of the free texts of a record, so that a long HSS message or
// note cannot make a record (and the bucket) grow without bound.
const (
	maxReason  = 1024
	maxMessage = 1024
	maxNote    = 256
)

// clipUTF8 cuts s to at most n bytes, on a rune boundary.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// bound clips the free texts of r.
func (r *Record) bound() {
	r.Reason = clipUTF8(r.Reason, maxReason)
	r.LastAnswer.Message = clipUTF8(r.LastAnswer.Message, maxMessage)
	r.note = clipUTF8(r.note, maxNote)
}

// clone copies r deeply enough that an Update callback cannot change the
// stored copy it was compared with.
func (r Record) clone() Record {
	r.History = append([]Transition(nil), r.History...)
	return r
}

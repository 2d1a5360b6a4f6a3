package formats

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// Push is one tag of one repository that a registry reports as pushed.
type Push struct {
	// Host is the registry host as the sender names it ("" if it does not).
	Host string
	// Repository is the full repository path without host, e.g.
	// "team/app" or "team/sub/app".
	Repository string
	// Tag is the pushed tag. Decoders never emit a Push without one.
	Tag string
	// Digest is the manifest digest if the sender gave it.
	Digest string
	// MediaType is the manifest media type if the sender gave it.
	MediaType string
	// PushedAt is the sender's event time (zero if none).
	PushedAt time.Time
	// EventID is the sender's event or delivery id, if any.
	EventID string
	// InstanceURL is, for SWR Enterprise, the host the image is pulled
	// from (when the payload carries it).
	InstanceURL string
}

// Skip is an event the decoder understood and chose not to turn into a push.
type Skip struct {
	// Ref names what was skipped (repository, tag or digest) as far as the
	// event says; may be empty.
	Ref string
	// Reason is a short lower-case sentence: "pull event, not a push",
	// "push by digest without a tag", "helm chart, not a container
	// image", ... The same situation has the same words in every format.
	Reason string
}

// Result is what one body holds.
type Result struct {
	Pushes  []Push
	Skipped []Skip
	// Reply is a body the sender requires as the answer, e.g. Event Grid's
	// subscription validation; the handler answers 200 with it and stores
	// nothing. It is encoded as JSON. When Reply is set, Pushes is empty.
	Reply any
}

// Decoder decodes one request body. The header is passed for formats that
// carry meaning in headers (CloudEvents binary mode, event-type headers).
// It returns an error only for a body that is not this format; the
// decoders returned by Lookup wrap every such error in ErrMalformed.
type Decoder func(body []byte, header http.Header) (Result, error)

// ErrMalformed is wrapped by every error of a decoder returned by Lookup:
// the body is not the receiver's format at all (not JSON, the wrong shape,
// a required member missing). The handler answers it with 400;
// errors.Is(err, ErrMalformed) tells it from any other failure without
// reading the message. The error also wraps the cause (a *json.SyntaxError,
// a *json.UnmarshalTypeError, a format's own sentinel), for errors.As.
var ErrMalformed = errors.New("malformed body")

// malformedError names the format a body failed and wraps both ErrMalformed
// and the decoder's cause. Its message leaves ErrMalformed's text out: the
// cause already says what is wrong.
type malformedError struct {
	format string
	cause  error
}

func (e *malformedError) Error() string   { return e.format + ": " + e.cause.Error() }
func (e *malformedError) Unwrap() []error { return []error{ErrMalformed, e.cause} }

var (
	mu       sync.RWMutex
	decoders = map[string]Decoder{}
)

// register adds a format; called from each format file's init. A format
// registered under several names (harbor, harbor-v1, tencent-tcr) is one
// decoder; each name still names itself in errors. The registry, not each
// decoder, wraps errors in ErrMalformed and the format's name, so no
// decoder can forget to, and it drops any partial result that came with
// an error.
func register(name string, d Decoder) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := decoders[name]; dup {
		panic(fmt.Sprintf("formats: %s registered twice", name))
	}
	decoders[name] = func(body []byte, header http.Header) (Result, error) {
		res, err := d(body, header)
		if err != nil {
			return Result{}, &malformedError{format: name, cause: err}
		}
		return res, nil
	}
}

// Lookup returns the decoder of a format name as used in receiver config.
func Lookup(name string) (Decoder, bool) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := decoders[name]
	return d, ok
}

// Names lists the registered formats, sorted, for config errors and docs.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(decoders))
	for n := range decoders {
		names = append(names, n)
	}
	sort.Strings(names)
	return slices.Clip(names)
}

// Package formats decodes registry webhook bodies into pushes.
//
// One file per sender format; each registers its Decoder in an init
// function, so adding a format touches no shared file. A decoder knows the
// wire format and nothing else: no receivers, no HSS targets, no NATS. It
// turns a body into the tagged pushes it reports (Pushes) and says why it
// passes over everything else (Skipped), so the HTTP answer can tell a
// registry administrator exactly what became of each event.
//
// Decoders must never panic on any input (each has a fuzz test) and must
// return an error only when the body is not that format at all (the caller
// answers 400); a well-formed event that is not a tagged image push is a
// Skip, not an error (the caller answers 200 "ignored", so a sender such as
// distribution, which retries non-2xx answers forever, is not blocked).
package formats

import (
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
	// Reason is a short lower-case sentence: "pull event", "push by digest
	// without a tag", "helm chart, not a container image", ...
	Reason string
}

// Result is what one body holds.
type Result struct {
	Pushes  []Push
	Skipped []Skip
}

// Decoder decodes one request body. The header is passed for formats that
// carry meaning in headers (CloudEvents binary mode, event-type headers).
// It returns an error only for a body that is not this format.
type Decoder func(body []byte, header http.Header) (Result, error)

var (
	mu       sync.RWMutex
	decoders = map[string]Decoder{}
)

// register adds a format; called from each format file's init.
func register(name string, d Decoder) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := decoders[name]; dup {
		panic(fmt.Sprintf("formats: %s registered twice", name))
	}
	decoders[name] = d
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

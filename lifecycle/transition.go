package lifecycle

import (
	"errors"
	"fmt"
)

// ErrIllegalTransition is matched by every *TransitionError.
var ErrIllegalTransition = errors.New("illegal lifecycle transition")

// TransitionError is an Update that would move a record where the
// lifecycle does not go.
type TransitionError struct {
	Key      string
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("image %s: %s → %s is not a lifecycle step", e.Key, e.From, e.To)
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// next is the transition table (doc.go draws it). Staying in a state is
// always allowed (an update of facts: a presence check that found nothing,
// a new HSS answer, the Published flag); it is not listed.
//
//   - Before the scan request, the image waits for HSS to know it, may ask
//     for a sync, and may give up (not_in_swr).
//   - A requested scan may turn out to need the image first (HSS.0011,
//     or a 200 whose image never starts scanning): back to
//     waiting_presence. A stalled scan may be requested again.
//   - A terminal state is left only for accepted: a new push or a rescan
//     starts a new lifecycle of the same key (Begin).
//
// A scan result may arrive before the bridge saw the scan start (the
// watch polls), so scan_requested goes straight to scanned or scan_failed.
var next = map[State][]State{
	Accepted:        {WaitingPresence, SyncRequested, ScanRequested, GivenUp},
	WaitingPresence: {SyncRequested, ScanRequested, GivenUp},
	SyncRequested:   {WaitingPresence, ScanRequested, GivenUp},
	ScanRequested:   {WaitingPresence, Scanning, Scanned, ScanFailed, GivenUp},
	Scanning:        {ScanRequested, Scanned, ScanFailed, GivenUp},
	Scanned:         {Accepted},
	ScanFailed:      {Accepted},
	GivenUp:         {Accepted},
}

// Allowed reports whether a record may move from one state to the other.
func Allowed(from, to State) bool {
	if !to.Valid() {
		return false
	}
	if from == to {
		return true
	}
	for _, s := range next[from] {
		if s == to {
			return true
		}
	}
	return false
}

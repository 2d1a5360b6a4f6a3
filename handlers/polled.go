package handlers

import (
	"fmt"
	"net/http"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
)

// PlanPolled runs pushes that a registry poll found (package sources)
// through the path of a webhook body, without storing anything: the shared
// push rules (formats.Polled), normalize with the receiver's defaults,
// route with the current routes, validate. It is the intake's own plan, so
// a polled tag becomes the same job, with the same id, as a webhook of the
// same push to the same receiver.
//
// as names a configured receiver (a sweep beside that receiver's webhook:
// the jobs are that receiver's, so their ids are the webhook's); when it
// is empty, rc is a receiver that serves no HTTP (a source on its own: its
// name, target and defaults), checked by the caller. registry is stored
// as each job's Registry, so a record says the job came from a poll.
func (s *Server) PlanPolled(as string, rc ReceiverConfig, registry string, pushes []formats.Push) (Explanation, error) {
	sn := s.snap.Load()
	if as != "" {
		r, ok := sn.receivers[as]
		if !ok {
			return Explanation{}, fmt.Errorf("no receiver named %q", as)
		}
		rc = r.cfg
	}
	rc.Format = registry
	r := &receiver{cfg: rc, maxJobs: len(pushes) + 1,
		decode: func([]byte, http.Header) (formats.Result, error) { return formats.Polled(pushes), nil }}
	p, err := sn.in.plan(r, nil, nil)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Receiver: rc.Name, Format: registry, Skipped: p.skipped, Errors: p.errors, Jobs: []ExplainedJob{}}
	for _, pj := range p.jobs {
		e.Jobs = append(e.Jobs, ExplainedJob{ID: pj.job.ID(), Job: pj.job, Decision: pj.decision})
	}
	return e, nil
}

package handlers

// Answer is the JSON body of every webhook response, so a registry's
// delivery log shows what the bridge made of the event.
type Answer struct {
	// Status is accepted, ignored or error.
	Status    string `json:"status"`
	Receiver  string `json:"receiver,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Reason says why nothing was stored (ignored) or what was wrong (error).
	Reason string `json:"reason,omitempty"`
	// Errors lists each invalid field of each refused job.
	Errors  []string     `json:"errors,omitempty"`
	Jobs    []JobAnswer  `json:"jobs,omitempty"`
	Skipped []SkipAnswer `json:"skipped,omitempty"`
}

// JobAnswer is one stored job.
type JobAnswer struct {
	ID    string `json:"id"`
	Image string `json:"image"`
	// Duplicate is true when the queue already held this job (a retried
	// delivery): nothing new was stored and nothing was lost.
	Duplicate bool `json:"duplicate,omitempty"`
}

// SkipAnswer is one event that did not become a job, and why.
type SkipAnswer struct {
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason"`
}

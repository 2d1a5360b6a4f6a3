package natstest

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually checks its condition.
const pollInterval = 10 * time.Millisecond

// Eventually polls cond until it holds, and fails the test naming what it
// waited for if timeout passes first. It is for states that have no event
// to wait on, such as a server-side count after asynchronous acks; the
// timeout only ends a hung test, so make it generous.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
}

package ratelimit

import (
	"sync"
	"time"
)

// clockSync estimates the offset between the NATS server's clock and the
// local one, so every replica computes on the server's clock: one replica
// whose clock is wrong by a minute would otherwise see the shared TAT a
// minute in the past (and call at once) or in the future (and starve).
//
// Each sample is a server timestamp taken between a local send and
// receive, so the true offset lies within half the round trip of
// server - midpoint. As NTP's clock filter does
// (https://www.rfc-editor.org/rfc/rfc5905#section-10), the sample with the
// shortest round trip among the last few is used: queueing delay only ever
// widens the round trip.
type clockSync struct {
	mu      sync.Mutex
	samples [4]clockSample
	n, next int
	best    clockSample
	last    time.Time // local time of the last sample
	ok      bool      // false until the first sample
}

type clockSample struct {
	offset time.Duration // server minus local
	rtt    time.Duration
}

// add records one measurement.
func (c *clockSync) add(send, recv, server time.Time) {
	rtt := max(recv.Sub(send), 0)
	s := clockSample{offset: server.Sub(send.Add(rtt / 2)), rtt: rtt}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples[c.next] = s
	c.next = (c.next + 1) % len(c.samples)
	c.n = min(c.n+1, len(c.samples))
	c.best = c.samples[0]
	for _, x := range c.samples[1:c.n] {
		if x.rtt < c.best.rtt {
			c.best = x
		}
	}
	c.last, c.ok = recv, true
}

// due reports whether a new sample is needed at local time now.
func (c *clockSync) due(now time.Time, every time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.ok || now.Sub(c.last) >= every || now.Before(c.last)
}

// offset is the current estimate and its uncertainty (half the round trip
// of the sample it comes from).
func (c *clockSync) offset() (offset, uncertainty time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.best.offset, c.best.rtt / 2
}

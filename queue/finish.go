package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// dlqTimeout bounds writing the dead-letter records of one item.
const dlqTimeout = 10 * time.Second

// maxDeferral bounds the delay of a deferred item (Partial.Deferred): a
// scanner bug asking for days must not hide a job that long.
const maxDeferral = time.Hour

// finish maps a call's outcome to what happens to its messages. It is the
// one place where messages of a call are settled (cloudevents sdk-go
// Message.Finish style); each branch says why.
func (b *batcher) finish(c *call, err error) {
	defer b.traceFinish(c, err)()
	b.inflight--
	if p, ok := errors.AsType[*Partial](err); ok {
		// The scanner settled some items itself: those are deferred or
		// given up here, never bisected; the rest go by the call's
		// outcome, as if they had been the whole call.
		c = b.settlePartial(c, p)
		if len(c.entries) == 0 {
			b.metrics.deferredCall()
			return
		}
		err = p.Err
	}
	n := len(c.entries)
	log := b.log.With("target", c.target.Key(), "items", n)

	if err == nil {
		// HSS accepted the request: every message asked for an item it
		// carried, collapsed duplicates included.
		b.metrics.call(resultAccepted, n)
		now := time.Now()
		for _, h := range c.held() {
			b.settleWith(h, "ack", h.msg.Ack())
			if !h.job.AcceptedAt.IsZero() {
				b.metrics.accepted(now.Sub(h.job.AcceptedAt))
			}
		}
		log.Debug("batch accepted")
		return
	}

	if b.callCtx.Err() != nil {
		// Shutdown cut the call short: we do not know whether HSS took it,
		// and we never ack what HSS did not accept. Another replica (or
		// this one after restart) sends it again at once; a scan asked
		// twice is harmless, a scan lost is not.
		b.metrics.call(resultCanceled, n)
		for _, h := range c.held() {
			b.settleWith(h, "nak", h.msg.Nak())
		}
		log.Info("batch canceled by shutdown", "error", err)
		return
	}

	v := b.scanner.Judge(err)
	switch {
	case v.Class == Permanent && n > 1:
		// HSS refused the request, maybe for one bad item. Split it and
		// send each half under its own permit until the bad item is alone;
		// the good ones are accepted on the way (poison isolation costs
		// about 2·log2(n) extra calls, not n).
		b.metrics.call(resultRejected, n)
		if b.stopping {
			for _, h := range c.held() {
				b.settleWith(h, "nak", h.msg.Nak())
			}
			log.Info("rejected batch nakked for shutdown", "status", v.Status, "error_code", v.Code)
			return
		}
		left, right := c.split()
		b.splits = append(b.splits, left, right)
		log.Info("batch rejected, bisecting", "status", v.Status, "error_code", v.Code, "request_id", v.RequestID)

	case v.Class == Permanent:
		// One item and HSS refuses it: it will never pass as it is. Park
		// every message that asked for it in the dead-letter stream, then
		// Term it so it is not redelivered.
		b.metrics.call(resultRejected, n)
		e := c.entries[0]
		log.Warn("item rejected", "job_id", e.job.ID(), "image", e.job.Ref(), "status", v.Status,
			"error_code", v.Code, "error_msg", v.Message, "request_id", v.RequestID)
		b.deadLetter(e.msgs, ReasonRejected, v, err.Error())

	default:
		// Retry (429, 5xx, network, timeout), and any class Judge should
		// not give for an error (Accepted, unknown): HSS did not take it,
		// so ask again later. The delay grows with each message's own
		// delivery count, is capped and jittered so a backlog does not
		// come back in one wave.
		b.metrics.call(resultRetry, n)
		for _, h := range c.held() {
			b.settleWith(h, "nak", h.msg.NakWithDelay(b.backoff(h.d.NumDelivered)))
		}
		log.Warn("batch failed, will retry", "class", v.Class, "status", v.Status, "error_code", v.Code,
			"request_id", v.RequestID, "error", err)
	}
}

// partition splits a call by a Partial: the call of the items that
// remain for Partial.Err, the deferred entries and the given-up ones.
func partition(c *call, p *Partial) (rest *call, deferred, givenUp []*entry) {
	rest = &call{target: c.target, collapsed: c.collapsed}
	for _, e := range c.entries {
		k := e.job.ItemKey()
		if _, ok := p.Deferred[k]; ok {
			deferred = append(deferred, e)
		} else if _, ok := p.GivenUp[k]; ok {
			givenUp = append(givenUp, e)
		} else {
			rest.entries = append(rest.entries, e)
		}
	}
	return rest, deferred, givenUp
}

// settlePartial settles what the scanner deferred (NakWithDelay: the
// stream brings it back after the delay; not a failure, so no backoff
// growth, no bisection) or gave up (the dead-letter path with the
// scanner's reason), and returns the call of the remaining items.
func (b *batcher) settlePartial(c *call, p *Partial) *call {
	rest, deferred, givenUp := partition(c, p)
	log := b.log.With("target", c.target.Key())
	for _, e := range deferred {
		d := p.Deferred[e.job.ItemKey()]
		delay := d.Delay
		if delay <= 0 {
			delay = b.cfg.BackoffBase
		}
		delay = min(delay, maxDeferral)
		for _, h := range e.msgs {
			b.settleWith(h, "nak", h.msg.NakWithDelay(delay))
		}
		log.Debug("item deferred", "job_id", e.job.ID(), "image", e.job.Ref(), "reason", d.Reason, "delay", delay)
	}
	for _, e := range givenUp {
		g := p.GivenUp[e.job.ItemKey()]
		reason := cmp.Or(g.Reason, ReasonRejected)
		log.Warn("item given up", "job_id", e.job.ID(), "image", e.job.Ref(), "reason", reason,
			"status", g.Verdict.Status, "error_code", g.Verdict.Code, "error", g.Message)
		b.deadLetter(e.msgs, reason, g.Verdict, cmp.Or(g.Message, reason))
	}
	b.metrics.settledItems(resultDeferred, len(deferred))
	b.metrics.settledItems(resultGivenUp, len(givenUp))
	return rest
}

// backoff is the redelivery delay after the n-th delivery failed:
// base·2^(n-1), capped, minus up to BackoffJitter of it at random.
func (b *batcher) backoff(n uint64) time.Duration {
	d := b.cfg.BackoffBase
	for i := uint64(1); i < n && d < b.cfg.BackoffCap; i++ {
		d *= 2
	}
	d = min(d, b.cfg.BackoffCap)
	return d - time.Duration(float64(d)*b.cfg.BackoffJitter*b.rand())
}

// deadLetter writes one record per message, then terms the messages, in the
// background (the write waits for a PubAck) while keeping them alive. A
// message whose record could not be stored is nakked with backoff instead:
// terming it would lose the job.
func (b *batcher) deadLetter(msgs []*held, reason string, v Verdict, errMsg string) {
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		stop := b.keepAlive(msgs)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.callCtx), dlqTimeout)
		stored := make([]error, len(msgs))
		for i, h := range msgs {
			stored[i] = b.dlq.deadLetter(ctx, newDeadLetter(h, reason, v, errMsg, time.Now()))
		}
		cancel()
		stop()
		for i, h := range msgs {
			if err := stored[i]; err != nil {
				b.log.Error("store dead letter", "job_id", h.d.MsgID, "stream_seq", h.d.StreamSeq, "error", err)
				b.settleWith(h, "nak", h.msg.NakWithDelay(b.backoff(h.d.NumDelivered)))
				continue
			}
			b.metrics.deadLetter(reason)
			b.settleWith(h, "term", h.msg.TermWithReason(termReason(reason, v)))
		}
	}()
}

func termReason(reason string, v Verdict) string {
	switch reason {
	case ReasonMalformed:
		return "malformed job, dead-lettered"
	case ReasonUnknownTarget:
		return "unknown HSS target, dead-lettered"
	case ReasonNotInSWR:
		return "image unknown to HSS within the presence timeout, dead-lettered"
	case ReasonScanTimeout:
		return "no scan result within the scan timeout, dead-lettered"
	}
	return fmt.Sprintf("rejected by HSS (status %d, %s), dead-lettered", v.Status, v.Code)
}

// settleWith counts a message as no longer held once op was sent. A failed
// ack or nak is logged, not retried: the server redelivers the message after
// AckWait, which is the safe direction (a scan asked twice).
func (b *batcher) settleWith(h *held, op string, err error) {
	if err != nil {
		b.log.Warn("settle message", "op", op, "job_id", h.d.MsgID, "stream_seq", h.d.StreamSeq, "error", err)
	}
	b.settle(1)
}

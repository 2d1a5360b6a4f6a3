package queue

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetchWait is how long one pull request waits for messages. Short,
// because a graceful shutdown lets the current pull run out before it naks
// (see fetch); an idle replica pays one pull request a second for it.
const fetchWait = time.Second

// ErrClosed is returned by Run after Shutdown.
var ErrClosed = errors.New("queue: consumer closed")

// Consumer pulls jobs from the durable consumer and batches them into
// Scanner calls. Every bridge replica runs one on the same durable; the
// server spreads messages among them. Make it with Queue.NewConsumer, start
// Run in a goroutine, stop it with Shutdown.
type Consumer struct {
	q *Queue
	b *batcher

	mu    sync.Mutex
	state int // 0 new, 1 running, 2 shut down
	quit  chan struct{}
	hard  context.CancelFunc
	done  chan struct{}
}

// NewConsumer makes a consumer that calls HSS through s (not nil) for the
// jobs whose target allowed holds; it dead-letters the others
// (ReasonUnknownTarget). allowed must not be empty: a consumer that may
// send nowhere is a wiring bug, and an empty list must not quietly mean
// "anywhere" either.
func (q *Queue) NewConsumer(s Scanner, allowed Targets) *Consumer {
	if s == nil {
		panic("queue: NewConsumer with a nil Scanner")
	}
	if allowed.Len() == 0 {
		panic("queue: NewConsumer with no allowed target")
	}
	log := q.base.With("component", "queue.consumer", "durable", q.cfg.Consumer.Durable)
	log.Info("consumer targets", "allowed_targets", allowed.Keys())
	return &Consumer{
		q: q, b: newBatcher(q.cfg.Consumer, s, allowed, q, q.accepted, q.metrics, log),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
}

// Run fetches and batches until ctx is done or Shutdown is called, and
// returns once every message it held is settled. Cancelling ctx is a hard
// stop: calls in flight are cancelled and their messages nakked. Use
// Shutdown for a graceful one. It returns nil when stopped either way,
// ErrClosed if Shutdown came first, and it may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	if state := c.state; state != 0 {
		c.mu.Unlock()
		if state == 2 {
			return ErrClosed
		}
		return errors.New("queue: consumer already running")
	}
	c.state = 1
	hardCtx, hard := context.WithCancel(ctx)
	c.hard = hard
	c.mu.Unlock()
	defer close(c.done)
	defer hard()

	// stopped ends when Shutdown begins (or on a hard stop): no new pulls,
	// no more info reads.
	stopped, stopFetching := context.WithCancel(hardCtx)
	defer stopFetching()
	go func() {
		select {
		case <-c.quit:
			stopFetching()
		case <-stopped.Done():
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() { c.fetch(stopped, hardCtx) })
	wg.Go(func() { c.watchInfo(stopped) })
	c.b.run(hardCtx)
	stopFetching()
	wg.Wait()
	return nil
}

// Shutdown stops the consumer against the data flow: it stops fetching,
// naks (without delay) every message not yet sent so another replica takes
// it at once, and lets calls in flight finish until ctx is done; then it
// cancels them (their messages are nakked, never acked) and waits for Run
// to return. It returns ctx's error if it had to cut calls short. The NATS
// connection must stay open until it returns.
func (c *Consumer) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	state := c.state
	if state != 2 {
		c.state = 2
		close(c.quit)
	}
	hard := c.hard
	c.mu.Unlock()
	if state == 0 {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		hard()
		<-c.done
		return fmt.Errorf("shutdown consumer %s: in-flight calls cancelled: %w", c.q.cfg.Consumer.Durable, ctx.Err())
	}
}

// fetch pulls as many messages as there is room for and hands them to the
// batcher. Sizing each pull to the free room (never more than MaxHeld held)
// is what keeps a large backlog in the stream rather than in memory, and
// avoids the client-side pre-buffering that nats.go#1929 describes:
// nothing is delivered to this replica that the batcher is not ready to
// keep alive.
//
// When stopped ends it starts no new pull but lets the current one run out
// (at most fetchWait), and only then closes the batcher's input, which naks
// the unsent messages. In that order the server has already dropped this
// replica's pull request when the naks arrive, so it hands those messages
// to another replica at once instead of back into a pull that is being
// abandoned (where they would sit until AckWait). A hard stop (hard done)
// cancels the pull at once and accepts that cost.
func (c *Consumer) fetch(stopped, hard context.Context) {
	defer c.b.closeInput()
	log := c.b.log
	var pause time.Duration
	for {
		if pause > 0 {
			select {
			case <-time.After(pause):
			case <-stopped.Done():
				return
			}
		}
		if stopped.Err() != nil {
			return
		}
		free := c.b.free()
		if free <= 0 {
			select {
			case <-c.b.room:
			case <-stopped.Done():
				return
			}
			continue
		}
		pullCtx, cancel := context.WithTimeout(hard, fetchWait)
		batch, err := c.q.consumer.Fetch(free, jetstream.FetchContext(pullCtx))
		if err != nil {
			cancel()
			pause = nextPause(pause)
			log.Warn("fetch", "error", err, "retry_in", pause)
			continue
		}
		for msgs := range chunks(batch.Messages(), admitChunk) {
			// After a hard stop, admit naks what still arrives.
			c.b.admit(hard, msgs)
		}
		cancel()
		switch err := batch.Error(); {
		case err == nil || hard.Err() != nil || errors.Is(err, context.DeadlineExceeded):
			pause = 0
		default:
			pause = nextPause(pause)
			log.Warn("fetch", "error", err, "retry_in", pause)
		}
	}
}

// admitChunk is the most fetched messages looked up in the accepted set
// together; a full fetch (MaxHeld) is admitted in a few chunks, so the
// first ones reach the loop while later ones are still looked up.
const admitChunk = 256

// chunks yields the messages of a pull in slices of at most limit: each
// slice is what had arrived when the previous one was admitted (at least
// one message), so a chunk waits for no message that is not there yet.
func chunks(msgs <-chan jetstream.Msg, limit int) iter.Seq[[]message] {
	return func(yield func([]message) bool) {
		for m := range msgs {
			chunk := []message{wrapJS(m)}
		drain:
			for len(chunk) < limit {
				select {
				case m, ok := <-msgs:
					if !ok {
						break drain
					}
					chunk = append(chunk, wrapJS(m))
				default:
					break drain
				}
			}
			if !yield(chunk) {
				return
			}
		}
	}
}

// nextPause backs off fetch errors from 100ms to 10s so a lost server
// does not turn into a busy loop.
func nextPause(p time.Duration) time.Duration {
	return min(max(2*p, 100*time.Millisecond), 10*time.Second)
}

// watchInfo refreshes the pending gauges from consumer info and the
// stream fill gauges from stream info: two periodic reads per replica, so
// a scrape never waits on NATS.
func (c *Consumer) watchInfo(ctx context.Context) {
	if c.q.metrics == nil {
		return
	}
	t := time.NewTicker(c.q.cfg.Consumer.InfoInterval)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := c.q.consumer.Info(ictx)
		cancel()
		if err == nil {
			c.q.metrics.consumerInfo(info.NumPending, info.NumAckPending)
		} else if ctx.Err() == nil {
			c.b.log.Debug("consumer info", "error", err)
		}
		ictx, cancel = context.WithTimeout(ctx, 5*time.Second)
		sinfo, err := c.q.stream.Info(ictx)
		cancel()
		if err == nil {
			c.q.metrics.streamInfo(sinfo.State.Bytes, sinfo.Config.MaxBytes)
		} else if ctx.Err() == nil {
			c.b.log.Debug("stream info", "error", err)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

package main

import (
	"context"
	"sync"
)

// loops are long-running goroutines of serve that stop together: the
// sources' pollers and the schedules' clocks. Their context outlives
// serve's own (a shutdown stops them in order, after the intake), so a
// poll or a scheduled run never sees the signal before the rest of the
// bridge is ready for it to stop.
type loops struct {
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func startLoops(parent context.Context) *loops {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &loops{ctx: ctx, stop: cancel}
}

// goRun runs fn(ctx) until shutdown.
func (l *loops) goRun(fn func(ctx context.Context)) { l.wg.Go(func() { fn(l.ctx) }) }

// shutdown cancels the loops and waits for them to return: a poller gives
// its lease up, a scheduled run under way ends (a full scan waiting for
// its permit gives up, a rescan stops sending). nil is a no-op.
func (l *loops) shutdown() {
	if l == nil {
		return
	}
	l.stop()
	l.wg.Wait()
}

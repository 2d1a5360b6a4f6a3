package main

import (
	"context"
	"log/slog"
)

// durationsAsText is a slog.Handler that writes time.Duration values as
// Go writes them ("30s", "1m30s"): slog's JSON handler would write their
// nanoseconds (30000000000), which an operator reading a log line should
// not have to convert.
//
// A handler rather than slog.HandlerOptions.ReplaceAttr: ReplaceAttr runs
// for every attribute of every record, the built-in ones too, and cost
// the intake's one line per webhook about 0.6 µs more (+45 %, measured
// with BenchmarkLogLine in logger_test.go). This looks at a record's
// attributes once, without allocating, and rebuilds only a record that
// holds a duration; attributes given to With are converted once.
type durationsAsText struct{ slog.Handler }

func (h durationsAsText) Handle(ctx context.Context, r slog.Record) error {
	has := false
	r.Attrs(func(a slog.Attr) bool { has = hasDuration(a); return !has })
	if !has {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(durationText(a)); return true })
	return h.Handler.Handle(ctx, out)
}

func (h durationsAsText) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = durationText(a)
	}
	return durationsAsText{h.Handler.WithAttrs(out)}
}

func (h durationsAsText) WithGroup(name string) slog.Handler {
	return durationsAsText{h.Handler.WithGroup(name)}
}

// hasDuration reports whether a is a duration or a group holding one.
func hasDuration(a slog.Attr) bool {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return true
	case slog.KindGroup:
		for _, g := range a.Value.Group() {
			if hasDuration(g) {
				return true
			}
		}
	}
	return false
}

// durationText is a with its durations, in groups too, as text.
func durationText(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		a.Value = slog.StringValue(a.Value.Duration().String())
	case slog.KindGroup:
		g := a.Value.Group()
		out := make([]slog.Attr, len(g))
		for i := range g {
			out[i] = durationText(g[i])
		}
		a.Value = slog.GroupValue(out...)
	}
	return a
}

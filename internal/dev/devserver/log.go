package devserver

import (
	"context"
	"log/slog"
	"os"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts the Temporal server's log.Logger to slog, so the server's messages
// land in the dev stack's one log stream, with a floor level: at info the server writes
// dozens of lines per second about shards, task queues and membership, which would drown
// the application's own logs.
//
// Tags are kept as tags and only rendered when a message passes the level, because
// rendering a zap tag is not free and the server logs far more than it shows.
type serverLogger struct {
	l    *slog.Logger
	min  slog.Leveler // a *slog.LevelVar: Server.Stop raises it to hush the shutdown noise
	tags []tag.Tag
}

var (
	_ log.Logger     = (*serverLogger)(nil)
	_ log.WithLogger = (*serverLogger)(nil)
)

func newServerLogger(l *slog.Logger, min slog.Leveler) *serverLogger {
	return &serverLogger{l: l.With("component", "temporal"), min: min}
}

func (s *serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s *serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s *serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s *serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic only logs, at error level (zap does the same outside development mode).
func (s *serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic logs at error level and panics, as the server expects.
func (s *serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic("temporal server: " + msg)
}

// Fatal logs at error level and exits with status 1, as zap would: the server calls it
// where it cannot go on (e.g. a service could not bind its port) and its code after the
// call assumes it never returns; returning would only turn a clear message into a nil
// pointer panic. What the process started survives the exit but is taken care of:
// children get SIGTERM through their parent-death signal and pgcluster takes over a
// leftover PostgreSQL on the next start.
func (s *serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	os.Exit(1)
}

// With returns a logger that adds tags to every message; implementing it saves the
// server's slower generic prepender.
func (s *serverLogger) With(tags ...tag.Tag) log.Logger {
	all := make([]tag.Tag, 0, len(s.tags)+len(tags))
	all = append(append(all, s.tags...), tags...)
	return &serverLogger{l: s.l, min: s.min, tags: all}
}

func (s *serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level < s.min.Level() || !s.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(s.tags)+len(tags))
	for _, t := range s.tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	s.l.LogAttrs(ctx, level, msg, attrs...)
}

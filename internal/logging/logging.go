// Package logging builds the process's slog logger from configuration, so every binary logs
// the same way (text for people, JSON for collectors).
package logging

import (
	"io"
	"log/slog"
)

// New returns a logger at level ("debug", "info", "warn", "error") in format ("text" or
// "json"); unknown values fall back to info and text (config validates them first).
func New(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

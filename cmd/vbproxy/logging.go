package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger builds the process logger from log.level and log.format.
func newLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch c.Level {
	case "debug":
		level = slog.LevelDebug
	case "info", "":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("log.level: unknown level %q", c.Level)
	}
	ho := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("log.format: unknown format %q", c.Format)
}

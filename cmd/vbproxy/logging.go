package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger builds the process logger from log.level and log.format. Its
// level is the returned LevelVar, which a config reload sets.
func newLogger(c LogConfig, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	level, err := logLevel(c.Level)
	if err != nil {
		return nil, nil, err
	}
	lv := new(slog.LevelVar)
	lv.Set(level)
	ho := &slog.HandlerOptions{Level: lv}
	switch c.Format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, ho)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), lv, nil
	}
	return nil, nil, fmt.Errorf("log.format: unknown format %q", c.Format)
}

// logLevel parses log.level.
func logLevel(name string) (slog.Level, error) {
	switch name {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level: unknown level %q", name)
}

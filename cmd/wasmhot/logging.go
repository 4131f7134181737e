package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// eventQueueBytes bounds the node's event lines waiting for a slow stderr
// (internal/logbuf): past it they are dropped and counted, so that a
// stuck stderr never holds up a load, a purge or an exit.
const eventQueueBytes = 1 << 20

// logFlags reads --log-format (text or json) and --log-level (debug,
// info, warn or error).
func logFlags(format, level string) (json bool, lv slog.Level, err error) {
	if err := lv.UnmarshalText([]byte(level)); err != nil || strings.ContainsAny(level, "+-") {
		return false, 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "text", "json":
		return format == "json", lv, nil
	}
	return false, 0, fmt.Errorf("--log-format %q: want text or json", format)
}

// newLogger returns the logger of a node's events, writing to w.
func newLogger(w io.Writer, json bool, lv slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// say tells the operator something about the node itself (listening,
// stopped, a warning): as a line "wasmhot: ..." on stderr, or, with
// --log-format json, as a record of the event logger, so that stderr is
// all JSON. Either way it goes through the events' queue, in order with
// them.
func (n *node) say(level slog.Level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n.jsonLog {
		n.logger.Log(context.Background(), level, msg)
		return
	}
	if level >= slog.LevelWarn {
		msg = "warning: " + msg
	}
	fmt.Fprintf(n.events, "wasmhot: %s\n", msg)
}

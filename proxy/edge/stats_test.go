package edge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// records is a slog.Handler that keeps what is logged.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) lines() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, rec := range r.recs {
		m := map[string]string{"level": rec.Level.String(), "msg": rec.Message}
		rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		out = append(out, m)
	}
	return out
}

// A flood of refusals for one reason logs one warning per LogEvery with
// the count of lines left out; other reasons have their own budget, and
// clients that just close are logged at debug level only.
func TestRefusalLogRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &records{}
		l := refusalLog{log: slog.New(rec)}
		untrusted := &RefusedError{Reason: ReasonUntrusted, Remote: "127.0.0.3:1", Err: errors.New("x")}
		for range 5 {
			l.refused(untrusted)
		}
		l.refused(&RefusedError{Reason: ReasonBadHeader, Remote: "127.0.0.2:1", Err: errors.New("y")})
		l.refused(&RefusedError{Reason: ReasonClosed, Remote: "127.0.0.2:2", Err: errors.New("EOF")})
		time.Sleep(LogEvery)
		l.refused(untrusted)

		got := rec.lines()
		want := []map[string]string{
			{"level": "WARN", "msg": "client connection refused", "remote": "127.0.0.3:1", "reason": "untrusted_source", "err": "x", "suppressed": "0"},
			{"level": "WARN", "msg": "client connection refused", "remote": "127.0.0.2:1", "reason": "bad_proxy_header", "err": "y", "suppressed": "0"},
			{"level": "DEBUG", "msg": "client connection refused", "remote": "127.0.0.2:2", "reason": "closed_by_client", "err": "EOF"},
			{"level": "WARN", "msg": "client connection refused", "remote": "127.0.0.3:1", "reason": "untrusted_source", "err": "x", "suppressed": "4"},
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d: %v", len(got), len(want), got)
		}
		for i := range want {
			for k, v := range want[i] {
				if got[i][k] != v {
					t.Errorf("line %d %s = %q, want %q (%v)", i, k, got[i][k], v, got[i])
				}
			}
			if len(got[i]) != len(want[i]) {
				t.Errorf("line %d has keys %v, want %v", i, got[i], want[i])
			}
		}
	})
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := range Reason(NumReasons) {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("Reason(%d) name %q empty or repeated", r, s)
		}
		seen[s] = true
	}
	if got := Reason(NumReasons).String(); got != "Reason(7)" {
		t.Errorf("out of range: %q", got)
	}
}

package slowlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// lines is a concurrency-safe JSON log sink.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records decodes the lines without the time attribute.
func (l *lines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

func jsonLogger(w *lines) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

// manual starts l's writer on tick channels the test drives.
func manual(l *Log) (second, report chan time.Time) {
	second, report = make(chan time.Time), make(chan time.Time)
	go l.write(second, report)
	return second, report
}

func sameJSON(t *testing.T, what string, got []map[string]any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", what, err)
	}
	wb, _ := json.Marshal(w)
	if string(g) != string(wb) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, wb)
	}
}

var slowGet = Request{
	Op: memcached.OpGet, VBucket: 17, Node: "127.0.0.12:11210", Duration: 150 * time.Millisecond,
	Retries: 1, Status: memcached.StatusSuccess, Key: []byte("user:42"),
}

func TestLineWithoutKey(t *testing.T) {
	var out lines
	l := New(Options{Logger: jsonLogger(&out)})
	l.Slow(slowGet)
	l.Close()
	sameJSON(t, "lines", out.records(t), `[{"level":"WARN","msg":"slow request","op":"GET","vbucket":17,
		"node":"127.0.0.12:11210","duration":150000000,"retries":1,"status":"SUCCESS"}]`)
}

func TestLineWithKeys(t *testing.T) {
	var out lines
	l := New(Options{Logger: jsonLogger(&out), Keys: true})
	l.Slow(slowGet)
	bin := slowGet
	bin.Op, bin.Status, bin.Key = memcached.OpSetQ, memcached.StatusETMPFAIL, []byte{0, 'a', 0xff}
	l.Slow(bin)
	l.SetKeys(false)
	l.Slow(slowGet)
	l.Close()
	sameJSON(t, "lines", out.records(t), `[
		{"level":"WARN","msg":"slow request","op":"GET","vbucket":17,"node":"127.0.0.12:11210","duration":150000000,"retries":1,"status":"SUCCESS","key":"user:42"},
		{"level":"WARN","msg":"slow request","op":"SETQ","vbucket":17,"node":"127.0.0.12:11210","duration":150000000,"retries":1,"status":"ETMPFAIL","key_b64":"AGH/"},
		{"level":"WARN","msg":"slow request","op":"GET","vbucket":17,"node":"127.0.0.12:11210","duration":150000000,"retries":1,"status":"SUCCESS"}]`)
}

func TestLongKeyTruncated(t *testing.T) {
	var out lines
	l := New(Options{Logger: jsonLogger(&out), Keys: true})
	r := slowGet
	r.Key = bytes.Repeat([]byte("k"), memcached.MaxKeyLen+10)
	l.Slow(r)
	l.Close()
	recs := out.records(t)
	if len(recs) != 1 || recs[0]["key"] != strings.Repeat("k", memcached.MaxKeyLen) || recs[0]["key_truncated"] != true {
		t.Errorf("got %v, want the first %d bytes of the key and key_truncated", recs, memcached.MaxKeyLen)
	}
}

func TestRateLimitCountsDropped(t *testing.T) {
	var out lines
	l := newLog(Options{Logger: jsonLogger(&out), Rate: 3, Queue: 10, DropReport: time.Hour})
	second, report := manual(l)
	for range 10 {
		l.Slow(slowGet)
	}
	if got := l.Dropped(); got != 7 {
		t.Errorf("Dropped = %d, want 7 (10 requests, budget 3)", got)
	}
	waitRecords(t, &out, 3)
	report <- time.Time{} // logs the 7
	waitRecords(t, &out, 4)
	// A new second: a new budget of 3. The writer is one goroutine, so the
	// second send returns only after the first reset is done.
	second <- time.Time{}
	second <- time.Time{}
	for range 4 {
		l.Slow(slowGet)
	}
	l.Close() // writes the 3 and reports the last 1
	var msgs []string
	var dropped []float64
	for _, r := range out.records(t) {
		msgs = append(msgs, r["msg"].(string))
		if r["msg"] == "slow requests not logged" {
			dropped = append(dropped, r["dropped"].(float64))
			if r["rate_limit"] != float64(3) || r["interval"] != float64(time.Hour) {
				t.Errorf("report %v: want rate_limit 3 and interval 1h", r)
			}
		}
	}
	want := "slow request,slow request,slow request,slow requests not logged,slow request,slow request,slow request,slow requests not logged"
	if strings.Join(msgs, ",") != want {
		t.Errorf("messages:\n got %s\nwant %s", strings.Join(msgs, ","), want)
	}
	if len(dropped) != 2 || dropped[0] != 7 || dropped[1] != 1 {
		t.Errorf("dropped reports = %v, want [7 1]", dropped)
	}
}

// waitRecords waits until out holds n lines (hang guard 10s).
func waitRecords(t *testing.T, out *lines, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(out.records(t)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d log lines after 10s, want %d", len(out.records(t)), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockingHandler holds the writer inside its first line until released.
type blockingHandler struct {
	slog.Handler
	entered, release chan struct{}
	once             sync.Once
}

func (h *blockingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.once.Do(func() { close(h.entered); <-h.release })
	return h.Handler.Handle(ctx, r)
}

func TestFullQueueNeverBlocks(t *testing.T) {
	var out lines
	h := &blockingHandler{Handler: slog.NewJSONHandler(&out, nil), entered: make(chan struct{}), release: make(chan struct{})}
	l := newLog(Options{Logger: slog.New(h), Rate: 1000, Queue: 2, DropReport: time.Hour})
	manual(l)
	l.Slow(slowGet) // taken by the writer, which then blocks
	<-h.entered
	for range 10 { // 2 fit in the queue, 8 are dropped: none may block
		l.Slow(slowGet)
	}
	if got := l.Dropped(); got != 8 {
		t.Errorf("Dropped = %d, want 8 (queue of 2 full)", got)
	}
	close(h.release)
	l.Close()
	n := 0
	for _, r := range out.records(t) {
		if r["msg"] == "slow request" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d lines written, want 3", n)
	}
}

func TestSlowDoesNotAllocate(t *testing.T) {
	l := newLog(Options{Keys: true, Rate: 1 << 30, Queue: 1})
	// No writer: the first call fills the queue, the rest take the drop path
	// after copying the key; neither may allocate.
	if n := testing.AllocsPerRun(1000, func() { l.Slow(slowGet) }); n != 0 {
		t.Errorf("Slow allocates %.1f times per call, want 0", n)
	}
	over := newLog(Options{Rate: 1})
	if n := testing.AllocsPerRun(1000, func() { over.Slow(slowGet) }); n != 0 {
		t.Errorf("Slow over the budget allocates %.1f times per call, want 0", n)
	}
}

func BenchmarkSlow(b *testing.B) {
	l := New(Options{Keys: true, Rate: 1})
	defer l.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Slow(slowGet)
		}
	})
}

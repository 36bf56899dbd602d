package upstream

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Packet builders.
func setPacket(opaque uint32, key, value string) []byte {
	extras := make([]byte, 8) // flags, expiry
	return memcached.AppendRequest(nil, memcached.OpSet, 0, opaque, 0, extras, []byte(key), []byte(value))
}

func getPacket(opaque uint32, key string) []byte {
	return memcached.AppendRequest(nil, memcached.OpGet, 0, opaque, 0, nil, []byte(key), nil)
}

// chanDone delivers completed requests on a channel.
type chanDone chan *Request

func (c chanDone) Complete(r *Request) { c <- r }

// onceDone counts completions per request and fails the test on a second
// completion of the same send.
type onceDone struct {
	t     testing.TB
	mu    sync.Mutex
	count map[*Request]int
	ch    chan *Request
}

func newOnceDone(t testing.TB, n int) *onceDone {
	return &onceDone{t: t, count: map[*Request]int{}, ch: make(chan *Request, n)}
}

func (d *onceDone) Complete(r *Request) {
	d.mu.Lock()
	d.count[r]++
	n := d.count[r]
	d.mu.Unlock()
	if n > 1 {
		d.t.Errorf("request with opaque %d completed %d times", r.opaque, n)
		return
	}
	d.ch <- r
}

// wait receives n completions or fails after a generous bound.
func (d *onceDone) wait(t testing.TB, n int) []*Request {
	t.Helper()
	out := make([]*Request, 0, n)
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case r := <-d.ch:
			out = append(out, r)
		case <-timeout:
			t.Fatalf("got %d completions, want %d", len(out), n)
		}
	}
	return out
}

// stateLog records OnState and OnError calls.
type stateLog struct {
	mu     sync.Mutex
	states []State
	errs   map[string]int
	ch     chan State
}

func newStateLog() *stateLog {
	return &stateLog{errs: map[string]int{}, ch: make(chan State, 1024)}
}

func (l *stateLog) onState(_ string, s State) {
	l.mu.Lock()
	l.states = append(l.states, s)
	l.mu.Unlock()
	select {
	case l.ch <- s:
	default:
	}
}

func (l *stateLog) onError(_ string, kind string) {
	l.mu.Lock()
	l.errs[kind]++
	l.mu.Unlock()
}

func (l *stateLog) errCount(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs[kind]
}

func (l *stateLog) history() []State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]State(nil), l.states...)
}

func (l *stateLog) options(o Options) Options {
	o.OnState = l.onState
	o.OnError = l.onError
	return o
}

// waitState waits until the pool reports state s.
func waitState(t testing.TB, p *Pool, s State) {
	t.Helper()
	waitFor(t, fmt.Sprintf("pool %s state %s", p.Addr(), s), func() bool { return p.State() == s })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// roundTrip sends one request and waits for it.
func roundTrip(t testing.TB, p *Pool, pkt []byte) *Request {
	t.Helper()
	done := make(chanDone, 1)
	r := &Request{Packet: pkt, Done: done}
	if err := p.Send(r); err != nil {
		t.Fatalf("Send(%s): %v", memcached.Opcode(pkt[1]), err)
	}
	select {
	case got := <-done:
		return got
	case <-time.After(20 * time.Second):
		t.Fatalf("no completion for %s", memcached.Opcode(pkt[1]))
		return nil
	}
}

// mustSetGet stores key=value through p and reads it back.
func mustSetGet(t testing.TB, p *Pool, key, value string) {
	t.Helper()
	r := roundTrip(t, p, setPacket(7, key, value))
	if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
		t.Fatalf("SET %s: err %v status %s, want success", key, r.Err, r.Resp.Status)
	}
	r = roundTrip(t, p, getPacket(8, key))
	if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
		t.Fatalf("GET %s: err %v status %s, want success", key, r.Err, r.Resp.Status)
	}
	if got := string(respValue(r)); got != value {
		t.Fatalf("GET %s = %q, want %q", key, got, value)
	}
}

// respValue returns the value of r's response.
func respValue(r *Request) []byte {
	h := r.Resp
	return r.RespBuf[memcached.HeaderLen+int(h.ExtrasLen)+int(h.KeyLen):]
}

func wireOpaque(pkt []byte) uint32 { return binary.BigEndian.Uint32(pkt[12:16]) }

// goroutineBaseline records the goroutine count and, at cleanup, checks that
// it settles back.
func checkGoroutines(t *testing.T) func() {
	base := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutines: %d after close, want <= %d (leak)", n, base)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

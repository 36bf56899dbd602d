package proxy

import (
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// recObserver records Observer calls.
type recObserver struct {
	mu       sync.Mutex
	requests []string
	conns    map[ConnEvent]int
	upstream map[string]UpstreamState
	nmvb     int
	in, out  int
}

func newRecObserver() *recObserver {
	return &recObserver{conns: map[ConnEvent]int{}, upstream: map[string]UpstreamState{}}
}

func (o *recObserver) Request(op memcached.Opcode, st memcached.Status, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		panic("negative latency")
	}
	o.requests = append(o.requests, op.String()+" "+st.String())
}
func (o *recObserver) ClientConn(e ConnEvent) { o.mu.Lock(); o.conns[e]++; o.mu.Unlock() }
func (o *recObserver) UpstreamConn(node string, s UpstreamState) {
	o.mu.Lock()
	o.upstream[node] = s
	o.mu.Unlock()
}
func (o *recObserver) NMVBRetry()                   { o.mu.Lock(); o.nmvb++; o.mu.Unlock() }
func (o *recObserver) UpstreamError(string, string) {}
func (o *recObserver) Bytes(in, out int)            { o.mu.Lock(); o.in += in; o.out += out; o.mu.Unlock() }

func TestObserver(t *testing.T) {
	obs := newRecObserver()
	c, srv, addr, _ := simCluster(t, sim.Options{}, Options{Observer: obs, MaxConns: 1})
	cl := dial(t, addr)
	var p []byte
	p = append(p, req(memcached.OpSetQ, 1, setExtras(0, 0), []byte("obs"), []byte("v"))...)
	p = append(p, req(memcached.OpGetQ, 2, nil, []byte("obs-missing"), nil)...)
	p = append(p, req(memcached.OpGet, 3, nil, []byte("obs"), nil)...)
	p = append(p, req(memcached.OpNoop, 4, nil, nil, nil)...)
	cl.write(p)
	for range 2 {
		cl.read()
	}
	dial(t, addr).expectClosed() // refused: MaxConns 1
	cl.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().ConnsCurrent != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := srv.Stats()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"SETQ SUCCESS", "GETQ KEY_ENOENT", "GET SUCCESS", "NOOP SUCCESS"}
	if len(obs.requests) != len(want) {
		t.Fatalf("Request calls %q, want %q", obs.requests, want)
	}
	for i := range want {
		if obs.requests[i] != want[i] {
			t.Errorf("Request[%d] = %q, want %q", i, obs.requests[i], want[i])
		}
	}
	if obs.conns[ConnAccepted] != 1 || obs.conns[ConnClosed] != 1 || obs.conns[ConnRefused] != 1 {
		t.Errorf("ClientConn events %v, want one of each", obs.conns)
	}
	if uint64(obs.in) != st.BytesIn || uint64(obs.out) != st.BytesOut || obs.in != len(p) {
		t.Errorf("Bytes in %d out %d; Stats in %d out %d; sent %d", obs.in, obs.out, st.BytesIn, st.BytesOut, len(p))
	}
	for _, n := range c.Nodes() {
		if obs.upstream[n.KVAddr()] != UpstreamUp {
			t.Errorf("UpstreamConn for %s: %v, want up", n.KVAddr(), obs.upstream[n.KVAddr()])
		}
	}
	if st.Requests != 4 || st.GetMisses != 1 || st.GetHits != 1 || st.Local != 1 {
		t.Errorf("Stats %+v", st)
	}
}

func TestOptionsValidation(t *testing.T) {
	src := newTestSource(nil)
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"no map", Options{}, false},
		{"zero value with map", Options{Map: src}, true},
		{"negative pool size", Options{Map: src, PoolSize: -1}, false},
		{"negative timeout", Options{Map: src, OperationTimeout: -time.Second}, false},
		{"pipeline too deep", Options{Map: src, PipelineDepth: 1 << 20}, false},
		{"empty user name", Options{Map: src, Users: map[string]string{"": "x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(tt.o)
			if (err == nil) != tt.ok {
				t.Fatalf("New: err %v, want ok=%v", err, tt.ok)
			}
			if srv != nil {
				must(t, srv.Shutdown(t.Context()))
				if srv.Ready() {
					t.Errorf("Ready after Shutdown")
				}
			}
		})
	}
}

func TestReady(t *testing.T) {
	src := newTestSource(nil)
	srv, err := New(Options{Map: src})
	must(t, err)
	if srv.Ready() {
		t.Fatalf("Ready before Serve and without a map")
	}
	nodes := []string{startMemcached(t)}
	src.Set(staticMap(t, 1, nodes, 64))
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	waitFor(t, srv.Ready)
	must(t, srv.Shutdown(t.Context()))
	if err := <-done; err != ErrServerClosed {
		t.Fatalf("Serve = %v, want ErrServerClosed", err)
	}
	if err := srv.Serve(listen(t)); err != ErrServerClosed {
		t.Fatalf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

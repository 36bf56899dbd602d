package upstream

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/xdg-go/scram"
)

// fakeKV is a small Couchbase KV server for the behaviour a real memcached
// cannot show: HELLO, SASL (PLAIN and SCRAM-SHA1/256/512 through the xdg-go
// server), SELECT_BUCKET, and failures on demand (hang, drop, close, delay,
// hold the handshake, stop reading).
type fakeKV struct {
	cfg  fakeConfig
	ln   net.Listener
	addr string
	wg   sync.WaitGroup

	scramMu sync.Mutex
	scram   map[string]*scram.Server // by mechanism

	mu         sync.Mutex
	conns      map[net.Conn]int // by accept sequence number
	accepts    []time.Time      // when each connection was accepted
	store      map[string][]byte
	hang       bool          // read everything, answer nothing
	dropData   bool          // answer the handshake, not data requests
	gateKey    string        // data requests for this key ("*": any) wait for gate
	gate       chan struct{} // closed by openGate
	hsGate     chan struct{} // non-nil: handshake answers wait until it is closed
	paused     chan struct{} // non-nil: connections stop reading until it is closed
	mechs      []string
	selects    int
	handshakes int // handshake requests read
	hellos     []fakeHello
	dataReqs   int // data requests read (answered or not)
	closed     bool
}

type fakeConfig struct {
	Mechs          string            // advertised SASL mechanisms; "" = SASL unsupported
	Users          map[string]string // SASL users; nil = no auth required
	Buckets        []string          // known buckets; nil = SELECT_BUCKET unsupported
	NoHello        bool              // HELLO answers UNKNOWN_COMMAND
	BadServerFinal bool              // SCRAM server-final carries a wrong signature
	Delay          map[string]time.Duration
	ReadBuffer     int         // SO_RCVBUF of accepted connections; 0 = the kernel's
	TLS            *tls.Config // non-nil: the server speaks TLS
}

func startFakeKV(t testing.TB, cfg fakeConfig) *fakeKV {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	f := &fakeKV{cfg: cfg, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]int{},
		store: map[string][]byte{}, scram: map[string]*scram.Server{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeKV) accept() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			nc.Close()
			return
		}
		f.conns[nc] = len(f.accepts)
		f.accepts = append(f.accepts, time.Now())
		f.mu.Unlock()
		if tc, ok := nc.(*net.TCPConn); ok && f.cfg.ReadBuffer > 0 {
			_ = tc.SetReadBuffer(f.cfg.ReadBuffer)
		}
		f.wg.Add(1)
		go f.serve(nc)
	}
}

func (f *fakeKV) close() {
	f.ln.Close()
	f.openGate()
	f.releaseHandshake()
	f.resume()
	f.mu.Lock()
	f.closed = true
	for nc := range f.conns {
		nc.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// closeConns closes every accepted connection; the listener stays open.
func (f *fakeKV) closeConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for nc := range f.conns {
		nc.Close()
	}
}

// closeOldest closes the connection accepted first among those open.
func (f *fakeKV) closeOldest() {
	f.mu.Lock()
	defer f.mu.Unlock()
	var oldest net.Conn
	for nc, seq := range f.conns {
		if oldest == nil || seq < f.conns[oldest] {
			oldest = nc
		}
	}
	if oldest != nil {
		oldest.Close()
	}
}

// openConns is the number of connections the server has open.
func (f *fakeKV) openConns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// acceptTimes returns when each connection was accepted, in order.
func (f *fakeKV) acceptTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.accepts...)
}

// holdHandshake makes the server hold its answers to handshake requests
// (HELLO, SASL, SELECT_BUCKET) until releaseHandshake.
func (f *fakeKV) holdHandshake() {
	f.mu.Lock()
	f.hsGate = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeKV) releaseHandshake() {
	f.mu.Lock()
	if f.hsGate != nil {
		close(f.hsGate)
	}
	f.hsGate = nil
	f.mu.Unlock()
}

// pause makes every connection stop reading (after the request it is
// reading now) until resume: the client's writes fill the socket buffers.
func (f *fakeKV) pause() {
	f.mu.Lock()
	f.paused = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeKV) resume() {
	f.mu.Lock()
	if f.paused != nil {
		close(f.paused)
	}
	f.paused = nil
	f.mu.Unlock()
}

// counts returns the handshake and data requests read so far.
func (f *fakeKV) counts() (handshakes, data int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handshakes, f.dataReqs
}

func (f *fakeKV) setHang(v bool) {
	f.mu.Lock()
	f.hang = v
	f.mu.Unlock()
}

func (f *fakeKV) setDropData(v bool) {
	f.mu.Lock()
	f.dropData = v
	f.mu.Unlock()
}

// closeGate makes the server hold its answers to data requests for key ("*"
// for every key), in order, until openGate.
func (f *fakeKV) closeGate(key string) {
	f.mu.Lock()
	f.gateKey, f.gate = key, make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeKV) openGate() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate)
	}
	f.gateKey, f.gate = "", nil
	f.mu.Unlock()
}

func (f *fakeKV) mechsUsed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.mechs...)
}

func (f *fakeKV) selectCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.selects
}

// fakeHello is a HELLO the server received: the agent (key) and the
// features asked for.
type fakeHello struct {
	agent string
	feats []uint16
}

// hellosSeen returns the HELLOs received, in order.
func (f *fakeKV) hellosSeen() []fakeHello {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeHello(nil), f.hellos...)
}

// fakeSession is one connection's server-side state.
type fakeSession struct {
	authed bool
	bucket string
	conv   *scram.ServerConversation
}

func (f *fakeKV) serve(nc net.Conn) {
	defer f.wg.Done()
	defer func() {
		nc.Close()
		f.mu.Lock()
		delete(f.conns, nc)
		f.mu.Unlock()
	}()
	rd := memcached.NewReader(nc, memcached.ReaderOptions{})
	bw := bufio.NewWriter(nc)
	var s fakeSession
	var pkt memcached.Packet
	var out []byte
	for {
		f.mu.Lock()
		paused := f.paused
		f.mu.Unlock()
		if paused != nil {
			if bw.Flush() != nil {
				return
			}
			<-paused
		}
		if err := rd.ReadRequest(&pkt); err != nil {
			return
		}
		hs := isHandshake(pkt.Opcode)
		f.mu.Lock()
		if hs {
			f.handshakes++
		} else {
			f.dataReqs++
		}
		drop := f.hang || (f.dropData && !hs)
		var gate chan struct{}
		if hs {
			gate = f.hsGate
		} else if f.gateKey == "*" || f.gateKey == string(pkt.Key) {
			gate = f.gate
		}
		f.mu.Unlock()
		if drop {
			continue
		}
		if gate != nil {
			if bw.Flush() != nil {
				return
			}
			<-gate
		}
		if d := f.cfg.Delay[string(pkt.Key)]; d > 0 {
			if bw.Flush() != nil {
				return
			}
			time.Sleep(d)
		}
		out = f.handle(&s, &pkt, out[:0])
		if _, err := bw.Write(out); err != nil {
			return
		}
		if rd.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}

func isHandshake(op memcached.Opcode) bool {
	switch op {
	case memcached.OpHello, memcached.OpSASLList, memcached.OpSASLAuth, memcached.OpSASLStep, memcached.OpSelectBucket:
		return true
	}
	return false
}

func (f *fakeKV) handle(s *fakeSession, p *memcached.Packet, out []byte) []byte {
	h := &p.Header
	ok := func(extras, value []byte) []byte {
		return memcached.AppendResponse(out, h, memcached.StatusSuccess, 0, extras, nil, value)
	}
	fail := func(st memcached.Status, msg string) []byte { return memcached.AppendError(out, h, st, msg) }
	switch h.Opcode {
	case memcached.OpHello:
		hello := fakeHello{agent: string(p.Key), feats: []uint16{}}
		for v := p.Value; len(v) >= 2; v = v[2:] {
			hello.feats = append(hello.feats, binary.BigEndian.Uint16(v))
		}
		f.mu.Lock()
		f.hellos = append(f.hellos, hello)
		f.mu.Unlock()
		if f.cfg.NoHello {
			return fail(memcached.StatusUnknownCommand, "Unknown command")
		}
		var feats []byte
		for v := p.Value; len(v) >= 2; v = v[2:] {
			if c := binary.BigEndian.Uint16(v); c == featureXError || c == featureSelectBucket {
				feats = append(feats, v[:2]...)
			}
		}
		return ok(nil, feats)
	case memcached.OpSASLList:
		if f.cfg.Mechs == "" {
			return fail(memcached.StatusUnknownCommand, "Unknown command")
		}
		return ok(nil, []byte(f.cfg.Mechs))
	case memcached.OpSASLAuth:
		mech := string(p.Key)
		f.mu.Lock()
		f.mechs = append(f.mechs, mech)
		f.mu.Unlock()
		if !strings.Contains(" "+f.cfg.Mechs+" ", " "+mech+" ") {
			return fail(memcached.StatusAuthError, "Auth failure")
		}
		if mech == "PLAIN" {
			parts := bytes.Split(p.Value, []byte{0})
			if len(parts) == 3 && f.cfg.Users != nil {
				if pw, found := f.cfg.Users[string(parts[1])]; found && pw == string(parts[2]) {
					s.authed = true
					return ok(nil, []byte("Authenticated"))
				}
			}
			return fail(memcached.StatusAuthError, "Auth failure")
		}
		srv := f.scramServer(mech)
		s.conv = srv.NewConversation()
		resp, err := s.conv.Step(string(p.Value))
		if err != nil {
			return fail(memcached.StatusAuthError, "Auth failure")
		}
		return memcached.AppendResponse(out, h, memcached.StatusAuthContinue, 0, nil, nil, []byte(resp))
	case memcached.OpSASLStep:
		if s.conv == nil {
			return fail(memcached.StatusEINVAL, "Invalid arguments")
		}
		resp, err := s.conv.Step(string(p.Value))
		if err != nil || !s.conv.Valid() {
			return fail(memcached.StatusAuthError, "Auth failure")
		}
		s.authed = true
		if f.cfg.BadServerFinal {
			resp = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}
		return ok(nil, []byte(resp))
	case memcached.OpSelectBucket:
		f.mu.Lock()
		f.selects++
		f.mu.Unlock()
		if f.cfg.Buckets == nil {
			return fail(memcached.StatusUnknownCommand, "Unknown command")
		}
		if f.cfg.Users != nil && !s.authed {
			return fail(memcached.StatusEAccess, "No access")
		}
		for _, b := range f.cfg.Buckets {
			if b == string(p.Key) {
				s.bucket = b
				return ok(nil, nil)
			}
		}
		return fail(memcached.StatusKeyENOENT, "Not found")
	}
	if f.cfg.Users != nil && !s.authed {
		return fail(memcached.StatusEAccess, "No access")
	}
	if f.cfg.Buckets != nil && s.bucket == "" {
		return fail(memcached.StatusNoBucket, "No bucket selected")
	}
	switch h.Opcode {
	case memcached.OpSet:
		f.mu.Lock()
		f.store[string(p.Key)] = append([]byte(nil), p.Value...)
		f.mu.Unlock()
		return memcached.AppendResponse(out, h, memcached.StatusSuccess, 1, nil, nil, nil)
	case memcached.OpGet:
		f.mu.Lock()
		v, found := f.store[string(p.Key)]
		f.mu.Unlock()
		if !found {
			return fail(memcached.StatusKeyENOENT, "Not found")
		}
		return ok([]byte{0, 0, 0, 0}, v)
	case memcached.OpNoop:
		return ok(nil, nil)
	}
	return fail(memcached.StatusUnknownCommand, "Unknown command")
}

// scramServer returns the SCRAM server for mech, whose credential lookup
// derives each user's stored credentials from its password.
func (f *fakeKV) scramServer(mech string) *scram.Server {
	f.scramMu.Lock()
	defer f.scramMu.Unlock()
	if s := f.scram[mech]; s != nil {
		return s
	}
	hash := map[string]scram.HashGeneratorFcn{
		"SCRAM-SHA512": scram.SHA512, "SCRAM-SHA256": scram.SHA256, "SCRAM-SHA1": scram.SHA1,
	}[mech]
	cache := map[string]scram.StoredCredentials{}
	var cmu sync.Mutex
	lookup := func(user string) (scram.StoredCredentials, error) {
		cmu.Lock()
		defer cmu.Unlock()
		if c, ok := cache[user]; ok {
			return c, nil
		}
		pw, ok := f.cfg.Users[user]
		if !ok {
			return scram.StoredCredentials{}, errors.New("unknown user")
		}
		cl, err := hash.NewClient(user, pw, "")
		if err != nil {
			return scram.StoredCredentials{}, err
		}
		c, err := cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: "salt-" + user, Iters: 4096})
		if err != nil {
			return scram.StoredCredentials{}, err
		}
		cache[user] = c
		return c, nil
	}
	s, _ := hash.NewServer(lookup)
	f.scram[mech] = s
	return s
}

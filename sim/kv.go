package sim

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/xdg-go/scram"

	"github.com/vbproxy/vbproxy/memcached"
)

// KV connection buffer sizes: large enough for a deep pipeline of small
// requests per read and of small replies per write.
const (
	kvReadBufSize  = 16 << 10
	kvWriteBufSize = 16 << 10
)

// kvStats are a node's command counters (STAT).
type kvStats struct {
	currConns, totalConns    atomic.Int64
	cmdGet, cmdSet           atomic.Int64
	getHits, getMisses       atomic.Int64
	deleteHits, deleteMisses atomic.Int64
}

// kvConn is one client connection's state. Its loop goroutine reads,
// handles and answers requests; a pusher goroutine (started once the client
// negotiates clustermap change notifications) writes notifications between
// two replies. wmu serialises them.
type kvConn struct {
	n    *Node
	c    *Cluster
	conn net.Conn // nil in tests that drive handle directly
	r    *memcached.Reader
	w    *bufio.Writer
	pkt  memcached.Packet
	out  []byte // replies of the current request, appended into w's buffer

	// wmu is held by the loop while it handles a request and writes its
	// replies (out aliases w's buffer meanwhile) and by the pusher while it
	// writes a notification. Fields marked (wmu) are changed by the loop
	// only while it holds wmu, and read by the pusher under wmu.
	wmu      sync.Mutex
	bucket   int            // (wmu) selected bucket index, -1 = none
	features features       // (wmu) what the last HELLO enabled
	known    clusterVersion // (wmu) the newest config sent to or claimed by the client
	authed   bool
	saslMech string
	saslConv *scram.ServerConversation
	closing  bool          // close after the current reply
	pushing  bool          // the pusher runs (loop only)
	done     chan struct{} // closed when the loop returns: stops the pusher
}

// newKVConn returns the state of a connection on node n that writes to w.
func newKVConn(n *Node, conn net.Conn, r *memcached.Reader, w io.Writer) *kvConn {
	kc := &kvConn{
		n:      n,
		c:      n.c,
		conn:   conn,
		r:      r,
		w:      bufio.NewWriterSize(w, kvWriteBufSize),
		bucket: -1,
		done:   make(chan struct{}),
	}
	if n.c.opts.NoAuth {
		kc.authed = true
		kc.bucket = 0
	}
	return kc
}

func (n *Node) acceptKV() {
	for {
		conn, err := n.kvLn.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				n.log.Warn("kv accept", "err", err)
			}
			return
		}
		if !n.track(conn) {
			_ = conn.Close()
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer n.untrack(conn)
			defer conn.Close()
			n.serveKV(conn)
		}()
	}
}

func (n *Node) serveKV(conn net.Conn) {
	n.stats.currConns.Add(1)
	n.stats.totalConns.Add(1)
	defer n.stats.currConns.Add(-1)
	kc := newKVConn(n, conn, memcached.NewReader(conn, memcached.ReaderOptions{BufSize: kvReadBufSize}), conn)
	defer close(kc.done)
	kc.authed = kc.authed || certUser(conn) != "" // by its client certificate (tls.go)
	kc.loop()
}

// loop reads requests and answers them in order, flushing when no further
// request is buffered (so a pipeline gets its replies in few writes).
// Replies from the client to server requests (magic 0x83, after Duplex) are
// read and dropped, as Couchbase does.
func (kc *kvConn) loop() {
	for {
		err := kc.r.ReadClientPacket(&kc.pkt, kc.maxKeyLen(), kc.features.duplex)
		if err == nil && kc.pkt.Magic == memcached.MagicServerResponse {
			// Dropped, but replies buffered behind it must still go out.
			kc.wmu.Lock()
			ok := kc.writeOut()
			kc.wmu.Unlock()
			if !ok {
				return
			}
			continue
		}
		var pe *memcached.ProtocolError
		if err != nil && (!errors.As(err, &pe) || !pe.Recoverable) {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				kc.n.log.Debug("kv connection", "remote", kc.conn.RemoteAddr().String(), "err", err)
			}
			kc.wmu.Lock()
			_ = kc.w.Flush()
			kc.wmu.Unlock()
			return
		}
		if !kc.n.waitRunning(nil) {
			return
		}
		kc.wmu.Lock()
		kc.out = kc.w.AvailableBuffer()
		if err != nil {
			kc.reply(&pe.Header, pe.Status, pe.Reason)
		} else {
			kc.handle(&kc.pkt)
		}
		ok := kc.writeOut()
		kc.wmu.Unlock()
		if !ok || kc.closing {
			return
		}
	}
}

// writeOut writes the current request's replies, and flushes when the
// connection closes or no further request is buffered. Called with wmu held;
// false when the connection failed.
func (kc *kvConn) writeOut() bool {
	if len(kc.out) > 0 {
		if _, err := kc.w.Write(kc.out); err != nil {
			return false
		}
	}
	kc.out = nil
	if kc.closing || kc.r.Buffered() == 0 {
		if err := kc.w.Flush(); err != nil {
			return false
		}
	}
	return true
}

// maxKeyLen is the longest key field a request may carry: 250 bytes, 251
// with collections (the LEB128 collection ID and a 250-byte key), as on
// Couchbase.
func (kc *kvConn) maxKeyLen() int {
	if kc.features.collections {
		return maxCollectionsKeyLen
	}
	return memcached.MaxKeyLen
}

// handle answers one request.
func (kc *kvConn) handle(p *memcached.Packet) {
	h := &p.Header
	if h.DataType != 0 {
		// No datatype was negotiated with HELLO: only raw is valid.
		kc.reply(h, memcached.StatusEINVAL, "Invalid datatype")
		return
	}
	switch h.Opcode {
	case memcached.OpHello:
		kc.hello(p)
		return
	case memcached.OpSASLList:
		kc.respond(h, memcached.StatusSuccess, 0, nil, nil, []byte(saslMechs))
		return
	case memcached.OpSASLAuth, memcached.OpSASLStep:
		if kc.saslRefused(h) {
			return
		}
		kc.sasl(p)
		return
	case memcached.OpNoop:
		if !kc.noBody(p) {
			return
		}
		kc.respond(h, memcached.StatusSuccess, 0, nil, nil, nil)
		return
	case memcached.OpVersion:
		if !kc.noBody(p) {
			return
		}
		kc.respond(h, memcached.StatusSuccess, 0, nil, nil, []byte(kc.c.opts.Version))
		return
	case memcached.OpQuit, memcached.OpQuitQ:
		if h.Opcode == memcached.OpQuit {
			kc.respond(h, memcached.StatusSuccess, 0, nil, nil, nil)
		}
		kc.closing = true
		return
	case memcached.OpGetErrorMap:
		kc.errorMap(p)
		return
	case memcached.OpSelectBucket:
		kc.selectBucket(p)
		return
	case memcached.OpGetClusterConfig:
		kc.getClusterConfig(p)
		return
	case opGetCollectionID:
		kc.getCollectionID(p)
		return
	}
	if !h.Opcode.Known() || h.Opcode.Info().Route == memcached.RouteNever {
		kc.reply(h, memcached.StatusUnknownCommand, "Unknown command")
		return
	}
	if !kc.authed || kc.bucket < 0 {
		kc.reply(h, memcached.StatusNoBucket, "No bucket selected")
		return
	}
	switch h.Opcode {
	case memcached.OpVerbosity:
		if len(p.Extras) != 4 || len(p.Key) != 0 || len(p.Value) != 0 {
			kc.reply(h, memcached.StatusEINVAL, "Invalid arguments")
			return
		}
		kc.respond(h, memcached.StatusSuccess, 0, nil, nil, nil)
	case memcached.OpStat:
		kc.stat(p)
	case memcached.OpFlush, memcached.OpFlushQ:
		kc.flush(p)
	default:
		kc.keyOp(p)
	}
}

// noBody answers EINVAL and returns false when a request that takes no
// extras, key or value has some.
func (kc *kvConn) noBody(p *memcached.Packet) bool {
	if p.BodyLen != 0 {
		kc.reply(&p.Header, memcached.StatusEINVAL, "Request must not have a body")
		return false
	}
	return true
}

// respond appends a reply unless the request is quiet and the status is
// one it suppresses.
func (kc *kvConn) respond(h *memcached.Header, status memcached.Status, cas uint64, extras, key, value []byte) {
	if h.Opcode.Suppress(status) {
		return
	}
	kc.out = memcached.AppendResponse(kc.out, h, status, cas, extras, key, value)
}

// reply appends an error reply. Without XERROR, Couchbase closes the
// connection instead of sending the statuses that came with it (NO_BUCKET,
// EACCESS, ...), and so does the simulator.
func (kc *kvConn) reply(h *memcached.Header, status memcached.Status, msg string) {
	if h.Opcode.Suppress(status) {
		return
	}
	if !kc.features.xerror && xerrorOnly(status) {
		kc.closing = true
		return
	}
	if status == memcached.StatusKeyENOENT || status == memcached.StatusKeyEEXISTS || status == memcached.StatusNotStored {
		msg = "" // Couchbase sends these without a body
	}
	kc.out = memcached.AppendError(kc.out, h, status, msg)
}

// xerrorOnly reports statuses a client only gets after negotiating XERROR.
func xerrorOnly(s memcached.Status) bool {
	switch s {
	case memcached.StatusNoBucket, memcached.StatusEAccess, memcached.StatusLocked,
		memcached.StatusAuthStale, memcached.StatusNotInitialized:
		return true
	}
	return false
}

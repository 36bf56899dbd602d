package upstream

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
)

// The new data path's I/O: one write per connection per loop round, writes
// that hit EAGAIN, responses larger than the read buffer, and RespBuf as a
// slice of the read buffer during Complete.

// dataSegsOut is the number of data segments the connection's socket has
// sent (TCP_INFO). Loop thread only.
func dataSegsOut(t testing.TB, c *Conn) uint32 {
	info, err := unix.GetsockoptTCPInfo(c.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		t.Errorf("TCP_INFO: %v", err)
		return 0
	}
	return info.Data_segs_out
}

// Requests Sent in one loop round leave in one write: the socket sends one
// data segment for all of them and the server gets them in one read. In
// separate rounds, each round is its own write.
func TestOneWritePerRound(t *testing.T) {
	reads := make(chan int, 1024)
	addr := startPlainServer(t, func(nc net.Conn) {
		buf := make([]byte, 1<<20)
		var in, out []byte
		for {
			n, err := nc.Read(buf)
			if err != nil {
				return
			}
			reads <- n
			in = append(in, buf[:n]...)
			var used int
			out, used = answerAll(in, out[:0])
			in = in[:copy(in, in[used:])]
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	})
	h := newHarness(t)
	c := h.conn(h.loop(), h.node(addr, Options{OperationTimeout: time.Minute}))
	c.waitUp(t)

	const perRound = 100
	build := func(round int) ([]*Request, *recorder, int) {
		done := newRecorder(t, perRound)
		reqs := make([]*Request, perRound)
		size := 0
		for i := range reqs {
			reqs[i] = &Request{Packet: getPacket(uint32(round<<16|i), fmt.Sprintf("k-%d-%03d", round, i)), Done: done}
			size += len(reqs[i].Packet)
		}
		return reqs, done, size
	}
	check := func(round int, done *recorder, reqs []*Request) {
		t.Helper()
		for i, r := range done.wait(t, perRound) {
			want := fmt.Sprintf("k-%d-%03d", round, i)
			if r.req != reqs[i] || r.err != nil || string(r.value()) != want {
				t.Fatalf("round %d completion %d: err %v value %q, want %q in send order", round, i, r.err, r.value(), want)
			}
		}
	}

	// One round.
	reqs, done, size := build(0)
	var before, after uint32
	c.l.do(func() {
		before = dataSegsOut(t, c.Conn)
		for _, r := range reqs {
			if err := c.Send(r); err != nil {
				t.Errorf("Send: %v", err)
			}
		}
	})
	c.l.do(func() { after = dataSegsOut(t, c.Conn) }) // a later round: the flush is done
	if got := after - before; got != 1 {
		t.Errorf("%d requests in one round went out in %d data segments, want 1 (one write)", perRound, got)
	}
	check(0, done, reqs)
	if got := <-reads; got != size {
		t.Errorf("the server's first read got %d bytes, want all %d", got, size)
	}

	// Three rounds, three writes (the measure can tell them apart).
	c.l.do(func() { before = dataSegsOut(t, c.Conn) })
	for round := 1; round <= 3; round++ {
		reqs, done, _ := build(round)
		c.sendAll(t, reqs)
		check(round, done, reqs)
	}
	c.l.do(func() { after = dataSegsOut(t, c.Conn) })
	if got := after - before; got != 3 {
		t.Errorf("three rounds went out in %d data segments, want 3", got)
	}
}

// A server that stops reading: the connection's write returns EAGAIN, the
// rest waits for the socket's Out edge, more requests queue behind it, and
// when the server reads again everything arrives and completes, in order.
// (One SET per round until the write blocks: the output stays far below
// any bound on a connection's buffered output.)
func TestWriteEAGAIN(t *testing.T) {
	f := startFakeKV(t, fakeConfig{ReadBuffer: 64 << 10})
	h := newHarness(t)
	c := h.conn(h.loop(), h.node(f.addr, Options{OperationTimeout: time.Minute}))
	c.waitUp(t)
	f.pause()

	const maxSets, behind, gets, valueLen = 40, 3, 10, 256 << 10 // 10 MiB at most: more than the socket buffers hold
	done := newRecorder(t, maxSets+behind+gets)
	var reqs []*Request
	last := ""
	set := func(i int) *Request {
		last = string(bytes.Repeat([]byte{byte('a' + i%26)}, valueLen-1)) + fmt.Sprint(i%10)
		return &Request{Packet: setPacket(uint32(i), "big", last), Done: done}
	}
	var blocked bool
	var left int
	for len(reqs) < maxSets && !blocked {
		reqs = append(reqs, set(len(reqs)))
		c.sendAll(t, reqs[len(reqs)-1:])
		c.l.do(func() { blocked, left = c.wblocked, len(c.wbuf)-c.woff })
	}
	if !blocked || left == 0 {
		t.Fatalf("after %d MiB to a server that does not read: write blocked %v with %d bytes left, want blocked",
			len(reqs)*valueLen>>20, blocked, left)
	}
	t.Logf("the write blocked after %d SETs of %d KiB, %d bytes left", len(reqs), valueLen>>10, left)
	sets := len(reqs) + behind
	// Queued behind the blocked write, in one round.
	var more []*Request
	for range behind {
		more = append(more, set(len(reqs)+len(more)))
	}
	for i := range gets {
		more = append(more, &Request{Packet: getPacket(uint32(sets+i), "big"), Done: done})
	}
	c.sendAll(t, more)
	reqs = append(reqs, more...)
	time.Sleep(50 * time.Millisecond)
	if got := len(done.ch); got > 1 {
		t.Errorf("%d completions while the server does not read, want at most 1", got)
	}
	f.resume()
	for i, r := range done.wait(t, len(reqs)) {
		if r.req != reqs[i] || r.err != nil || r.resp.Status != memcached.StatusSuccess {
			t.Fatalf("completion %d: opaque %d err %v status %s, want request %d answered, in order",
				i, wireOpaque(r.req.Packet), r.err, r.resp.Status, i)
		}
		if i >= sets && string(r.value()) != last {
			t.Fatalf("GET %d after the SETs: %d bytes, want the last SET's %d", i-sets, len(r.value()), len(last))
		}
	}
	c.l.do(func() { blocked, left = c.wblocked, len(c.wbuf) })
	if blocked || left != 0 {
		t.Errorf("after everything was answered: blocked %v, %d bytes buffered; want neither", blocked, left)
	}
	c.l.do(func() { left = cap(c.wbuf) })
	if left > WriteBufferSize {
		t.Errorf("write buffer kept %d bytes after a large write, want at most %d", left, WriteBufferSize)
	}
	mustSetGet(t, c, "small", "after")
}

// A response larger than the 64 KiB read buffer (a 1 MiB value) arrives
// whole, between small ones in the same stream, and the grown buffers are
// dropped afterwards.
func TestLargeResponse(t *testing.T) {
	addr := mctest.Start(t, "-I", "2m")
	h := newHarness(t)
	c := h.conn(h.loop(), h.node(addr, Options{}))
	c.waitUp(t)
	large := make([]byte, 1<<20)
	for i := range large {
		large[i] = byte(i*7 + i>>10)
	}
	if r := roundTrip(t, c, setPacket(1, "large", string(large))); r.err != nil || r.resp.Status != memcached.StatusSuccess {
		t.Fatalf("SET large: err %v status %s", r.err, r.resp.Status)
	}
	mustSetGet(t, c, "small", "tiny")
	done := newRecorder(t, 8)
	keys := []string{"large", "small", "large", "large", "small"}
	reqs := make([]*Request, len(keys))
	for i, k := range keys {
		reqs[i] = &Request{Packet: getPacket(uint32(100+i), k), Done: done}
	}
	c.sendAll(t, reqs)
	for i, r := range done.wait(t, len(keys)) {
		want := []byte("tiny")
		if keys[i] == "large" {
			want = large
		}
		if r.req != reqs[i] || r.err != nil || r.resp.Status != memcached.StatusSuccess || !bytes.Equal(r.value(), want) {
			t.Fatalf("GET %d (%s): err %v status %s, %d value bytes (equal %v), want %d",
				i, keys[i], r.err, r.resp.Status, len(r.value()), bytes.Equal(r.value(), want), len(want))
		}
	}
	var rbuf, wbuf int
	c.l.do(func() { rbuf, wbuf = len(c.rbuf), cap(c.wbuf) })
	if rbuf > ReadBufferSize || wbuf > WriteBufferSize {
		t.Errorf("buffers kept after the large value: read %d, write %d; want at most %d and %d",
			rbuf, wbuf, ReadBufferSize, WriteBufferSize)
	}
}

// During Complete, RespBuf is the response packet itself, a slice of the
// connection's read buffer (no copy), with the opaque restored; after
// Complete returns the connection has taken it back (nil).
func TestRespBufDuringComplete(t *testing.T) {
	addr := mctest.Start(t)
	h := newHarness(t)
	c := h.conn(h.loop(), h.node(addr, Options{}))
	c.waitUp(t)
	const n = 50
	value := func(i int) string { return fmt.Sprintf("value-%d-%s", i, bytes.Repeat([]byte{'v'}, i*10)) }
	sets := newRecorder(t, n)
	reqs := make([]*Request, n)
	for i := range reqs {
		reqs[i] = &Request{Packet: setPacket(uint32(i), fmt.Sprintf("rb-%d", i), value(i)), Done: sets}
	}
	c.sendAll(t, reqs)
	sets.wait(t, n)

	var seen int
	check := CompleterFunc(func(r *Request) { // on the loop
		i := int(wireOpaque(r.Packet))
		if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
			t.Errorf("GET %d: err %v status %s", i, r.Err, r.Resp.Status)
			return
		}
		checkRespBuf(t, r)
		buf := c.rbuf[:cap(c.rbuf)]
		start, end := uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))+uintptr(len(buf))
		if p := uintptr(unsafe.Pointer(unsafe.SliceData(r.RespBuf))); p < start || p+uintptr(len(r.RespBuf)) > end {
			t.Errorf("GET %d: RespBuf is not a slice of the connection's read buffer", i)
		}
		v := r.RespBuf[memcached.HeaderLen+int(r.Resp.ExtrasLen)+int(r.Resp.KeyLen):]
		if string(v) != value(i) || r.Resp.Opaque != uint32(i) {
			t.Errorf("GET %d: value %q opaque %d, want %q opaque %d", i, v, r.Resp.Opaque, value(i), i)
		}
		seen++
	})
	for i := range reqs {
		reqs[i] = &Request{Packet: getPacket(uint32(i), fmt.Sprintf("rb-%d", i)), Done: check}
	}
	c.sendAll(t, reqs)
	waitFor(t, "every GET completed", func() bool {
		var s int
		c.l.do(func() { s = seen })
		return s == n
	})
	c.l.do(func() {
		for i, r := range reqs {
			if r.RespBuf != nil {
				t.Errorf("GET %d: RespBuf still set after Complete returned", i)
			}
		}
	})
}

// A connection holds at most MaxOutput unwritten bytes: within one round,
// Send answers ErrBusy once that much is buffered (nothing is counted as an
// error, and the refused request never completes); what was accepted is
// written and answered, and Send takes requests again.
func TestOutputBound(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	h := newHarness(t)
	c := h.conn(h.loop(), h.node(f.addr, log.options(Options{OperationTimeout: time.Minute})))
	c.waitUp(t)
	value := string(bytes.Repeat([]byte{'b'}, 256<<10))
	pktLen := len(setPacket(0, "big", value))
	wantAccepted := (MaxOutput + pktLen - 1) / pktLen // Send refuses once MaxOutput bytes are buffered
	done := newRecorder(t, wantAccepted+1)
	var accepted, buffered int
	var busy error
	c.l.do(func() {
		for i := range wantAccepted + 1 {
			if err := c.Send(&Request{Packet: setPacket(uint32(i), "big", value), Done: done}); err != nil {
				busy = err
				break
			}
			accepted++
		}
		buffered = c.Buffered()
	})
	if accepted != wantAccepted || busy != ErrBusy {
		t.Fatalf("accepted %d then %v, want %d then ErrBusy", accepted, busy, wantAccepted)
	}
	if buffered != accepted*pktLen {
		t.Errorf("Buffered = %d, want %d", buffered, accepted*pktLen)
	}
	for i, r := range done.wait(t, accepted) {
		if wireOpaque(r.req.Packet) != uint32(i) || r.err != nil || r.resp.Status != memcached.StatusSuccess {
			t.Fatalf("completion %d: opaque %d err %v status %s, want request %d answered", i, wireOpaque(r.req.Packet), r.err, r.resp.Status, i)
		}
	}
	done.none(t)
	c.l.do(func() { buffered = c.Buffered() })
	if buffered != 0 {
		t.Errorf("Buffered after everything was answered = %d, want 0", buffered)
	}
	mustSetGet(t, c, "big", "small again")
	for _, kind := range []string{KindTimeout, KindIO, KindQueueFull, KindDown, KindAuth} {
		if n := log.errCount(kind); n != 0 {
			t.Errorf("%s errors = %d, want 0 (ErrBusy is not an error)", kind, n)
		}
	}
}

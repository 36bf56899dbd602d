package memcached_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/internal/textdiff"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// codecProxy is the smallest text session that uses only the codec's public
// API: it frames, parses, swallows, checks data blocks, translates to binary,
// forwards every slot to one upstream memcached over the binary protocol (one
// request at a time) and turns each binary reply back into text. The
// differential test runs the textdiff cases through it against a real
// memcached, which checks the codec's whole contract end to end, and against
// the simulated Couchbase cluster; the real session in proxy/ adds
// pipelining, retries and the slot ring.
type codecProxy struct {
	ln       net.Listener
	maxValue int
	// route returns the upstream address and vBucket for a key; nodes are
	// all upstream addresses (flush_all goes to each).
	route func(key []byte) (addr string, vb uint16)
	nodes []string
	wg    sync.WaitGroup
}

func startCodecProxy(t *testing.T, upstream string, maxValue int) string {
	t.Helper()
	return startRoutedProxy(t, func([]byte) (string, uint16) { return upstream, 0 }, []string{upstream}, maxValue)
}

// startSimProxy puts the codec proxy in front of the simulated cluster c,
// routing each key to its vBucket's active node.
func startSimProxy(t *testing.T, c *sim.Cluster) string {
	t.Helper()
	var nodes []string
	for _, n := range c.Nodes() {
		nodes = append(nodes, n.KVAddr())
	}
	route := func(key []byte) (string, uint16) {
		vb := vbmap.VBucket(key, c.NumVBuckets())
		return c.VBucketOwner("default", int(vb)).KVAddr(), vb
	}
	return startRoutedProxy(t, route, nodes, 0)
}

func startRoutedProxy(t *testing.T, route func([]byte) (string, uint16), nodes []string, maxValue int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &codecProxy{ln: ln, route: route, nodes: nodes, maxValue: maxValue}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.wg.Wait()
	})
	return ln.Addr().String()
}

func (p *codecProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			if err := p.session(c); err != nil && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "closed") {
				panic("codec proxy session: " + err.Error())
			}
		}()
	}
}

type codecSession struct {
	p      *codecProxy
	client net.Conn
	in     []byte // unparsed client bytes
	ups    map[string]*upConn
	upPkt  memcached.Packet
	out    []byte
	opaque uint32
}

type upConn struct {
	c  net.Conn
	rd *memcached.Reader
}

func (s *codecSession) upstream(addr string) (*upConn, error) {
	if u := s.ups[addr]; u != nil {
		return u, nil
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	u := &upConn{c: c, rd: memcached.NewReader(bufio.NewReader(c), memcached.ReaderOptions{MaxBody: 64 << 20})}
	s.ups[addr] = u
	return u, nil
}

// roundTrip sends pkt to addr and reads its reply into s.upPkt.
func (s *codecSession) roundTrip(addr string, pkt []byte) error {
	u, err := s.upstream(addr)
	if err != nil {
		return err
	}
	if _, err := u.c.Write(pkt); err != nil {
		return err
	}
	return u.rd.ReadResponse(&s.upPkt)
}

// fill reads more client bytes.
func (s *codecSession) fill() error {
	var b [64 << 10]byte
	n, err := s.client.Read(b[:])
	s.in = append(s.in, b[:n]...)
	if n > 0 {
		return nil
	}
	return err
}

// need makes s.in hold at least n bytes.
func (s *codecSession) need(n int) error {
	for len(s.in) < n {
		if err := s.fill(); err != nil {
			return err
		}
	}
	return nil
}

// call routes one binary request by its key, sends it and appends its text
// reply.
func (s *codecSession) call(pkt []byte, rc *memcached.TextReply, key []byte) error {
	addr, vb := s.p.route(key)
	memcached.SetVBucket(pkt, vb)
	if err := s.roundTrip(addr, pkt); err != nil {
		return err
	}
	s.out = memcached.AppendTextReply(s.out, rc, key, &s.upPkt.Header, s.upPkt.Extras, s.upPkt.Value)
	return nil
}

func (p *codecProxy) session(client net.Conn) error {
	s := &codecSession{p: p, client: client, ups: map[string]*upConn{}}
	defer func() {
		for _, u := range s.ups {
			_ = u.c.Close()
		}
	}()
	var req memcached.TextRequest
	for {
		if len(s.out) > 0 {
			if _, err := client.Write(s.out); err != nil {
				return err
			}
			s.out = s.out[:0]
		}
		lineEnd, next, st := memcached.TextFrame(s.in, 1<<20)
		switch st {
		case memcached.FrameNeedMore:
			if err := s.fill(); err != nil {
				return err
			}
			continue
		case memcached.FrameClose:
			return nil
		}
		// ParseText's slices point into the line: copy it out of s.in,
		// which the data block reads below may grow.
		line := append([]byte(nil), s.in[:lineEnd]...)
		s.in = s.in[next:]
		perr := memcached.ParseText(line, p.maxValue, &req)
		if perr != nil {
			if perr.Swallow {
				if err := s.need(req.DataLen); err != nil {
					return err
				}
				s.in = s.in[req.DataLen:]
			}
			if perr.Unlink {
				rc := req.UnlinkReply()
				s.opaque++
				if err := s.call(memcached.AppendTextUnlink(nil, &req, s.opaque), &rc, req.Key); err != nil {
					return err
				}
			} else {
				s.out = req.AppendError(s.out, perr)
			}
			if perr.Close {
				_, _ = client.Write(s.out)
				return nil
			}
			continue
		}
		rc := req.Reply()
		switch {
		case req.Cmd.MultiKey():
			for k, pos := req.NextKey(0); k != nil; k, pos = req.NextKey(pos) {
				s.opaque++
				if err := s.call(memcached.AppendTextToBinary(nil, &req, k, s.opaque, nil), &rc, k); err != nil {
					return err
				}
			}
			s.out = memcached.AppendTextEnd(s.out)
		case req.Cmd.Local():
			if done, err := s.local(&req, &rc); done || err != nil {
				_, _ = client.Write(s.out)
				return err
			}
		default:
			var value []byte
			if req.DataLen > 0 {
				if err := s.need(req.DataLen); err != nil {
					return err
				}
				block := s.in[:req.DataLen]
				s.in = s.in[req.DataLen:]
				v, derr := req.CheckData(block)
				if derr != nil {
					s.out = req.AppendError(s.out, derr)
					continue
				}
				value = v
			}
			s.opaque++
			if err := s.call(memcached.AppendTextToBinary(nil, &req, req.Key, s.opaque, value), &rc, req.Key); err != nil {
				return err
			}
		}
	}
}

// local answers the commands a session serves itself; done means close.
func (s *codecSession) local(req *memcached.TextRequest, rc *memcached.TextReply) (done bool, err error) {
	switch req.Cmd {
	case memcached.TextQuit:
		return true, nil
	case memcached.TextVersion:
		s.out = memcached.AppendTextVersion(s.out, "codec-proxy")
	case memcached.TextVerbosity:
		s.out = memcached.AppendTextLine(s.out, rc, "OK")
	case memcached.TextMetaNoop:
		s.out = memcached.AppendTextLine(s.out, rc, "MN")
	case memcached.TextStats:
		if req.NumTokens() > 1 {
			s.out = append(s.out, "ERROR\r\n"...)
			break
		}
		s.out = memcached.AppendTextStatUint(s.out, "pid", 1)
		s.out = memcached.AppendTextEnd(s.out)
	case memcached.TextFlushAll:
		if req.DelayErr != nil {
			s.out = req.AppendError(s.out, req.DelayErr)
			break
		}
		for _, addr := range s.p.nodes {
			s.opaque++
			if err := s.roundTrip(addr, memcached.AppendRequest(nil, memcached.OpFlush, 0, s.opaque, 0, nil, nil, nil)); err != nil {
				return false, err
			}
		}
		s.out = memcached.AppendTextLine(s.out, rc, "OK")
	}
	return false, nil
}

// TestTextCodecMatchesMemcached runs the textdiff cases through the codec
// proxy in front of a real memcached and compares with a second memcached
// spoken to directly: every case the codec is meant to reproduce must be
// byte-identical, plus the flush_all cases (the codec proxy allows flush).
func TestTextCodecMatchesMemcached(t *testing.T) {
	direct := mctest.Start(t, textdiff.MemcachedArgs...)
	upstream := mctest.Start(t, textdiff.MemcachedArgs...)
	proxy := startCodecProxy(t, upstream, 0)
	cases := textdiff.Reproducible(textdiff.Cases(), false)
	for _, c := range textdiff.Cases() {
		if strings.HasPrefix(c.Name, "flush_all") {
			cases = append(cases, c)
		}
	}
	textdiff.Run(t, direct, proxy, cases)
	textdiff.Run(t, direct, proxy, textdiff.Generate(20260709, 150))
}

// TestTextCodecOverSimulatedCouchbase runs the cases a Couchbase-backed proxy
// must reproduce through the codec proxy in front of the simulated cluster
// (three nodes, keys routed by vBucket), against a real memcached.
func TestTextCodecOverSimulatedCouchbase(t *testing.T) {
	direct := mctest.Start(t, textdiff.MemcachedArgs...)
	c, err := sim.Start(sim.Options{Host: "127.0.0.1", NoAuth: true, AllowFlush: true, ZeroDeleteCAS: true, VBuckets: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	proxy := startSimProxy(t, c)
	textdiff.Run(t, direct, proxy, textdiff.Reproducible(textdiff.Cases(), true))
	textdiff.Run(t, direct, proxy, textdiff.Reproducible(textdiff.Generate(20260710, 150), true))
}

// TestTextCodecRefusalsNameTheFlag checks the cases vbproxy answers
// differently by design: each refusal names the flag it refuses.
func TestTextCodecRefusalsNameTheFlag(t *testing.T) {
	upstream := mctest.Start(t, textdiff.MemcachedArgs...)
	proxy := startCodecProxy(t, upstream, 0)
	want := map[string]string{
		"mg_hit_and_last_access_refused":    "STORED\r\nCLIENT_ERROR flag 'h' not supported by this proxy\r\nCLIENT_ERROR flag 'l' not supported by this proxy\r\n",
		"mg_vivify_recache_refused":         "CLIENT_ERROR flag 'N' not supported by this proxy\r\nCLIENT_ERROR flag 'R' not supported by this proxy\r\nCLIENT_ERROR flag 'N' not supported by this proxy\r\nMN\r\n",
		"mg_ttl_without_T_refused":          "STORED\r\nCLIENT_ERROR flag 't' not supported by this proxy\r\n",
		"mg_new_cas_flag_refused":           "CLIENT_ERROR flag 'E' not supported by this proxy\r\n",
		"ms_stale_vivify_newcas_refused":    "CLIENT_ERROR flag 'I' not supported by this proxy\r\nCLIENT_ERROR flag 'N' not supported by this proxy\r\nCLIENT_ERROR flag 'E' not supported by this proxy\r\nMN\r\n",
		"md_stale_tombstone_newcas_refused": "STORED\r\nCLIENT_ERROR flag 'I' not supported by this proxy\r\nCLIENT_ERROR flag 'x' not supported by this proxy\r\nCLIENT_ERROR flag 'E' not supported by this proxy\r\nVA 1\r\nx\r\n",
		"ma_cas_ttl_newcas_refused":         "STORED\r\nCLIENT_ERROR flag 'C' not supported by this proxy\r\nCLIENT_ERROR flag 'T' not supported by this proxy\r\nCLIENT_ERROR flag 't' not supported by this proxy\r\nCLIENT_ERROR flag 'E' not supported by this proxy\r\nVA 1\r\n1\r\n",
		"me_refused":                        "STORED\r\nCLIENT_ERROR command 'me' not supported by this proxy\r\n",
		"ms_size_flag":                      "HD s2\r\nCLIENT_ERROR flag 's' not supported by this proxy\r\nMN\r\n",
	}
	run := textdiff.RunID()
	for i, c := range textdiff.Cases() {
		w, ok := want[c.Name]
		if !ok {
			continue
		}
		got, err := textdiff.Exec(proxy, c, textdiff.Prefix(run, i))
		if err != nil {
			t.Fatal(err)
		}
		if last := got[len(got)-1]; last != w {
			t.Errorf("%s:\n got %q\nwant %q", c.Name, last, w)
		}
		delete(want, c.Name)
	}
	for name := range want {
		t.Errorf("no case %q", name)
	}
}

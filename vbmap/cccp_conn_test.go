package vbmap

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// The first GET_CLUSTER_CONFIG carries no extras; later checks carry the
// (epoch, rev) the node told of, and an empty reply means "already latest":
// nothing is applied and the connection goes on. A config without revEpoch
// is claimed with epoch -1 (the server's uninitialised epoch).
func TestConfigConnKnownVersion(t *testing.T) {
	for _, epoch := range []int64{2, 0} {
		f := newFakeNode(t, fDuplex, fKnown, fBrief)
		var rev atomic.Int64
		rev.Store(5)
		f.onConfig = func(req *memcached.Packet, n int) []byte {
			if _, r, ok := knownExtras(req); ok && r >= rev.Load() {
				return configReply(req, memcached.StatusSuccess, nil)
			}
			return configReply(req, memcached.StatusSuccess, nodeConfig(epoch, rev.Load(), f.port(), 0))
		}
		o := fakeOptions(ConfigSourceCCCP, "couchbase://"+f.addr())
		o.ConfigCheckInterval = 5 * time.Millisecond
		src, rec, _ := startSource(t, o)
		waitReady(t, src)
		waitFor(t, "checks", func() bool { return len(f.requests()) >= 4 })
		reqs := f.requests()
		if len(reqs[0].Extras) != 0 {
			t.Errorf("epoch %d: first request extras %x, want none", epoch, reqs[0].Extras)
		}
		wantEpoch := epoch
		if epoch == 0 {
			wantEpoch = -1
		}
		for i, r := range reqs[1:] {
			if e, rv, ok := knownExtras(&r); !ok || e != wantEpoch || rv != 5 {
				t.Errorf("epoch %d: check %d extras %x, want epoch %d rev 5", epoch, i+1, r.Extras, wantEpoch)
			}
		}
		if revs, _, errs := rec.snapshot(); len(revs) != 1 || len(errs) != 0 {
			t.Errorf("epoch %d: applied %v, errors %q; want one map, no error", epoch, revs, errs)
		}
		rev.Store(6)
		waitFor(t, "rev 6", func() bool { return src.Current().Revision().Rev == 6 })
		if got := src.Current().Origin(); got != OriginCCCP {
			t.Errorf("epoch %d: origin %q, want cccp", epoch, got)
		}
	}
}

// A push arrives between a request and its reply (a full push, then a
// brief one): the reply still matches its request, the full push is
// applied at once, and the brief one is fetched with the known version
// once the reply is in.
func TestConfigConnPushBetweenRequestAndReply(t *testing.T) {
	f := newFakeNode(t, fDuplex, fKnown, fBrief)
	f.onConfig = func(req *memcached.Packet, n int) []byte {
		if n == 1 {
			out := pushPacket("default", 1, 7, nodeConfig(1, 7, f.port(), 0))
			out = append(out, pushPacket("default", 1, 8, nil)...)
			return append(out, configReply(req, memcached.StatusSuccess, nodeConfig(1, 6, f.port(), 0))...)
		}
		return configReply(req, memcached.StatusSuccess, nodeConfig(1, 8, f.port(), 0))
	}
	src, rec, _ := startSource(t, fakeOptions(ConfigSourceCCCP, "couchbase://"+f.addr()))
	waitFor(t, "rev 8", func() bool { m := src.Current(); return m != nil && m.Revision().Rev == 8 })
	revs, origins, errs := rec.snapshot()
	if !equalInts(revs, []int64{7, 8}) || origins[0] != OriginPush || origins[1] != OriginPush {
		t.Errorf("applied %v from %v, want [7 8] from push (the reply's 6 is older)", revs, origins)
	}
	if len(errs) != 0 {
		t.Errorf("errors: %q", errs)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (the first fetch, then the brief push's)", len(reqs))
	}
	if e, r, ok := knownExtras(&reqs[1]); !ok || e != 1 || r != 7 {
		t.Errorf("brief push fetch extras %x, want epoch 1 rev 7", reqs[1].Extras)
	}
}

// Server requests the source does not act on: a notification for another
// bucket, an older revision, another opcode, and a legacy 4-byte revision
// not newer. None asks for a fetch or breaks the connection; a newer
// 4-byte revision does.
func TestConfigConnIgnoresOtherServerRequests(t *testing.T) {
	f := newFakeNode(t, fDuplex, fKnown, fBrief)
	var rev atomic.Int64
	rev.Store(5)
	f.onConfig = func(req *memcached.Packet, n int) []byte {
		return configReply(req, memcached.StatusSuccess, nodeConfig(1, rev.Load(), f.port(), 0))
	}
	src, rec, _ := startSource(t, fakeOptions(ConfigSourceCCCP, "couchbase://"+f.addr()))
	waitReady(t, src)
	legacy := func(r uint32) []byte {
		ex := []byte{byte(r >> 24), byte(r >> 16), byte(r >> 8), byte(r)}
		return memcached.AppendServerRequest(nil, memcached.OpClustermapChangeNotification, 0, ex, []byte("default"), nil)
	}
	var b []byte
	b = append(b, pushPacket("other", 1, 9, nil)...)
	b = append(b, pushPacket("", 1, 9, nil)...)
	b = append(b, pushPacket("default", 1, 4, nil)...)
	b = append(b, memcached.AppendServerRequest(nil, 0x02, 0, nil, nil, []byte("x"))...)
	b = append(b, legacy(5)...)
	f.write(b)
	time.Sleep(100 * time.Millisecond)
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d GET_CLUSTER_CONFIG requests after ignorable pushes, want 1", n)
	}
	rev.Store(6)
	f.write(legacy(6))
	waitFor(t, "rev 6", func() bool { return src.Current().Revision().Rev == 6 })
	if _, _, errs := rec.snapshot(); len(errs) != 0 {
		t.Errorf("errors: %q", errs)
	}
}

// A reply that answers no request in flight is a protocol error: the
// connection is dropped and opened again.
func TestConfigConnUnexpectedReply(t *testing.T) {
	f := newFakeNode(t, fDuplex, fKnown, fBrief)
	f.onConfig = func(req *memcached.Packet, n int) []byte {
		out := configReply(req, memcached.StatusSuccess, nodeConfig(1, int64(n), f.port(), 0))
		if n == 1 {
			bogus := *req
			bogus.Opaque += 100
			out = append(out, configReply(&bogus, memcached.StatusSuccess, nil)...)
		}
		return out
	}
	src, rec, _ := startSource(t, fakeOptions(ConfigSourceCCCP, "couchbase://"+f.addr()))
	waitFor(t, "rev 2 from the second connection", func() bool { m := src.Current(); return m != nil && m.Revision().Rev == 2 })
	_, _, errs := rec.snapshot()
	if len(errs) == 0 || !strings.Contains(errs[0], "reply with opaque") || !strings.Contains(errs[0], "while waiting for nothing") {
		t.Errorf("errors %q, want the unexpected reply reported", errs)
	}
}

// Fallback as the SDKs do: a node that does not serve the config over KV.
// In auto mode the HTTP stream carries on alone; in cccp mode Run gives
// up before the first map.
func TestCCCPUnsupportedFallsBack(t *testing.T) {
	for _, st := range []memcached.Status{memcached.StatusNotSupported, memcached.StatusUnknownCommand, memcached.StatusKeyENOENT} {
		t.Run(st.String(), func(t *testing.T) {
			f := newFakeNode(t, fDuplex, fKnown, fBrief)
			f.onConfig = func(req *memcached.Packet, n int) []byte { return configReply(req, st, nil) }
			cm := newFakeCM(t, "default")
			cm.set(nodeConfig(1, 3, f.port(), cm.port(), "cccp"))
			src, rec, _ := startSource(t, fakeOptions(ConfigSourceAuto, cm.URL()))
			waitReady(t, src)
			waitFor(t, "the CCCP attempt", func() bool { return len(f.requests()) >= 1 })
			cm.push(nodeConfig(1, 4, f.port(), cm.port(), "cccp"))
			waitFor(t, "rev 4 from the stream", func() bool { return src.Current().Revision().Rev == 4 })
			if got := src.Current().Origin(); got != OriginStream {
				t.Errorf("origin %q, want stream", got)
			}
			_, _, errs := rec.snapshot()
			found := false
			for _, e := range errs {
				found = found || strings.Contains(e, "does not serve the config over KV") && strings.Contains(e, st.String())
			}
			if !found {
				t.Errorf("errors %q, want the unsupported GET_CLUSTER_CONFIG reported", errs)
			}

			_, _, done := startSource(t, fakeOptions(ConfigSourceCCCP, "couchbase://"+f.addr()))
			select {
			case err := <-done:
				if !errors.Is(err, errCCCPUnsupported) || !strings.Contains(err.Error(), `no node serves bucket "default" over KV`) {
					t.Errorf("cccp mode: Run = %v, want the unsupported error", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("cccp mode: Run did not give up")
			}
		})
	}
}

// A node that enables no notifications (an old server): the config
// connection still works through the revision check; one without the
// known-version feature gets checks without extras (the full config each
// time, applied only when newer).
func TestConfigConnWithoutNotifications(t *testing.T) {
	f := newFakeNode(t) // enables nothing
	var rev atomic.Int64
	rev.Store(3)
	f.onConfig = func(req *memcached.Packet, n int) []byte {
		return configReply(req, memcached.StatusSuccess, nodeConfig(1, rev.Load(), f.port(), 0))
	}
	o := fakeOptions(ConfigSourceCCCP, "couchbase://"+f.addr())
	o.ConfigCheckInterval = 5 * time.Millisecond
	src, rec, _ := startSource(t, o)
	waitReady(t, src)
	waitFor(t, "checks", func() bool { return len(f.requests()) >= 3 })
	rev.Store(4)
	waitFor(t, "rev 4", func() bool { return src.Current().Revision().Rev == 4 })
	// The subscriber that records it runs just after the swap.
	waitFor(t, "rev 4 recorded", func() bool { revs, _, _ := rec.snapshot(); return len(revs) >= 2 })
	for i, r := range f.requests() {
		if len(r.Extras) != 0 {
			t.Errorf("request %d carries extras %x without the known-version feature", i, r.Extras)
		}
	}
	if revs, _, errs := rec.snapshot(); !equalInts(revs, []int64{3, 4}) || len(errs) != 0 {
		t.Errorf("applied %v, errors %q; want [3 4], none", revs, errs)
	}
}

// After falling back to HTTP, auto tries CCCP again when the stream brings
// a newer map that lists "cccp" (MaxBackoff later): a node upgraded in
// the meantime then serves the config over KV.
func TestCCCPRetriedAfterFallback(t *testing.T) {
	f := newFakeNode(t, fDuplex, fKnown, fBrief)
	var supported atomic.Bool
	var rev atomic.Int64
	rev.Store(3)
	f.onConfig = func(req *memcached.Packet, n int) []byte {
		if !supported.Load() {
			return configReply(req, memcached.StatusNotSupported, nil)
		}
		return configReply(req, memcached.StatusSuccess, nodeConfig(1, rev.Load(), f.port(), 0, "cccp"))
	}
	cm := newFakeCM(t, "default")
	cm.set(nodeConfig(1, 3, f.port(), cm.port(), "cccp"))
	src, _, _ := startSource(t, fakeOptions(ConfigSourceAuto, cm.URL()))
	waitReady(t, src)
	waitFor(t, "the CCCP attempt", func() bool { return len(f.requests()) >= 1 })
	time.Sleep(20 * time.Millisecond) // past MaxBackoff (5ms)
	if src.kvActive.Load() {
		t.Fatal("config connection active on a node without CCCP")
	}
	supported.Store(true)
	rev.Store(4)
	cm.push(nodeConfig(1, 4, f.port(), cm.port(), "cccp"))
	waitFor(t, "the config connection after the retry", func() bool { return src.kvActive.Load() })
	rev.Store(5)
	f.write(pushPacket("default", 1, 5, nil))
	waitFor(t, "rev 5 pushed", func() bool { return src.Current().Revision().Rev == 5 })
	if got := src.Current().Origin(); got != OriginPush {
		t.Errorf("origin %q, want push", got)
	}
}

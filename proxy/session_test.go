package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// resp builds the response bytes a memcached server sends.
func resp(op memcached.Opcode, opaque uint32, status memcached.Status, cas uint64, extras, key, value []byte) []byte {
	h := memcached.Header{Opcode: op, Opaque: opaque}
	return memcached.AppendResponse(nil, &h, status, cas, extras, key, value)
}

func errResp(op memcached.Opcode, opaque uint32, status memcached.Status, msg string) []byte {
	h := memcached.Header{Opcode: op, Opaque: opaque}
	return memcached.AppendError(nil, &h, status, msg)
}

// TestLocalAnswers checks the requests the proxy answers itself, each
// followed by a NOOP to show the connection is kept.
func TestLocalAnswers(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	key251 := strings.Repeat("k", 251)
	tests := []struct {
		name string
		req  []byte
		want []byte // exact reply bytes; nil = check status only
		st   memcached.Status
	}{
		{"noop", req(memcached.OpNoop, 7, nil, nil, nil), resp(memcached.OpNoop, 7, 0, 0, nil, nil, nil), 0},
		{"version", req(memcached.OpVersion, 8, nil, nil, nil), resp(memcached.OpVersion, 8, 0, 0, nil, nil, []byte(DefaultVersion)), 0},
		{"verbosity", req(memcached.OpVerbosity, 9, []byte{0, 0, 0, 1}, nil, nil), resp(memcached.OpVerbosity, 9, 0, 0, nil, nil, nil), 0},
		{"hello echoes key, no features", req(memcached.OpHello, 10, nil, []byte("myagent"), []byte{0, 7, 0, 0x12}),
			resp(memcached.OpHello, 10, 0, 0, nil, []byte("myagent"), nil), 0},
		{"select own bucket", req(memcached.OpSelectBucket, 11, nil, []byte("default"), nil), resp(memcached.OpSelectBucket, 11, 0, 0, nil, nil, nil), 0},
		{"select other bucket", req(memcached.OpSelectBucket, 12, nil, []byte("other"), nil), errResp(memcached.OpSelectBucket, 12, memcached.StatusKeyENOENT, "Not found"), 0},
		{"stat unknown group", req(memcached.OpStat, 13, nil, []byte("slabs"), nil), errResp(memcached.OpStat, 13, memcached.StatusKeyENOENT, "Unknown stat group"), 0},
		{"sasl list mechs", req(memcached.OpSASLList, 14, nil, nil, nil), resp(memcached.OpSASLList, 14, 0, 0, nil, nil, []byte("PLAIN")), 0},
		{"sasl auth without users succeeds", req(memcached.OpSASLAuth, 15, nil, []byte("PLAIN"), []byte("\x00u\x00p")),
			resp(memcached.OpSASLAuth, 15, 0, 0, nil, nil, []byte("Authenticated")), 0},
		{"gatk never forwarded", req(memcached.OpGATK, 16, []byte{0, 0, 0, 0}, []byte("k"), nil), errResp(memcached.OpGATK, 16, memcached.StatusUnknownCommand, "Unknown command"), 0},
		{"gatkq never forwarded", req(memcached.OpGATKQ, 17, []byte{0, 0, 0, 0}, []byte("k"), nil), errResp(memcached.OpGATKQ, 17, memcached.StatusUnknownCommand, "Unknown command"), 0},
		{"unknown opcode", req(0xfa, 18, nil, nil, nil), errResp(0xfa, 18, memcached.StatusUnknownCommand, "Unknown command"), 0},
		{"get cluster config never forwarded", req(memcached.OpGetClusterConfig, 19, nil, nil, nil), errResp(memcached.OpGetClusterConfig, 19, memcached.StatusUnknownCommand, "Unknown command"), 0},
		{"server admin never forwarded", req(0x3d, 20, nil, nil, nil), errResp(0x3d, 20, memcached.StatusUnknownCommand, "Unknown command"), 0},
		{"flush refused by default", req(memcached.OpFlush, 21, nil, nil, nil), errResp(memcached.OpFlush, 21, memcached.StatusNotSupported, "Flush is disabled on this proxy"), 0},
		{"flushq refused by default", req(memcached.OpFlushQ, 22, nil, nil, nil), errResp(memcached.OpFlushQ, 22, memcached.StatusNotSupported, "Flush is disabled on this proxy"), 0},
		{"set without extras", req(memcached.OpSet, 23, nil, []byte("k"), []byte("v")), errResp(memcached.OpSet, 23, memcached.StatusEINVAL, "Invalid arguments"), 0},
		{"get without key", req(memcached.OpGet, 24, nil, nil, nil), errResp(memcached.OpGet, 24, memcached.StatusEINVAL, "Invalid arguments"), 0},
		{"get with value", req(memcached.OpGet, 25, nil, []byte("k"), []byte("v")), errResp(memcached.OpGet, 25, memcached.StatusEINVAL, "Invalid arguments"), 0},
		{"key of 251 bytes", req(memcached.OpGet, 26, nil, []byte(key251), nil), errResp(memcached.OpGet, 26, memcached.StatusEINVAL, "Invalid arguments"), 0},
		{"datatype refused", func() []byte {
			b := req(memcached.OpGet, 27, nil, []byte("k"), nil)
			b[5] = 1
			return b
		}(), errResp(memcached.OpGet, 27, memcached.StatusEINVAL, "Invalid datatype"), 0},
		{"get miss", req(memcached.OpGet, 28, nil, []byte("no-such-key"), nil), nil, memcached.StatusKeyENOENT},
	}
	c := dial(t, addr)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.write(tt.req)
			h, got := c.read()
			if tt.want != nil && !bytes.Equal(got, tt.want) {
				t.Errorf("reply\n got %x\nwant %x", got, tt.want)
			}
			if tt.want == nil && h.Status != tt.st {
				t.Errorf("status %v, want %v", h.Status, tt.st)
			}
			c.write(req(memcached.OpNoop, 99, nil, nil, nil))
			if h, _ := c.read(); h.Opcode != memcached.OpNoop || h.Opaque != 99 {
				t.Errorf("after %s: got %s opaque %d, want NOOP opaque 99", tt.name, h.Opcode, h.Opaque)
			}
		})
	}
}

// TestStat checks the default STAT group: a series of key/value packets
// with the request's opaque, ended by an empty one.
func TestStat(t *testing.T) {
	_, srv, addr, _ := simCluster(t, sim.Options{}, Options{})
	c := dial(t, addr)
	c.set("a", "1")
	c.write(req(memcached.OpStat, 5, nil, nil, nil))
	stats := map[string]string{}
	for {
		h, b := c.read()
		if h.Opcode != memcached.OpStat || h.Opaque != 5 || h.Status != memcached.StatusSuccess {
			t.Fatalf("STAT reply: %s opaque %d status %v", h.Opcode, h.Opaque, h.Status)
		}
		if h.KeyLen == 0 && h.BodyLen == 0 {
			break
		}
		body := b[memcached.HeaderLen:]
		stats[string(body[:h.KeyLen])] = string(body[h.KeyLen:])
	}
	for k, want := range map[string]string{"bucket": "default", "version": DefaultVersion, "curr_connections": "1", "cmd_set": "1", "vbmap_nodes": "3"} {
		if stats[k] != want {
			t.Errorf("stat %s = %q, want %q", k, stats[k], want)
		}
	}
	if st := srv.Stats(); st.CmdSet != 1 || st.ConnsCurrent != 1 {
		t.Errorf("Stats: CmdSet %d ConnsCurrent %d, want 1 and 1", st.CmdSet, st.ConnsCurrent)
	}
}

// TestQuietPipelineAcrossNodes sends "GETKQ x 100, NOOP" whose keys span
// every node, half of them stored: the reply is exactly the hits, in order,
// then the NOOP, byte for byte.
func TestQuietPipelineAcrossNodes(t *testing.T) {
	c, _, addr, src := simCluster(t, sim.Options{}, Options{})
	cl := dial(t, addr)
	m := src.Current()
	owners := map[int]bool{}
	var expected, pipeline []byte
	for i := range 100 {
		key := fmt.Sprintf("quiet-%d", i)
		_, node := m.Route([]byte(key))
		owners[node] = true
		if i%2 == 0 {
			cl.set(key, "value-"+key)
			// Learn the CAS with a loud GETK, then expect the same reply as
			// GETKQ with the pipeline's opaque.
			cl.write(req(memcached.OpGetK, 1, nil, []byte(key), nil))
			h, b := cl.read()
			if h.Status != memcached.StatusSuccess {
				t.Fatalf("GETK %s: %v", key, h.Status)
			}
			expected = append(expected, resp(memcached.OpGetKQ, uint32(1000+i), 0, h.CAS, b[memcached.HeaderLen:memcached.HeaderLen+4], []byte(key), []byte("value-"+key))...)
		}
		pipeline = append(pipeline, req(memcached.OpGetKQ, uint32(1000+i), nil, []byte(key), nil)...)
	}
	if len(owners) != len(c.Nodes()) {
		t.Fatalf("keys span %d nodes, want %d", len(owners), len(c.Nodes()))
	}
	pipeline = append(pipeline, req(memcached.OpNoop, 5000, nil, nil, nil)...)
	expected = append(expected, resp(memcached.OpNoop, 5000, 0, 0, nil, nil, nil)...)
	cl.write(pipeline)
	if got := cl.readN(len(expected)); !bytes.Equal(got, expected) {
		t.Fatalf("pipeline reply differs\n got %x\nwant %x", got, expected)
	}
}

// TestQuietRules checks each quiet opcode: success (or a read miss) is
// suppressed, errors are delivered, and NOOP ends the pipeline.
func TestQuietRules(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	cl := dial(t, addr)
	cl.set("exists", "v")
	cl.set("counter", "5")
	incr := make([]byte, 20)
	binary.BigEndian.PutUint64(incr, 1)
	type step struct {
		req     []byte
		replied bool // a reply is expected
		op      memcached.Opcode
		status  memcached.Status
	}
	steps := []step{
		{req(memcached.OpSetQ, 1, setExtras(0, 0), []byte("q1"), []byte("v")), false, 0, 0},
		{req(memcached.OpAddQ, 2, setExtras(0, 0), []byte("exists"), []byte("v")), true, memcached.OpAddQ, memcached.StatusKeyEEXISTS},
		{req(memcached.OpReplaceQ, 3, setExtras(0, 0), []byte("missing"), []byte("v")), true, memcached.OpReplaceQ, memcached.StatusKeyENOENT},
		{req(memcached.OpGetQ, 4, nil, []byte("missing"), nil), false, 0, 0},
		{req(memcached.OpGetQ, 5, nil, []byte("q1"), nil), true, memcached.OpGetQ, memcached.StatusSuccess},
		{req(memcached.OpDeleteQ, 6, nil, []byte("missing"), nil), true, memcached.OpDeleteQ, memcached.StatusKeyENOENT},
		{req(memcached.OpIncrementQ, 7, incr, []byte("counter"), nil), false, 0, 0},
		{req(memcached.OpAppendQ, 8, nil, []byte("exists"), []byte("x")), false, 0, 0},
		{req(memcached.OpGATQ, 9, []byte{0, 0, 0, 0}, []byte("missing"), nil), false, 0, 0},
		{req(memcached.OpGATQ, 10, []byte{0, 0, 0, 0}, []byte("exists"), nil), true, memcached.OpGATQ, memcached.StatusSuccess},
		{req(memcached.OpDeleteQ, 11, nil, []byte("q1"), nil), false, 0, 0},
		{req(memcached.OpNoop, 12, nil, nil, nil), true, memcached.OpNoop, memcached.StatusSuccess},
	}
	var pipeline []byte
	for _, s := range steps {
		pipeline = append(pipeline, s.req...)
	}
	cl.write(pipeline)
	for _, s := range steps {
		if !s.replied {
			continue
		}
		h, _ := cl.read()
		want := binary.BigEndian.Uint32(s.req[12:16])
		if h.Opcode != s.op || h.Status != s.status || h.Opaque != want {
			t.Errorf("got %s %v opaque %d, want %s %v opaque %d", h.Opcode, h.Status, h.Opaque, s.op, s.status, want)
		}
	}
	if v, _ := cl.get("counter"); v != "6" {
		t.Errorf("counter = %q after INCRQ, want 6", v)
	}
	if v, _ := cl.get("exists"); v != "vx" {
		t.Errorf("exists = %q after APPENDQ, want vx", v)
	}
}

// TestQuit checks that QUIT's reply follows the earlier replies and the
// connection closes; QUITQ closes without a reply.
func TestQuit(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	for _, op := range []memcached.Opcode{memcached.OpQuit, memcached.OpQuitQ} {
		t.Run(op.String(), func(t *testing.T) {
			c := dial(t, addr)
			var p []byte
			p = append(p, req(memcached.OpSet, 1, setExtras(0, 0), []byte("quit-key"), []byte("v"))...)
			p = append(p, req(memcached.OpGet, 2, nil, []byte("quit-key"), nil)...)
			p = append(p, req(op, 3, nil, nil, nil)...)
			p = append(p, req(memcached.OpNoop, 4, nil, nil, nil)...) // never answered
			c.write(p)
			for _, want := range []uint32{1, 2} {
				if h, _ := c.read(); h.Opaque != want || h.Status != memcached.StatusSuccess {
					t.Fatalf("got opaque %d status %v, want %d SUCCESS", h.Opaque, h.Status, want)
				}
			}
			if op == memcached.OpQuit {
				if h, _ := c.read(); h.Opcode != memcached.OpQuit || h.Opaque != 3 {
					t.Fatalf("got %s opaque %d, want QUIT opaque 3", h.Opcode, h.Opaque)
				}
			}
			c.expectClosed()
		})
	}
}

// TestGetReplicaPlainMemcached pins the fix for GET_REPLICA stalling a
// shared upstream connection: plain memcached does not know the opcode and
// stops answering after it, so the proxy answers it itself.
func TestGetReplicaPlainMemcached(t *testing.T) {
	_, addr, _, _ := memcachedCluster(t, 2, Options{})
	c := dial(t, addr)
	c.set("r", "value")
	c.write(req(memcached.OpGetReplica, 5, nil, []byte("r"), nil))
	if h, body := c.read(); h.Status != memcached.StatusUnknownCommand || h.Opaque != 5 || string(body[memcached.HeaderLen:]) != "Unknown command" {
		t.Fatalf("GET_REPLICA on plain memcached: status %s opaque %d body %q, want UNKNOWN_COMMAND", h.Status, h.Opaque, body)
	}
	if v, st := c.get("r"); st != memcached.StatusSuccess || v != "value" {
		t.Fatalf("GET after GET_REPLICA = %q, %s; want value, SUCCESS", v, st)
	}
}

package proxy

import (
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Stats is a snapshot of a Server's counters, for STAT and the admin
// endpoints. Counters are totals since New.
type Stats struct {
	Bucket  string
	Uptime  time.Duration
	Version string

	ConnsCurrent int64  // client connections open now
	ConnsBinary  int64  // of them, speaking the binary protocol
	ConnsText    int64  // of them, speaking the text protocol (classic and meta)
	ConnsTotal   uint64 // client connections accepted
	ConnsRefused uint64 // client connections refused (MaxConns, shutting down)
	AuthFailures uint64 // failed client SASL attempts

	Requests  uint64 // client-visible request outcomes (suppressed quiet replies included)
	CmdGet    uint64 // GET, GETK, GAT, GET_REPLICA and their quiet twins
	GetHits   uint64
	GetMisses uint64
	CmdSet    uint64 // SET, ADD, REPLACE, APPEND, PREPEND and their quiet twins
	CmdDelete uint64
	CmdArith  uint64 // INCREMENT, DECREMENT and their quiet twins
	CmdTouch  uint64 // TOUCH (GAT counts as a get)
	CmdFlush  uint64
	Local     uint64 // requests answered by the proxy itself (including its refusals)
	TempFails uint64 // ETMPFAIL replies made by the proxy (node down, timeout, no owner...)

	NMVBRetries  uint64 // requests resent after NOT_MY_VBUCKET
	ReplicaReads uint64 // reads answered by a replica (ReadReplicas)
	BytesIn      uint64 // client bytes read
	BytesOut     uint64 // client bytes written

	MapRevision string // revision of the current map, "" when none
	Nodes       int    // nodes in the current map
}

// counters are one loop's request counters. Only the loop's thread adds to
// them; Stats reads them concurrently.
type counters struct {
	requests, cmdGet, getHits, getMisses, cmdSet, cmdDelete, cmdArith, cmdTouch, cmdFlush,
	local, tempFails, bytesIn, bytesOut atomic.Uint64
	connsBinary, connsText atomic.Int64 // sessions by protocol, now
}

// count accounts for one request outcome; byProxy says the proxy made the
// reply (it did not come from a node).
func (c *counters) count(op memcached.Opcode, status memcached.Status, byProxy bool) {
	c.requests.Add(1)
	if byProxy {
		if status == memcached.StatusETMPFAIL {
			c.tempFails.Add(1)
		}
		if op.Info().Route != memcached.RouteKey && op.Info().Route != memcached.RouteReplica {
			c.local.Add(1)
		}
	}
	switch op.Loud() {
	case memcached.OpGet, memcached.OpGetK, memcached.OpGAT, memcached.OpGetReplica:
		c.cmdGet.Add(1)
		switch status {
		case memcached.StatusSuccess:
			c.getHits.Add(1)
		case memcached.StatusKeyENOENT:
			c.getMisses.Add(1)
		}
	case memcached.OpSet, memcached.OpAdd, memcached.OpReplace, memcached.OpAppend, memcached.OpPrepend:
		c.cmdSet.Add(1)
	case memcached.OpDelete:
		c.cmdDelete.Add(1)
	case memcached.OpIncrement, memcached.OpDecrement:
		c.cmdArith.Add(1)
	case memcached.OpTouch:
		c.cmdTouch.Add(1)
	case memcached.OpFlush:
		c.cmdFlush.Add(1)
	}
}

// addTo adds c's counters into st.
func (c *counters) addTo(st *Stats) {
	st.Requests += c.requests.Load()
	st.CmdGet += c.cmdGet.Load()
	st.GetHits += c.getHits.Load()
	st.GetMisses += c.getMisses.Load()
	st.CmdSet += c.cmdSet.Load()
	st.CmdDelete += c.cmdDelete.Load()
	st.CmdArith += c.cmdArith.Load()
	st.CmdTouch += c.cmdTouch.Load()
	st.CmdFlush += c.cmdFlush.Load()
	st.Local += c.local.Load()
	st.TempFails += c.tempFails.Load()
	st.BytesIn += c.bytesIn.Load()
	st.BytesOut += c.bytesOut.Load()
	st.ConnsBinary += c.connsBinary.Load()
	st.ConnsText += c.connsText.Load()
}

// stat answers STAT. The default group ("" or "proxy") lists the proxy's
// own counters with memcached's names where one exists; any other group is
// KEY_ENOENT, as memcached answers an unknown group.
func (s *session) stat(sl *slot) {
	h := &sl.pkt.Header
	if h.ExtrasLen != 0 {
		s.localError(sl, memcached.StatusEINVAL, "Invalid arguments")
		return
	}
	switch string(sl.pkt.Key) {
	case "", "proxy":
	default:
		s.localError(sl, memcached.StatusKeyENOENT, "Unknown stat group")
		return
	}
	b := sl.local[:0]
	s.srv.eachStat(func(k, v string) { b = memcached.AppendStat(b, h, k, v) })
	sl.local = memcached.AppendResponse(b, h, memcached.StatusSuccess, 0, nil, nil, nil)
	sl.answer(memcached.StatusSuccess)
}

// eachStat calls fn for every counter the proxy reports to STAT and the
// text "stats" command, with memcached's names where one exists.
func (s *Server) eachStat(fn func(name, value string)) {
	st := s.Stats()
	u := func(k string, v uint64) { fn(k, strconv.FormatUint(v, 10)) }
	u("pid", uint64(os.Getpid()))
	u("uptime", uint64(st.Uptime/time.Second))
	u("time", uint64(time.Now().Unix()))
	fn("version", st.Version)
	fn("bucket", st.Bucket)
	u("curr_connections", uint64(max(st.ConnsCurrent, 0)))
	u("total_connections", st.ConnsTotal)
	u("rejected_connections", st.ConnsRefused)
	u("auth_errors", st.AuthFailures)
	u("cmd_total", st.Requests)
	u("cmd_get", st.CmdGet)
	u("get_hits", st.GetHits)
	u("get_misses", st.GetMisses)
	u("cmd_set", st.CmdSet)
	u("cmd_delete", st.CmdDelete)
	u("cmd_arith", st.CmdArith)
	u("cmd_touch", st.CmdTouch)
	u("cmd_flush", st.CmdFlush)
	u("local_replies", st.Local)
	u("tmpfail_replies", st.TempFails)
	u("nmvb_retries", st.NMVBRetries)
	u("replica_reads", st.ReplicaReads)
	u("bytes_read", st.BytesIn)
	u("bytes_written", st.BytesOut)
	u("curr_connections_binary", uint64(max(st.ConnsBinary, 0)))
	u("curr_connections_text", uint64(max(st.ConnsText, 0)))
	fn("vbmap_rev", st.MapRevision)
	u("vbmap_nodes", uint64(st.Nodes))
	for _, n := range s.Nodes() {
		fn("node:"+n.Addr, n.State)
	}
}

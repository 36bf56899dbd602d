package proxy

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// readStats sends "stats" and returns its STAT lines as a map, checking the
// reply's form: "STAT <name> <value>" lines, then END.
func (c *textClient) readStats() map[string]string {
	c.t.Helper()
	c.send("stats\r\n")
	return c.readStatsReply()
}

// readStatsReply reads the STAT lines up to END.
func (c *textClient) readStatsReply() map[string]string {
	c.t.Helper()
	st := map[string]string{}
	for {
		l := c.line()
		if l == "END\r\n" {
			return st
		}
		f := strings.Split(strings.TrimSuffix(l, "\r\n"), " ")
		if len(f) != 3 || f[0] != "STAT" || f[1] == "" || f[2] == "" {
			c.t.Fatalf("stats: line %q, want STAT <name> <value>", l)
		}
		if _, dup := st[f[1]]; dup {
			c.t.Fatalf("stats: %s twice", f[1])
		}
		st[f[1]] = f[2]
	}
}

// TestTextStats checks the stats reply: memcached's names where they mean
// the same, with exact counts for one client's commands.
func TestTextStats(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	c := dialText(t, addr)
	c.do("set a 0 0 1\r\nx\r\nset b 0 0 1 noreply\r\ny\r\n", "STORED\r\n")
	if v, _, ok := c.gets("a"); !ok || v != "x" {
		t.Fatalf("gets a: %q %v", v, ok)
	}
	c.do("get a b nope\r\nmg a v\r\nmg nope v\r\nms c 1\r\nz\r\ndelete c\r\nincr a 1\r\ntouch a 10\r\n",
		"VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\nVA 1\r\nx\r\nEN\r\nHD\r\nDELETED\r\n"+
			"CLIENT_ERROR cannot increment or decrement non-numeric value\r\nTOUCHED\r\n")
	other := dialText(t, addr)
	other.do("version\r\n", "VERSION "+DefaultVersion+"\r\n")
	st := c.readStats()
	now := time.Now().Unix()
	want := map[string]string{
		"pid":                     strconv.Itoa(os.Getpid()),
		"version":                 DefaultVersion,
		"curr_connections":        "2",
		"total_connections":       "2",
		"curr_connections_text":   "2",
		"curr_connections_binary": "0",
		"cmd_get":                 "6", // gets a; get a b nope; mg a; mg nope
		"get_hits":                "4",
		"get_misses":              "2",
		"cmd_set":                 "3",
		"cmd_delete":              "1",
		"cmd_arith":               "1",
		"cmd_touch":               "1",
		"cmd_flush":               "0",
		"bucket":                  "default",
	}
	for name, v := range want {
		if st[name] != v {
			t.Errorf("STAT %s = %q, want %q", name, st[name], v)
		}
	}
	for _, name := range []string{"uptime", "time", "bytes_read", "bytes_written", "vbmap_rev"} {
		if _, ok := st[name]; !ok {
			t.Errorf("STAT %s missing", name)
		}
	}
	if tm, err := strconv.ParseInt(st["time"], 10, 64); err != nil || tm < now-5 || tm > now+5 {
		t.Errorf("STAT time %q, want about %d", st["time"], now)
	}
	if up, err := strconv.Atoi(st["uptime"]); err != nil || up < 0 || up > 600 {
		t.Errorf("STAT uptime %q, want seconds since start", st["uptime"])
	}
	// "stats proxy" is the same group; one the proxy does not have is
	// ERROR, as memcached answers a group it does not know.
	c.send("stats proxy\r\n")
	proxyGroup := c.readStatsReply()
	if len(proxyGroup) != len(st) {
		t.Errorf("stats proxy: %d lines, stats: %d", len(proxyGroup), len(st))
	}
	c.do("stats nonsense\r\nstats items\r\n", "ERROR\r\nERROR\r\n")
}

// TestTextStatsNoEmptyValue pins the fix for "STAT bucket \r\n" (found by
// FuzzTextSession): a proxy without a bucket name wrote a STAT line with no
// value, which clients that split the line on spaces reject. Every line
// now has a name and a value (readStats checks), and the bucket line is
// left out.
func TestTextStatsNoEmptyValue(t *testing.T) {
	_, addr, _, _ := memcachedCluster(t, 1, Options{})
	st := dialText(t, addr).readStats()
	if v, ok := st["bucket"]; ok {
		t.Errorf("STAT bucket %q, want no bucket line without a bucket", v)
	}
	if st["version"] != DefaultVersion {
		t.Errorf("STAT version %q, want %q", st["version"], DefaultVersion)
	}
}

// TestTextFlushAll checks flush_all with Options.AllowFlush over real
// memcached and the simulated cluster: every node is flushed, noreply
// writes nothing, a bad delay is memcached's error.
func TestTextFlushAll(t *testing.T) {
	check := func(t *testing.T, addr string, m *vbmap.Map) {
		c := dialText(t, addr)
		keys := keysOnEveryNode(t, m, "flush-", 1)
		var sets, get, want strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sets, "set %s 0 0 1 noreply\r\nx\r\n", k)
			want.WriteString(value(k, "x"))
		}
		get.WriteString("get " + strings.Join(keys, " ") + "\r\n")
		want.WriteString("END\r\n")
		c.do(sets.String()+get.String(), want.String())
		c.do("flush_all\r\n"+get.String(), "OK\r\nEND\r\n")
		c.do(sets.String()+"flush_all noreply\r\n"+get.String(), "END\r\n")
		c.do("flush_all 0\r\nflush_all abc\r\nflush_all 0 noreply\r\n", "OK\r\nCLIENT_ERROR invalid exptime argument\r\n")
	}
	t.Run("memcached", func(t *testing.T) {
		_, addr, _, src := memcachedCluster(t, 3, Options{AllowFlush: true})
		check(t, addr, src.Current())
	})
	t.Run("sim", func(t *testing.T) {
		_, _, addr, src := simCluster(t, sim.Options{AllowFlush: true}, Options{AllowFlush: true})
		check(t, addr, src.Current())
	})
}

// TestTextNodeFailure pauses a node of the simulated cluster: a command
// for one of its keys gets SERVER_ERROR with a short reason within the
// operation timeout (in a get line, in the key's place, and the line still
// ends with END); the other nodes' keys keep working; after the node
// resumes its keys work again.
func TestTextNodeFailure(t *testing.T) {
	const timeout = 300 * time.Millisecond
	c, _, addr, src := simCluster(t, sim.Options{}, Options{OperationTimeout: timeout})
	keys := keysOnEveryNode(t, src.Current(), "fail-", 1)
	cl := dialText(t, addr)
	for _, k := range keys {
		cl.set(k, k)
	}
	var victim *sim.Node
	for _, n := range c.Nodes() {
		if n.KVAddr() == src.Current().Nodes()[1].Addr {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("no simulated node at %s", src.Current().Nodes()[1].Addr)
	}
	down := keys[1]
	c.Pause(victim)
	start := time.Now()
	// The first request for the paused node times out; the pool then
	// reports the node down, and later requests fail at once.
	cl.send("get " + keys[0] + " " + down + " " + keys[2] + "\r\n")
	cl.expect(value(keys[0], keys[0]))
	cl.expectFailure()
	cl.expect(value(keys[2], keys[2]) + "END\r\n")
	cl.send("set " + down + " 0 0 1\r\nx\r\nincr " + down + " 1\r\nmg " + down + " v\r\nset " + down + " 0 0 1 noreply\r\nx\r\nmn\r\n")
	for range 3 {
		cl.expectFailure()
	}
	cl.expect("MN\r\n")
	if d := time.Since(start); d > 4*timeout+time.Second {
		t.Errorf("four failures took %v, operation timeout %v", d, timeout)
	}
	cl.do("get "+keys[2]+"\r\n", value(keys[2], keys[2])+"END\r\n")
	c.Resume(victim)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl.send("get " + down + "\r\n")
		l := cl.line()
		if l == "VALUE "+down+" 0 "+strconv.Itoa(len(down))+"\r\n" {
			cl.expect(down + "\r\nEND\r\n")
			break
		}
		if !isFailure(l) || time.Now().After(deadline) {
			t.Fatalf("get %s after resume: %q", down, l)
		}
		cl.expect("END\r\n")
		time.Sleep(20 * time.Millisecond)
	}
}

// The proxy's failures: a timeout, or a node known to be down.
var textFailures = []string{
	"SERVER_ERROR temporary failure: node timed out\r\n",
	"SERVER_ERROR temporary failure: node down\r\n",
}

func isFailure(l string) bool {
	for _, f := range textFailures {
		if l == f {
			return true
		}
	}
	return false
}

// expectFailure reads one line and fails unless it is one of the proxy's
// failure replies for a node that does not answer.
func (c *textClient) expectFailure() {
	c.t.Helper()
	if l := c.line(); !isFailure(l) {
		c.t.Fatalf("reply %q, want one of %q", l, textFailures)
	}
}

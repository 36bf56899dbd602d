package proxy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/sim"
)

const tooLarge = "SERVER_ERROR object too large for cache\r\n"

// TestTextValueOverProxyLimit sends values over the proxy's own limit
// (MaxRequestSize 4096): SERVER_ERROR object too large for cache, the data
// block swallowed (never parsed as commands), the connection kept; a set
// also drops the key's old value, as memcached does, an add does not;
// under noreply nothing is written.
func TestTextValueOverProxyLimit(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{MaxRequestSize: 4096})
	c := dialText(t, addr)
	// A block that would be commands if it were parsed.
	block := strings.Repeat("get x\r\n", 5000/7+1)[:5000]
	n := strconv.Itoa(len(block))
	c.do("set a 0 0 1\r\nx\r\nset a 0 0 "+n+"\r\n"+block+"\r\nget a\r\n", "STORED\r\n"+tooLarge+"END\r\n")
	c.do("set b 0 0 1\r\nx\r\nadd b 0 0 "+n+"\r\n"+block+"\r\nget b\r\n", "STORED\r\n"+tooLarge+value("b", "x")+"END\r\n")
	c.do("set d 0 0 1\r\nx\r\nset d 0 0 "+n+" noreply\r\n"+block+"\r\nget d\r\n", "STORED\r\nEND\r\n")
	c.do("ms e 1\r\nx\r\nms e "+n+" T0\r\n"+block+"\r\nmg e v\r\n", "HD\r\n"+tooLarge+"EN\r\n")
	// The block may also come in pieces.
	c.send("set f 0 0 " + n + "\r\n" + block[:1000])
	c.send(block[1000:])
	c.do("\r\nget f\r\n", tooLarge+"END\r\n")
	// The largest value accepted still is.
	limit := 4096 - 8 - 250
	c.do("set g 0 0 "+strconv.Itoa(limit)+"\r\n"+strings.Repeat("v", limit)+"\r\n", "STORED\r\n")
}

// TestTextValueOverUpstreamLimit sends a value the proxy accepts but the
// upstream memcached refuses (over its 1 MB item size): the same reply as
// memcached's own, the old value dropped, the connection kept.
func TestTextValueOverUpstreamLimit(t *testing.T) {
	_, addr, _, _ := memcachedCluster(t, 3, Options{})
	c := dialText(t, addr)
	big := strings.Repeat("z", 1536<<10)
	n := strconv.Itoa(len(big))
	c.do("set a 0 0 1\r\nx\r\nset a 0 0 "+n+"\r\n"+big+"\r\nget a\r\nset a 0 0 1\r\ny\r\nget a\r\n",
		"STORED\r\n"+tooLarge+"END\r\nSTORED\r\n"+value("a", "y")+"END\r\n")
	c.do("set a 0 0 "+n+" noreply\r\n"+big+"\r\nget a\r\n", "END\r\n")
}

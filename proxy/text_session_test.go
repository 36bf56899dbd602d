package proxy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// authExchange is the text authentication exchange of
// TestTextAuthentication, with memcached -Y's replies: before it every
// command is CLIENT_ERROR unauthenticated (the line consumed, the
// connection kept), a wrong password or user is CLIENT_ERROR
// authentication failure, and after STORED the connection works as any
// other.
func authExchange(t *testing.T, addr string) {
	const unauth = "CLIENT_ERROR unauthenticated\r\n"
	const failure = "CLIENT_ERROR authentication failure\r\n"
	c := dialText(t, addr)
	// One at a time: memcached answers one command per read before
	// authentication.
	for _, x := range []struct{ send, want string }{
		{"get a\r\n", unauth},
		{"version\r\n", unauth},
		{"mn\r\n", unauth},
		{"stats\r\n", unauth},
		{"quit\r\n", unauth},
		{"set a 0 0 1\r\nx\r\n", "CLIENT_ERROR bad authentication token format\r\n"},
		{"set a 0 0 x\r\n", unauth},
		{"set auth 0 0 12\r\nalice wrong!\r\n", failure},
		{"set auth 0 0 12\r\nbob secret!!\r\n", failure},
		{"set auth 0 0 12\r\nnobody secre\r\n", failure},
		{"set auth 0 0 12\r\nalice secretXY", "CLIENT_ERROR bad command line termination\r\n"},
		{"get a\r\n", unauth},
	} {
		c.send(x.send)
		c.expect(x.want)
	}
	c.send("set auth 0 0 12\r\nalice secret\r\n")
	c.expect("STORED\r\n")
	c.do("set a 0 0 1\r\nx\r\nget a\r\nmg a v\r\n", "STORED\r\n"+value("a", "x")+"END\r\nVA 1\r\nx\r\n")

	// Another user, the whole exchange in one write.
	b := dialText(t, addr)
	b.do("set x 0 0 14\r\nbob hunter2 xx\r\nget a\r\n", "STORED\r\n"+value("a", "x")+"END\r\n")
}

// TestTextAuthentication runs authExchange through the proxy with
// Options.Users, and against memcached -Y with the same users, so that the
// expected replies are memcached's own.
func TestTextAuthentication(t *testing.T) {
	t.Run("proxy", func(t *testing.T) {
		_, srv, addr, _ := simCluster(t, sim.Options{}, Options{Users: map[string]string{"alice": "secret", "bob": "hunter2"}})
		authExchange(t, addr)
		if got := srv.Stats().AuthFailures; got != 3 {
			t.Errorf("AuthFailures = %d, want 3", got)
		}
		// An authentication block larger than the proxy buffers closes.
		big := dialText(t, addr)
		big.send(fmt.Sprintf("set auth 0 0 %d\r\n", memcached.MaxTextAuthData+1))
		big.expectClosed("")
	})
	t.Run("memcached", func(t *testing.T) {
		// memcached reads the file after dropping root for its own user.
		dir := t.TempDir()
		must(t, os.Chmod(filepath.Dir(dir), 0o755))
		must(t, os.Chmod(dir, 0o755))
		file := filepath.Join(dir, "auth")
		must(t, os.WriteFile(file, []byte("alice:secret\nbob:hunter2\n"), 0o644))
		authExchange(t, mctest.Start(t, "-Y", file))
	})
}

// TestTextProtocolsRestricted: a listener serving one protocol answers a
// client of the other with an error in the client's own protocol, then
// closes; its own protocol works.
func TestTextProtocolsRestricted(t *testing.T) {
	nodes := []string{startMemcached(t)}
	src := newTestSource(staticMap(t, 1, nodes, 64))
	t.Run("binary only", func(t *testing.T) {
		_, addr := startProxy(t, Options{Map: src, Protocols: ProtocolsBinary})
		c := dialText(t, addr)
		c.send("get a\r\n")
		c.expectClosed("SERVER_ERROR text protocol not enabled on this listener\r\n")
		bc := dial(t, addr)
		bc.set("a", "x")
		if v, st := bc.get("a"); v != "x" {
			t.Fatalf("binary GET on a binary listener: %q %v", v, st)
		}
	})
	t.Run("text only", func(t *testing.T) {
		_, addr := startProxy(t, Options{Map: src, Protocols: ProtocolsText})
		bc := dial(t, addr)
		bc.write(req(memcached.OpGet, 9, nil, []byte("a"), nil))
		h, b := bc.read()
		if h.Status != memcached.StatusUnknownCommand {
			t.Fatalf("binary client on a text listener: status %v (%q), want UNKNOWN_COMMAND", h.Status, b[memcached.HeaderLen:])
		}
		if msg := string(b[memcached.HeaderLen+int(h.ExtrasLen)+int(h.KeyLen):]); !strings.Contains(msg, "not enabled on this listener") {
			t.Errorf("refusal message %q, want it to say the protocol is not enabled", msg)
		}
		bc.expectClosed()
		c := dialText(t, addr)
		c.do("set a 0 0 1\r\ny\r\nget a\r\n", "STORED\r\n"+value("a", "y")+"END\r\n")
	})
}

// TestTextHostileConnections sends hostile bytes on several text
// connections (binary garbage, an HTTP request, an unbounded line, a get
// line past the request limit, a huge declared value, a stalled partial
// command) while a well-behaved client works: its every reply is right,
// and each hostile connection gets what memcached would give it.
func TestTextHostileConnections(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{MaxRequestSize: 64 << 10, OperationTimeout: 2 * time.Second})
	good := dialText(t, addr)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var goodErr error
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprintf("good-%d", i)
			v := strings.Repeat("v", i%300)
			want := fmt.Sprintf("STORED\r\nVALUE %s 0 %d\r\n%s\r\nEND\r\nVA %d\r\n%s\r\nMN\r\n", k, len(v), v, len(v), v)
			_, _ = fmt.Fprintf(good.conn, "set %s 0 0 %d\r\n%s\r\nget %s\r\nmg %s v\r\nmn\r\n", k, len(v), v, k, k)
			got, err := good.readN(len(want))
			if err != nil || got != want {
				goodErr = fmt.Errorf("round %d: got %q (%v), want %q", i, got, err, want)
				return
			}
		}
	})
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
		if garbage[i] == '\n' || garbage[i] == 0x80 {
			garbage[i] = 'x'
		}
	}
	hostile := []struct {
		name string
		send string
		want string // the replies before the close
	}{
		{"http request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"line without end", "set " + strings.Repeat("k", 5000), ""},
		{"get line past the request limit", "get " + strings.Repeat("key ", 20<<10), ""},
		{"binary garbage", "x" + string(garbage), ""},
		{"unknown commands then garbage", strings.Repeat("bogus command\r\n", 100) + string(garbage),
			strings.Repeat("ERROR\r\n", 100)},
		{"value over the limit then a line without end", "set a 0 0 4000000000\r\n" + strings.Repeat("z", 3000),
			"CLIENT_ERROR bad command line format\r\n"},
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			c := dialText(t, addr)
			go func() { _, _ = c.conn.Write([]byte(h.send)) }()
			c.expectClosed(h.want)
		})
	}
	// A stalled partial command holds the connection but nothing else.
	stalled := dialText(t, addr)
	stalled.send("set stalled 0 0 100\r\nonly part")
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if goodErr != nil {
		t.Fatalf("the well-behaved client: %v", goodErr)
	}
	stalled.send(strings.Repeat("p", 91) + "\r\nget stalled\r\n")
	stalled.do("", "STORED\r\n"+value("stalled", "only part"+strings.Repeat("p", 91))+"END\r\n")
}

// TestTextIdleSessionHoldsNoBuffers: once a text client's replies are
// written, its session holds no read or write buffer, and no slot keeps
// more than its retention bound, whatever the client sent before (a large
// value, a long multi-get, a partial command completed later).
func TestTextIdleSessionHoldsNoBuffers(t *testing.T) {
	srv, addr, _, _ := memcachedCluster(t, 3, Options{})
	c := dialText(t, addr)
	big := strings.Repeat("b", 300<<10)
	c.do(fmt.Sprintf("set big 0 0 %d\r\n%s\r\n", len(big), big), "STORED\r\n")
	c.do("get big big\r\n", value("big", big)+value("big", big)+"END\r\n")
	var keys []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("idle-key-%d", i))
	}
	c.do("get "+strings.Join(keys, " ")+"\r\n", "END\r\n")
	c.send("set part 0 0 5\r\nab")
	time.Sleep(20 * time.Millisecond)
	c.do("cde\r\n", "STORED\r\n")
	checked := 0
	waitFor(t, func() bool {
		idle := true
		checked = 0
		srv.onEveryLoopWait(func(ls *loopState) {
			for s := range ls.sessions {
				checked++
				if s.in != nil || s.out != nil || s.head != s.tail {
					idle = false
				}
				for _, sl := range s.slots {
					if sl != nil && (cap(sl.local) > retainLocal || sl.pkt.Cap() > retainPacket) {
						idle = false
					}
				}
			}
		})
		return idle
	})
	if checked != 1 {
		t.Fatalf("checked %d sessions, want 1", checked)
	}
}

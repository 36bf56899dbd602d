package proxy

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// runMemcapable runs libmemcached's memccapable suite for one protocol
// (mode "-b" binary, "-a" ascii) against addr and fails on any failed
// test.
func runMemcapable(t *testing.T, addr, mode string) {
	t.Helper()
	path, err := exec.LookPath("memccapable")
	if err != nil {
		t.Fatalf("memccapable not found (install libmemcached-tools): %v", err)
	}
	host, port := splitAddr(t, addr)
	out, err := exec.Command(path, mode, "-h", host, "-p", strconv.Itoa(port)).CombinedOutput()
	t.Logf("memccapable:\n%s", out)
	if err != nil {
		t.Fatalf("memccapable failed: %v", err)
	}
	if strings.Contains(strings.ToLower(string(out)), "fail") {
		t.Fatalf("memccapable reported a failure")
	}
	if !strings.Contains(string(out), "All tests passed") {
		t.Fatalf("memccapable output lacks \"All tests passed\"")
	}
}

func TestMemcapableMemcached(t *testing.T) {
	_, addr, _, _ := memcachedCluster(t, 3, Options{AllowFlush: true})
	runMemcapable(t, addr, "-b")
}

func TestMemcapableSim(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{AllowFlush: true}, Options{AllowFlush: true})
	runMemcapable(t, addr, "-b")
}

// TestMemcapableTextMemcached runs memccapable's text suite (-a) through
// the proxy over three real memcached servers.
func TestMemcapableTextMemcached(t *testing.T) {
	_, addr, _, _ := memcachedCluster(t, 3, Options{AllowFlush: true})
	runMemcapable(t, addr, "-a")
}

// TestMemcapableTextSim runs memccapable's text suite (-a) through the
// proxy over the simulated cluster.
func TestMemcapableTextSim(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{AllowFlush: true}, Options{AllowFlush: true})
	runMemcapable(t, addr, "-a")
}

// TestMemcapableTextDirect runs memccapable -a against memcached itself, so
// that a failure through the proxy can be told from one of the suite.
func TestMemcapableTextDirect(t *testing.T) {
	runMemcapable(t, startMemcached(t), "-a")
}

// TestDeleteReplyCASIsZero pins the fix for memccapable's "binary delete"
// failing through the proxy: Couchbase answers a DELETE with the deletion's
// CAS, memcached (which our clients expect) with 0.
func TestDeleteReplyCASIsZero(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	c := dial(t, addr)
	c.set("doomed", "v")
	for _, op := range []memcached.Opcode{memcached.OpDelete, memcached.OpDeleteQ} {
		c.set("doomed", "v")
		c.write(req(op, 7, nil, []byte("doomed"), nil))
		c.write(req(memcached.OpNoop, 8, nil, nil, nil))
		h, _ := c.read()
		if op.Quiet() {
			if h.Opcode != memcached.OpNoop {
				t.Fatalf("%s: got a %s reply before NOOP, want the success suppressed", op, h.Opcode)
			}
			continue
		}
		if h.Status != memcached.StatusSuccess || h.CAS != 0 {
			t.Fatalf("%s reply: status %s CAS %d, want SUCCESS with CAS 0", op, h.Status, h.CAS)
		}
		if h, _ = c.read(); h.Opcode != memcached.OpNoop {
			t.Fatalf("after DELETE: got %s, want NOOP", h.Opcode)
		}
	}
}

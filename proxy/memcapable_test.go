package proxy

import (
	"github.com/vbproxy/vbproxy/sim"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// runMemcapable runs libmemcached's memccapable binary-protocol suite
// against addr and fails on any failed test.
func runMemcapable(t *testing.T, addr string) {
	t.Helper()
	path, err := exec.LookPath("memccapable")
	if err != nil {
		t.Fatalf("memccapable not found (install libmemcached-tools): %v", err)
	}
	host, port := splitAddr(t, addr)
	out, err := exec.Command(path, "-b", "-h", host, "-p", strconv.Itoa(port)).CombinedOutput()
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
	runMemcapable(t, addr)
}

func TestMemcapableSim(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{AllowFlush: true, ZeroDeleteCAS: true}, Options{AllowFlush: true})
	runMemcapable(t, addr)
}

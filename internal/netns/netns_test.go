package netns

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// echo serves ln: every line read is written back.
func echo(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

// roundTrip dials addr from h, sends a line and reads it back.
func roundTrip(h *Host, addr string, timeout time.Duration) error {
	c, err := h.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return lineTrip(c, timeout)
}

func lineTrip(c net.Conn, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("echo answered " + line)
	}
	return nil
}

// isTimeout reports whether err is a timeout (no answer), not a refusal.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func twoHosts(t *testing.T) (l *Lab, a, b *Host) {
	l = New(t)
	a, err := l.AddHost("a", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	b, err = l.AddHost("b", netip.MustParseAddr("198.18.0.20"))
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"7000", "7001"} {
		ln, err := b.Listen("tcp", b.IP.String()+":"+port)
		if err != nil {
			t.Fatal(err)
		}
		echo(t, ln)
	}
	return l, a, b
}

func TestHostsTalkOverTheBridge(t *testing.T) {
	_, a, b := twoHosts(t)
	if a.IP != netip.MustParseAddr("198.18.1.1") {
		t.Errorf("first automatic address: got %s, want 198.18.1.1", a.IP)
	}
	if err := roundTrip(a, b.Addr(7000), 2*time.Second); err != nil {
		t.Fatalf("a -> b: %v", err)
	}
	out, err := b.Command("ip", "-4", "-o", "addr", "show", "dev", "eth0").Output()
	if err != nil || !strings.Contains(string(out), " 198.18.0.20/15 ") {
		t.Errorf("ip addr inside b: got %q %v, want 198.18.0.20/15 on eth0", out, err)
	}
	// The lab's addresses exist only inside its namespaces. (Never dial
	// them from the root namespace: its default route leads off the
	// machine.)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range addrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil && Network.Contains(p.Addr()) {
			t.Errorf("the root namespace has lab address %s", p)
		}
	}
}

func TestBlackholeDropsWithoutReset(t *testing.T) {
	_, a, b := twoHosts(t)
	conn, err := a.DialTimeout("tcp", b.Addr(7000), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := lineTrip(conn, 2*time.Second); err != nil {
		t.Fatalf("before the fault: %v", err)
	}
	if err := b.Apply(Blackhole()); err != nil {
		t.Fatal(err)
	}
	if err := lineTrip(conn, 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("established connection under blackhole: got %v, want a timeout", err)
	}
	if err := roundTrip(a, b.Addr(7001), 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("new connection under blackhole: got %v, want a timeout (no reset)", err)
	}
	if n, err := b.SYNs(); err != nil || n != 1 {
		t.Errorf("SYNs seen by b: got %d %v, want 1 (the one attempt)", n, err)
	}
	if err := b.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(a, b.Addr(7001), 2*time.Second); err != nil {
		t.Errorf("after heal: %v", err)
	}
}

func TestDropPortCutsOnlyThatPort(t *testing.T) {
	_, a, b := twoHosts(t)
	if err := b.Apply(DropPort(7001)); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(a, b.Addr(7000), 2*time.Second); err != nil {
		t.Errorf("port 7000 with 7001 dropped: %v", err)
	}
	if err := roundTrip(a, b.Addr(7001), 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("port 7001 dropped: got %v, want a timeout", err)
	}
	// Loss 100% replaces the port fault and drops everything.
	if err := b.Apply(Loss(100)); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(a, b.Addr(7000), 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("loss 100%%: got %v, want a timeout", err)
	}
	// Partial loss and a port fault together: TCP retransmits through 5%.
	if err := b.Apply(Loss(5), DropPort(7001)); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(a, b.Addr(7000), 10*time.Second); err != nil {
		t.Errorf("loss 5%%: %v", err)
	}
	if err := b.Apply(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(a, b.Addr(7001), 2*time.Second); err != nil {
		t.Errorf("after Apply(): %v", err)
	}
	if err := b.Apply(Loss(0)); err == nil || !strings.Contains(err.Error(), "loss 0%: want 1-100") {
		t.Errorf("Loss(0): got %v, want the range error", err)
	}
}

func TestLinkDownAndUp(t *testing.T) {
	_, a, b := twoHosts(t)
	if err := b.LinkDown(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(a, b.Addr(7000), 300*time.Millisecond); err == nil {
		t.Errorf("dial with b's link down succeeded")
	}
	if err := b.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(a, b.Addr(7000), 2*time.Second); err != nil {
		t.Errorf("after LinkUp: %v", err)
	}
}

func TestAddHostChecks(t *testing.T) {
	l := New(t)
	if _, err := l.AddHost("x", netip.MustParseAddr("127.0.0.5")); err == nil || !strings.Contains(err.Error(), "outside 198.18.0.0/15") {
		t.Errorf("loopback address: got %v, want outside-the-range error", err)
	}
	if _, err := l.AddHost("Bad_Name", netip.Addr{}); err == nil {
		t.Errorf("bad name accepted")
	}
	if _, err := l.AddHost("x", netip.MustParseAddr("198.18.0.9")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddHost("x", netip.Addr{}); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("duplicate name: got %v", err)
	}
	if _, err := l.AddHost("y", netip.MustParseAddr("198.18.0.9")); err == nil || !strings.Contains(err.Error(), `is host "x"'s`) {
		t.Errorf("duplicate address: got %v", err)
	}
}

func TestCloseAndStaleRemoval(t *testing.T) {
	l := New(t)
	h, err := l.AddHost("gone", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	stale := Prefix + "99999999-dead-x"
	if err := ipRun("netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	if err := RemoveStale(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{stale, h.NS, l.hub} {
		if strings.Contains(string(out), name) {
			t.Errorf("namespace %s still exists after cleanup", name)
		}
	}
	if _, err := os.Stat("/run/netns/" + h.NS); !os.IsNotExist(err) {
		t.Errorf("/run/netns/%s: got %v, want it gone", h.NS, err)
	}
}

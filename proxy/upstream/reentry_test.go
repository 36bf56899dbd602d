package upstream

import (
	"testing"
	"time"
)

// A Completer may end the connection that completes it (Close or Drain,
// on the loop, from Complete) while that connection is failing everything
// it carried: the connection stays closed (no redial), onClosed runs once,
// and the remaining requests still complete exactly once.
func TestCloseFromCompleteWhileFailing(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(c *Conn)
	}{
		{"close", (*Conn).Close},
		{"drain", (*Conn).Drain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeKV(t, fakeConfig{})
			h := newHarness(t)
			n := h.node(f.addr, Options{OperationTimeout: time.Minute, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			c := h.conn(h.loop(), n)
			c.waitUp(t)
			f.setDropData(true)
			rec := newRecorder(t, 8)
			stopped := false
			done := CompleterFunc(func(r *Request) {
				if !stopped {
					stopped = true
					tc.stop(c.Conn)
				}
				rec.Complete(r)
			})
			c.sendAll(t, getRequests(4, "k", done, 0))
			waitFor(t, "requests at the server", func() bool { _, d := f.counts(); return d == 4 })
			f.closeConns()
			for _, r := range rec.wait(t, 4) {
				if r.err != ErrConnClosed {
					t.Errorf("err = %v, want ErrConnClosed", r.err)
				}
			}
			c.waitClosed(t)
			time.Sleep(50 * time.Millisecond) // many backoffs: a redial would have happened
			if got := len(f.acceptTimes()); got != 1 {
				t.Errorf("accepted %d connections, want 1 (no redial after %s)", got, tc.name)
			}
			var up bool
			var err error
			c.l.do(func() {
				up = c.Up()
				err = c.Send(&Request{Packet: getPacket(9, "k"), Done: rec})
			})
			if up || err != ErrClosed {
				t.Errorf("after %s from Complete: Up %v, Send = %v; want down and ErrClosed", tc.name, up, err)
			}
			if got := n.Conns(); got != 0 {
				t.Errorf("Conns = %d, want 0", got)
			}
		})
	}
}

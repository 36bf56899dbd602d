//go:build linux

package eventloop

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func startLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New(Options{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := l.Run(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		l.Stop()
		select {
		case <-l.Done():
		case <-time.After(5 * time.Second):
			t.Error("loop did not stop")
		}
	})
	return l
}

// onLoop runs fn on the loop and waits for it.
func onLoop(t *testing.T, l *Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	l.Post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("posted task did not run")
	}
}

func TestPostFromManyGoroutines(t *testing.T) {
	l := startLoop(t)
	const posters, each = 8, 2000
	var got [posters]int // loop thread only
	var wg sync.WaitGroup
	for p := range posters {
		wg.Go(func() {
			for i := range each {
				l.Post(func() {
					if got[p] != i {
						t.Errorf("poster %d: task %d ran as number %d (out of order)", p, i, got[p])
					}
					got[p]++
				})
			}
		})
	}
	wg.Wait()
	onLoop(t, l, func() {
		for p, n := range got {
			if n != each {
				t.Errorf("poster %d: %d tasks ran, want %d", p, n, each)
			}
		}
	})
}

func TestTimersFireInOrder(t *testing.T) {
	l := startLoop(t)
	var mu sync.Mutex
	var order []int
	done := make(chan struct{})
	delays := []time.Duration{30, 10, 50, 20, 40} // ms
	timers := make([]*Timer, len(delays))
	start := time.Now() // before the loop reads its clock for the round that schedules them
	onLoop(t, l, func() {
		for i, d := range delays {
			timers[i] = NewTimer(func() {
				mu.Lock()
				order = append(order, int(d))
				if len(order) == len(delays)-1 {
					close(done)
				}
				mu.Unlock()
			})
			l.After(timers[i], d*time.Millisecond)
		}
		l.Cancel(timers[2])                     // the 50ms one never fires
		l.After(timers[1], 25*time.Millisecond) // 10ms becomes 25ms
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timers did not fire")
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("last timer fired after %v, before its 40ms", el)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{20, 10, 30, 40}; !equalInts(order, want) {
		t.Errorf("fired in order %v, want %v (as delays in ms before rescheduling)", order, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// echo reads until EAGAIN and writes everything back.
type echo struct {
	l   *Loop
	fd  int
	buf []byte
	out []byte
	hup chan struct{}
}

func (e *echo) Event(ev uint32) {
	for {
		n, err := unix.Read(e.fd, e.buf)
		if n > 0 {
			e.out = append(e.out, e.buf[:n]...)
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		// EOF or error: done with this descriptor.
		_ = e.l.Close(e.fd)
		close(e.hup)
		return
	}
	if len(e.out) > 0 {
		e.l.MarkDirty(e, StageClient)
	}
}

func (e *echo) Flush() {
	n, err := unix.Write(e.fd, e.out)
	if err == nil {
		e.out = e.out[n:]
	}
}

func TestEdgeTriggeredEcho(t *testing.T) {
	l := startLoop(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := fds[1]
	defer unix.Close(peer)
	e := &echo{l: l, fd: fds[0], buf: make([]byte, 7), hup: make(chan struct{})} // a small buffer: several reads per event
	onLoop(t, l, func() {
		if err := l.Add(e.fd, e); err != nil {
			t.Error(err)
		}
	})
	msg := bytes.Repeat([]byte("0123456789"), 50)
	if _, err := unix.Write(peer, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 1024)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(msg) && time.Now().Before(deadline) {
		n, err := unix.Read(peer, buf)
		if n > 0 {
			got = append(got, buf[:n]...)
		} else if err == unix.EAGAIN {
			time.Sleep(time.Millisecond)
		}
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echoed %d bytes, want %d", len(got), len(msg))
	}
	_ = unix.Shutdown(peer, unix.SHUT_WR)
	select {
	case <-e.hup:
	case <-time.After(5 * time.Second):
		t.Fatal("end of stream not seen")
	}
}

func BenchmarkPostRoundTrip(b *testing.B) {
	l, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = l.Run() }()
	defer l.Stop()
	done := make(chan struct{}, 1)
	fn := func() { done <- struct{}{} }
	b.ReportAllocs()
	for range b.N {
		l.Post(fn)
		<-done
	}
}

func BenchmarkTimerSchedule(b *testing.B) {
	l, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	ts := make([]*Timer, 1024)
	for i := range ts {
		ts[i] = NewTimer(func() {})
		l.Schedule(ts[i], int64(i)*1000)
	}
	b.ReportAllocs()
	for i := range b.N {
		l.Schedule(ts[i&1023], int64(i))
	}
}

// TestBusyLoopYields: a loop that wakes every millisecond still yields its P
// to the scheduler every yieldEvery, so that the runtime does not take the P
// from it in the middle of epoll_wait (see yieldEvery).
func TestBusyLoopYields(t *testing.T) {
	l, err := New(Options{Name: "yield"})
	if err != nil {
		t.Fatal(err)
	}
	var tick Timer
	var ticks int
	tick.f = func() {
		ticks++
		l.After(&tick, time.Millisecond)
	}
	l.Post(func() { l.After(&tick, time.Millisecond) })
	every := time.Duration(yieldEvery)
	start := time.Now()
	go func() { _ = l.Run() }()
	time.Sleep(20 * every)
	l.Stop()
	<-l.Done()
	elapsed := time.Since(start)
	if ticks < 20 {
		t.Fatalf("the timer fired %d times in %v; want it to keep the loop busy", ticks, elapsed)
	}
	// One yield per yieldEvery of loop time: never more, and at least one
	// per two periods (a round can be late on a loaded machine).
	if most, least := int(elapsed/every)+1, int(elapsed/(2*every)); l.yields > most || l.yields < least {
		t.Fatalf("the loop yielded %d times in %v; want %d to %d (one every %v)", l.yields, elapsed, least, most, every)
	}
}

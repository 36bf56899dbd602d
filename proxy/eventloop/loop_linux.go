//go:build linux

package eventloop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Readiness bits passed to Handler.Event.
const (
	In    = unix.EPOLLIN
	Out   = unix.EPOLLOUT
	Err   = unix.EPOLLERR
	Hup   = unix.EPOLLHUP | unix.EPOLLRDHUP
	flags = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
)

// Handler receives the readiness of a registered descriptor, on the loop's
// thread. With edge triggering it must read until EAGAIN (and, once Out
// was reported, may write until EAGAIN again).
type Handler interface {
	Event(events uint32)
}

// Flusher is something with output to write at the end of the round.
type Flusher interface {
	Flush()
}

// Flush stages: upstream connections are flushed before clients.
const (
	StageUpstream = 0
	StageClient   = 1
)

// Options configure a Loop. The zero value works.
type Options struct {
	// Name appears in errors and in the thread's role in profiles.
	Name string
	// MaxEvents is the most events one epoll_wait returns. 0 means 256.
	MaxEvents int
}

// Loop is one event loop. Create it with New, run it with Run on a goroutine
// of its own, stop it with Stop.
type Loop struct {
	name   string
	epfd   int
	efd    int // eventfd: Post wakes the loop through it
	events []unix.EpollEvent
	files  []file // by descriptor number
	epoch  time.Time
	now    int64

	mu       sync.Mutex // guards tasks
	one      [8]byte    // the eventfd increment (a field: no allocation per Post)
	drainBuf [8]byte    // the eventfd read (loop thread)
	tasks    []func()
	spare    []func()
	wakeSet  atomic.Bool // the eventfd was written and not yet drained

	timers timerHeap
	yields int // loop thread; tests read it after Done
	dirty  [2][]Flusher
	stop   bool
	done   chan struct{}
	ran    atomic.Bool
}

type file struct {
	h   Handler
	gen uint32
}

// New creates a loop (its epoll instance and eventfd).
func New(o Options) (*Loop, error) {
	if o.MaxEvents <= 0 {
		o.MaxEvents = 256
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventloop %s: epoll_create1: %w", o.Name, err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventloop %s: eventfd: %w", o.Name, err)
	}
	l := &Loop{
		name:   o.Name,
		epfd:   epfd,
		efd:    efd,
		events: make([]unix.EpollEvent, o.MaxEvents),
		epoch:  time.Now(),
		done:   make(chan struct{}),
	}
	binary.NativeEndian.PutUint64(l.one[:], 1) // eventfd adds a native-endian uint64
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(efd)
		return nil, fmt.Errorf("eventloop %s: register eventfd: %w", o.Name, err)
	}
	return l, nil
}

// Name returns the loop's name.
func (l *Loop) Name() string { return l.name }

// Now is the loop's clock: nanoseconds since the loop was created, read
// once per round. Loop thread only.
func (l *Loop) Now() int64 { return l.now }

// Clock reads the monotonic clock now, on any goroutine, in the loop's
// time base.
func (l *Loop) Clock() int64 { return int64(time.Since(l.epoch)) }

// Time converts a loop time to wall-clock time.
func (l *Loop) Time(t int64) time.Time { return l.epoch.Add(time.Duration(t)) }

// At converts a wall-clock time to the loop's time base.
func (l *Loop) At(t time.Time) int64 { return int64(t.Sub(l.epoch)) }

// Add registers fd (non-blocking) with h. Loop thread only (or before Run).
func (l *Loop) Add(fd int, h Handler) error {
	if fd < 0 {
		return fmt.Errorf("eventloop %s: bad descriptor %d", l.name, fd)
	}
	for fd >= len(l.files) {
		l.files = append(l.files, make([]file, max(len(l.files), 64))...)
	}
	f := &l.files[fd]
	f.h = h
	f.gen++
	ev := unix.EpollEvent{Events: flags, Fd: int32(fd), Pad: int32(f.gen)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		f.h = nil
		return fmt.Errorf("eventloop %s: register fd %d: %w", l.name, fd, err)
	}
	return nil
}

// Close unregisters fd and closes it. Events already returned for it in
// this round are dropped. Loop thread only.
func (l *Loop) Close(fd int) error {
	if fd >= 0 && fd < len(l.files) {
		l.files[fd].h = nil
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	return unix.Close(fd)
}

// Post queues fn to run on the loop's thread in its next round. Safe from
// any goroutine, and from the loop itself. After Stop, fn may never run.
func (l *Loop) Post(fn func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, fn)
	l.mu.Unlock()
	if !l.wakeSet.Swap(true) {
		for {
			_, err := unix.Write(l.efd, l.one[:])
			if err != unix.EINTR {
				break
			}
		}
	}
}

// Schedule makes t fire at loop time when (rescheduling it if it was
// already scheduled). A time already past fires in the next round, never in
// the one running. Loop thread only.
func (l *Loop) Schedule(t *Timer, when int64) {
	t.when = max(when, l.now+1)
	if t.pos > 0 {
		l.timers.fix(t.pos - 1)
		return
	}
	l.timers.push(t)
}

// After makes t fire d from now.
func (l *Loop) After(t *Timer, d time.Duration) { l.Schedule(t, l.now+int64(d)) }

// Cancel unschedules t (harmless when it is not scheduled).
func (l *Loop) Cancel(t *Timer) {
	if t.pos > 0 {
		l.timers.remove(t)
	}
}

// MarkDirty makes f.Flush run at the end of this round, in stage
// StageUpstream or StageClient. The caller keeps its own dirty flag so that
// it is marked once per round. Loop thread only.
func (l *Loop) MarkDirty(f Flusher, stage int) { l.dirty[stage] = append(l.dirty[stage], f) }

// Stop makes the loop return from Run after its current round. Safe from any
// goroutine.
func (l *Loop) Stop() { l.Post(func() { l.stop = true }) }

// Done is closed when Run has returned and the loop's descriptors are
// closed.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Run runs the loop on the calling goroutine, locked to its OS thread, until
// Stop. It closes the epoll instance and the eventfd when it returns; the
// descriptors registered by handlers are theirs to close before Stop.
func (l *Loop) Run() error {
	if l.ran.Swap(true) {
		return errors.New("eventloop: Run called twice")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.done)
	defer func() {
		_ = unix.Close(l.epfd)
		_ = unix.Close(l.efd)
	}()
	l.now = l.Clock()
	yielded := l.now
	for !l.stop {
		if l.now-yielded >= yieldEvery {
			// See yieldEvery.
			runtime.Gosched()
			yielded = l.now
			l.yields++
		}
		n, err := unix.EpollWait(l.epfd, l.events, l.timeout())
		l.now = l.Clock()
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("eventloop %s: epoll_wait: %w", l.name, err)
		}
		woken := false
		for i := range max(n, 0) {
			ev := &l.events[i]
			fd := int(ev.Fd)
			if fd == l.efd {
				woken = true
				continue
			}
			if fd < len(l.files) {
				if f := l.files[fd]; f.h != nil && f.gen == uint32(ev.Pad) {
					f.h.Event(ev.Events)
				}
			}
		}
		if woken {
			l.runTasks()
		}
		l.runTimers()
		l.flush()
	}
	return nil
}

// yieldEvery is how often a busy loop yields its P to the scheduler. The
// loop goroutine never parks, so without it the scheduler tick of its P
// stops moving, and after 10 ms the runtime's sysmon treats the loop as a
// goroutine that will not give the P back: it takes the P away in the middle
// of epoll_wait, the loop must find a P again when the wait returns (waking
// sysmon, which then polls every 20 µs for a millisecond) and is preempted on
// its next call. Measured at 1x1 (perf stat): 0.4-0.75 nanosleep and 2.6-3.0
// context switches per request without it, 0.03 and 2.0-2.2 with it;
// twemproxy makes 1.95. A yield every 8 ms costs a few thread hand-offs of
// the locked loop thread: 125 a second at most.
const yieldEvery = int64(8 * time.Millisecond)

// timeout is epoll_wait's timeout: -1 with no timer, else the milliseconds
// to the next one, rounded up.
func (l *Loop) timeout() int {
	if len(l.dirty[0])+len(l.dirty[1]) > 0 {
		return 0
	}
	if len(l.timers) == 0 {
		return -1
	}
	d := l.timers[0].when - l.Clock()
	if d <= 0 {
		return 0
	}
	const ms = int64(time.Millisecond)
	return int(min((d+ms-1)/ms, 1<<30))
}

func (l *Loop) runTasks() {
	for {
		_, err := unix.Read(l.efd, l.drainBuf[:])
		if err != unix.EINTR {
			break
		}
	}
	// Clear before taking the tasks: a Post that comes after the swap
	// writes the eventfd again.
	l.wakeSet.Store(false)
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = l.spare[:0]
	l.mu.Unlock()
	for i, fn := range tasks {
		tasks[i] = nil
		fn()
	}
	l.spare = tasks[:0]
}

func (l *Loop) runTimers() {
	for len(l.timers) > 0 && l.timers[0].when <= l.now {
		t := l.timers[0]
		l.timers.remove(t)
		t.f()
	}
}

func (l *Loop) flush() {
	for stage := range l.dirty {
		// A flush may mark another flusher (of a later stage, or its own
		// stage again): run until the stage's list stays empty.
		for i := 0; i < len(l.dirty[stage]); i++ {
			f := l.dirty[stage][i]
			l.dirty[stage][i] = nil
			f.Flush()
		}
		l.dirty[stage] = l.dirty[stage][:0]
	}
}

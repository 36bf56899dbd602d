// Package eventloop is vbproxy's event loop: one goroutine locked to its OS
// thread, blocked in epoll_wait, that owns a set of non-blocking file
// descriptors and everything attached to them.
//
// # Ownership
//
// Everything registered with a Loop, and every Timer it schedules, belongs
// to the loop's thread: handlers, timers and flushers run there, one at a
// time, so the state they touch needs no lock. Other goroutines talk to a
// loop only through Post, which queues a function and wakes the loop
// through an eventfd (one write per burst of posts, not per post).
//
// # A round
//
// Each wake-up is one round:
//
//  1. epoll_wait, with the time to the next timer as its timeout;
//  2. the events: each registered Handler gets the readiness bits of its
//     descriptor (edge-triggered: the handler reads until EAGAIN);
//  3. the posted tasks, then the timers that are due;
//  4. the flushers marked dirty during the round, stage 0 (upstream
//     connections) before stage 1 (clients), each once: so everything a
//     round parsed and routed leaves in one write per connection.
//
// Descriptors are registered once for EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge
// triggered, and never modified: EPOLLOUT then reports only the moment a
// full socket buffer has room again (after a write returned EAGAIN), so a
// writer that wrote everything at once never pays an epoll_ctl or a
// wake-up for it.
//
// # Time
//
// Now is read once per round from the monotonic clock (nanoseconds since
// the loop started); timers are a binary heap of intrusive Timer values
// (no allocation to schedule), and epoll_wait's millisecond timeout is
// rounded up so a timer never fires early.
//
// The loop blocks in epoll_wait through the ordinary system-call entry
// (golang.org/x/sys/unix), so the Go scheduler knows the thread is blocked
// and the garbage collector never waits for it.
//
// The package needs Linux: on other systems it does not build (the error
// names docs/design.md), and there is no portable fallback.
package eventloop

package proxy

import (
	"bufio"
	"io"
	"sync"

	"github.com/vbproxy/vbproxy/memcached"
)

// Client-side buffers.
//
// A session holds its read and write buffers only while it has bytes to
// process: an idle client connection (most of them, on a proxy with
// thousands of clients) holds neither. The reader waits for the next request
// with a small read into the session's own idleBuf; only when bytes arrive
// does it take a memcached.Reader (with a clientReadBuf buffer) from a pool,
// and it gives it back as soon as everything read has been parsed. The
// writer takes a bufio.Writer when it has a reply to write and gives it back
// after each flush, before it waits. In steady state the pools make this
// free of allocation, and a request that fits in idleBuf costs no syscall
// more than before.
const (
	clientReadBuf  = 16 << 10 // holds a deep pipeline of small requests per read
	clientWriteBuf = 16 << 10 // batches a pipeline's replies into one write
	idleBufSize    = 1 << 10  // the first read after an idle wait
)

// clientBuffers are a Server's pools of client read and write buffers.
type clientBuffers struct {
	readers sync.Pool // *memcached.Reader
	writers sync.Pool // *bufio.Writer
}

func (b *clientBuffers) init(maxBody int) {
	b.readers.New = func() any {
		return memcached.NewReader(nil, memcached.ReaderOptions{MaxBody: maxBody, BufSize: clientReadBuf})
	}
	b.writers.New = func() any { return bufio.NewWriterSize(nil, clientWriteBuf) }
}

// idleReader is the stream a session's pooled memcached.Reader reads: the
// bytes of the idle read first, then the connection. An error that came
// with the idle read's bytes is returned after them.
type idleReader struct {
	cc  *clientConn
	pre []byte
	err error
}

func (r *idleReader) Read(b []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(b, r.pre)
		r.pre = r.pre[n:]
		return n, nil
	}
	if r.err != nil {
		err := r.err
		r.err = nil
		return 0, err
	}
	return r.cc.Read(b)
}

// awaitRequest waits, holding no read buffer, until the client sends bytes
// (or the stream ends), then takes a reader for them. It returns the read's
// error only when no byte arrived.
func (s *session) awaitRequest() error {
	var (
		n   int
		err error
	)
	for range 100 { // as bufio.Reader: a Read may return no byte and no error
		if n, err = s.cc.Read(s.idleBuf[:]); n > 0 || err != nil {
			break
		}
	}
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	// A full idle read means more bytes were waiting: the reader's next
	// read brings the rest of the same batch.
	s.cc.continues = n == len(s.idleBuf)
	s.ir = idleReader{cc: s.cc, pre: s.idleBuf[:n], err: err}
	s.r = s.srv.buffers.readers.Get().(*memcached.Reader)
	s.r.Reset(&s.ir)
	return nil
}

// releaseReader gives the reader back to the pool when everything read so
// far has been parsed (or the reader is done).
func (s *session) releaseReader(force bool) {
	if s.r == nil || (!force && (s.r.Buffered() > 0 || len(s.ir.pre) > 0 || s.ir.err != nil)) {
		return
	}
	s.r.Reset(nil)
	s.srv.buffers.readers.Put(s.r)
	s.r = nil
	s.ir = idleReader{}
}

// writer returns the session's bufio.Writer, taking one from the pool when
// it holds none.
func (s *session) writer() *bufio.Writer {
	if s.w == nil {
		s.w = s.srv.buffers.writers.Get().(*bufio.Writer)
		s.w.Reset(s.cc)
	}
	return s.w
}

// releaseWriter gives the writer back to the pool once it holds nothing to
// flush (or the client is gone and what it holds is dropped).
func (s *session) releaseWriter() {
	if s.w == nil || (s.w.Buffered() > 0 && !s.discard) {
		return
	}
	s.w.Reset(nil)
	s.srv.buffers.writers.Put(s.w)
	s.w = nil
}

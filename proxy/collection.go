package proxy

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
)

// Collections (Couchbase 7).
//
// A listener may serve a named collection of its bucket: its requests go
// over the same upstream connections as every other listener's, with the
// collection's ID written before the key on the wire (upstream.Conn puts
// it there as unsigned LEB128; the session keeps the logical key, which is
// what the vBucket hash and the replies use). The ID is resolved with
// GET_COLLECTION_ID, sent from loop 0 on its own connections, when the
// listener starts, again when a node answers UNKNOWN_COLLECTION (the
// collection was dropped, or dropped and created again with a new ID), and
// every collectionRefresh (a manifest change). While the ID is being
// resolved, requests wait (within their operation timeout); once the
// cluster says the collection does not exist they fail at once with
// UNKNOWN_COLLECTION ("SERVER_ERROR unknown collection ..." for text
// clients), until it exists again.

// collectionMaxKey is the longest logical key in a named collection:
// Couchbase allows 251 bytes in all with the collection ID's LEB128.
const collectionMaxKey = 246

const (
	collectionRefresh = 30 * time.Second       // re-resolve even without an error
	collectionRetry   = 100 * time.Millisecond // between attempts while unresolved
)

// Collection states.
const (
	collUnknown uint64 = iota // not resolved yet, or invalidated
	collKnown                 // the ID is valid
	collMissing               // the cluster says it does not exist
)

// collection is one collection's resolved ID, shared by the loops (read with
// one atomic load per request).
type collection struct {
	srv  *Server
	path string
	st   atomic.Uint64 // state<<32 | ID
	kick chan struct{}
	msg  string // the UNKNOWN_COLLECTION reply text
}

// collectionPath normalizes a listener's collection: "" for the default
// collection.
func collectionPath(c string) (string, error) {
	if c == "" || c == "_default._default" {
		return "", nil
	}
	scope, name, ok := strings.Cut(c, ".")
	if !ok || scope == "" || name == "" || strings.Contains(name, ".") {
		return "", fmt.Errorf("%w: collection %q: want scope.collection", ErrInvalidOptions, c)
	}
	return c, nil
}

// collection returns the resolver of path, starting it on first use.
func (s *Server) collection(path string) *collection {
	s.collMu.Lock()
	defer s.collMu.Unlock()
	if c := s.collections[path]; c != nil {
		return c
	}
	c := &collection{srv: s, path: path, kick: make(chan struct{}, 1), msg: "Unknown collection " + path}
	s.collections[path] = c
	s.resolvers.Go(c.run)
	return c
}

// id returns the collection's ID and state.
func (c *collection) id() (uint32, uint64) {
	v := c.st.Load()
	return uint32(v), v >> 32
}

// wake asks the resolver to resolve now (it does at most every
// collectionRetry).
func (c *collection) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// invalidate marks ID cid stale (a node answered UNKNOWN_COLLECTION for it)
// and wakes the resolver.
func (c *collection) invalidate(cid uint32) {
	c.st.CompareAndSwap(collKnown<<32|uint64(cid), collUnknown<<32)
	c.wake()
}

// run resolves the collection until the server shuts down.
func (c *collection) run() {
	next := time.Duration(0)
	for {
		select {
		case <-c.srv.closed:
			return
		case <-c.kick:
		case <-time.After(next):
		}
		err := c.resolve()
		_, st := c.id()
		switch {
		case err != nil:
			c.srv.log.Debug("collection not resolved", "collection", c.path, "err", err)
			next = collectionRetry
		case st == collMissing:
			next = collectionRefresh
		default:
			next = collectionRefresh
		}
		select { // at most one attempt per collectionRetry
		case <-c.srv.closed:
			return
		case <-time.After(collectionRetry):
		}
	}
}

// collectionResult is a GET_COLLECTION_ID outcome.
type collectionResult struct {
	status memcached.Status
	cid    uint32
	err    error
}

// resolve asks a node for the collection's ID.
func (c *collection) resolve() error {
	ch := make(chan collectionResult, 1)
	ls := c.srv.loops[0]
	ls.lp.Post(func() { ls.getCollectionID(c.path, ch) })
	var r collectionResult
	select {
	case r = <-ch:
	case <-c.srv.closed:
		return nil
	}
	if r.err != nil {
		return r.err
	}
	switch r.status {
	case memcached.StatusSuccess:
		old, st := c.id()
		c.st.Store(collKnown<<32 | uint64(r.cid))
		if st != collKnown || old != r.cid {
			c.srv.log.Info("collection resolved", "collection", c.path, "id", r.cid)
		}
	case memcached.StatusUnknownCollection, memcached.StatusUnknownScope:
		if _, st := c.id(); st != collMissing {
			c.srv.log.Warn("collection does not exist", "collection", c.path)
		}
		c.st.Store(collMissing << 32)
	default:
		return fmt.Errorf("GET_COLLECTION_ID %s: %s", c.path, r.status)
	}
	return nil
}

// getCollectionID sends GET_COLLECTION_ID for path on the first connection
// of the loop that is up; the outcome goes to ch.
func (ls *loopState) getCollectionID(path string, ch chan<- collectionResult) {
	m := ls.srv.o.Map.Current()
	if m == nil {
		ch <- collectionResult{err: fmt.Errorf("no vBucket map yet")}
		return
	}
	for i := range m.Nodes() {
		c := ls.conn(0, m, i)
		if c == nil || !c.Up() {
			continue
		}
		r := &upstream.Request{Packet: memcached.AppendRequest(nil, memcached.OpGetCollectionID, 0, 0, 0, nil, nil, []byte(path))}
		r.Done = upstream.CompleterFunc(func(r *upstream.Request) {
			if r.Err != nil {
				ch <- collectionResult{err: r.Err}
				return
			}
			res := collectionResult{status: r.Resp.Status}
			if ex := r.RespBuf[memcached.HeaderLen : memcached.HeaderLen+int(r.Resp.ExtrasLen)]; res.status == memcached.StatusSuccess {
				if len(ex) != 12 {
					res.err = fmt.Errorf("GET_COLLECTION_ID %s: %d bytes of extras, want 12", path, len(ex))
				} else {
					res.cid = binary.BigEndian.Uint32(ex[8:12])
				}
			}
			ch <- res
		})
		if err := c.Send(r); err == nil {
			return
		}
	}
	ch <- collectionResult{err: fmt.Errorf("no node connection is up")}
}

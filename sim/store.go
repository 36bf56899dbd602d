package sim

import (
	"strconv"

	"github.com/vbproxy/vbproxy/memcached"
)

// MaxValueLen is the largest value a node stores (Couchbase's default item
// size limit); larger values get E2BIG.
const MaxValueLen = 20 << 20

// relativeExpiryLimit: expiries up to 30 days are relative, larger ones are
// absolute Unix times (memcached and Couchbase rule).
const relativeExpiryLimit = 30 * 24 * 60 * 60

// noCreate in an INCR/DECR expiry means "fail if the key is missing".
const noCreate = 0xffffffff

// item is one stored document. Its value is never modified in place once
// stored, so replica and moved copies share it.
type item struct {
	value []byte
	flags uint32
	exp   int64 // Unix nanoseconds; 0 = never
	cas   uint64
}

func (it *item) expired(now int64) bool { return it.exp != 0 && it.exp <= now }

// vbStore is one node's copy of one vBucket: a document map per collection
// (by collection ID; 0 is the default collection). It is guarded by the
// vBucket's lock (vbucket.mu), shared by every node's copy of that vBucket.
type vbStore struct {
	colls map[uint32]*collStore
}

func newVBStore() *vbStore { return &vbStore{colls: make(map[uint32]*collStore)} }

// coll returns collection cid's documents, created empty when missing.
func (s *vbStore) coll(cid uint32) *collStore {
	cs := s.colls[cid]
	if cs == nil {
		cs = newCollStore()
		s.colls[cid] = cs
	}
	return cs
}

// find returns collection cid's documents, nil when it has none.
func (s *vbStore) find(cid uint32) *collStore { return s.colls[cid] }

// drop deletes collection cid's documents.
func (s *vbStore) drop(cid uint32) { delete(s.colls, cid) }

// len is the number of documents, expired ones included.
func (s *vbStore) len() int {
	n := 0
	for _, cs := range s.colls {
		n += len(cs.items)
	}
	return n
}

// clone returns an independent copy (values are shared: they are immutable).
func (s *vbStore) clone() *vbStore {
	c := &vbStore{colls: make(map[uint32]*collStore, len(s.colls))}
	for cid, cs := range s.colls {
		cc := &collStore{items: make(map[string]item, len(cs.items))}
		for k, v := range cs.items {
			cc.items[k] = v
		}
		c.colls[cid] = cc
	}
	return c
}

// collStore is one collection's documents in one vBucket copy, by logical
// key.
type collStore struct {
	items map[string]item
}

func newCollStore() *collStore { return &collStore{items: make(map[string]item)} }

// get returns a live item; an expired one is removed.
func (s *collStore) get(key []byte, now int64) (item, bool) {
	it, ok := s.items[string(key)]
	if !ok {
		return item{}, false
	}
	if it.expired(now) {
		delete(s.items, string(key))
		return item{}, false
	}
	return it, true
}

// expiryAt converts a wire expiry to Unix nanoseconds: 0 never, up to 30 days
// relative to now, above that an absolute Unix time (in the past: already
// expired).
func expiryAt(exp uint32, now int64) int64 {
	switch {
	case exp == 0:
		return 0
	case exp <= relativeExpiryLimit:
		return now + int64(exp)*1e9
	default:
		return int64(exp) * 1e9
	}
}

// storeMode is the flavour of a store command.
type storeMode uint8

const (
	modeSet storeMode = iota
	modeAdd
	modeReplace
	modeAppend
	modePrepend
)

// mutation is what a command did to one key, for replication.
type mutation struct {
	deleted bool
	it      item
}

// store runs SET/ADD/REPLACE/APPEND/PREPEND. cas is the request's CAS (0 = no
// check); newCAS the CAS to give the stored item.
func (s *collStore) store(mode storeMode, key, value []byte, flags uint32, exp int64, cas, newCAS uint64, now int64) (mutation, memcached.Status) {
	old, ok := s.get(key, now)
	switch mode {
	case modeAdd:
		if cas != 0 {
			return mutation{}, memcached.StatusEINVAL
		}
		if ok {
			return mutation{}, memcached.StatusKeyEEXISTS
		}
	case modeReplace, modeSet:
		if (mode == modeReplace || cas != 0) && !ok {
			return mutation{}, memcached.StatusKeyENOENT
		}
	case modeAppend, modePrepend:
		if !ok {
			return mutation{}, memcached.StatusNotStored
		}
	}
	if cas != 0 && old.cas != cas {
		return mutation{}, memcached.StatusKeyEEXISTS
	}
	var it item
	switch mode {
	case modeAppend, modePrepend:
		if len(old.value)+len(value) > MaxValueLen {
			return mutation{}, memcached.StatusE2BIG
		}
		v := make([]byte, 0, len(old.value)+len(value))
		if mode == modeAppend {
			v = append(append(v, old.value...), value...)
		} else {
			v = append(append(v, value...), old.value...)
		}
		it = item{value: v, flags: old.flags, exp: old.exp, cas: newCAS}
	default:
		it = item{value: clone(value), flags: flags, exp: exp, cas: newCAS}
	}
	s.items[string(key)] = it
	return mutation{it: it}, memcached.StatusSuccess
}

// del runs DELETE.
func (s *collStore) del(key []byte, cas uint64, now int64) (mutation, memcached.Status) {
	old, ok := s.get(key, now)
	if !ok {
		return mutation{}, memcached.StatusKeyENOENT
	}
	if cas != 0 && old.cas != cas {
		return mutation{}, memcached.StatusKeyEEXISTS
	}
	delete(s.items, string(key))
	return mutation{deleted: true}, memcached.StatusSuccess
}

// arith runs INCR (incr true) and DECR. It returns the new counter value.
func (s *collStore) arith(incr bool, key []byte, delta, initial uint64, exp uint32, cas, newCAS uint64, now int64) (uint64, mutation, memcached.Status) {
	old, ok := s.get(key, now)
	if !ok {
		if cas != 0 || exp == noCreate {
			return 0, mutation{}, memcached.StatusKeyENOENT
		}
		it := item{value: strconv.AppendUint(nil, initial, 10), exp: expiryAt(exp, now), cas: newCAS}
		s.items[string(key)] = it
		return initial, mutation{it: it}, memcached.StatusSuccess
	}
	if cas != 0 && old.cas != cas {
		return 0, mutation{}, memcached.StatusKeyEEXISTS
	}
	v, valid := parseCounter(old.value)
	if !valid {
		return 0, mutation{}, memcached.StatusDeltaBadval
	}
	switch {
	case incr:
		v += delta // wraps at 2^64, as memcached does
	case delta > v:
		v = 0
	default:
		v -= delta
	}
	it := item{value: strconv.AppendUint(nil, v, 10), flags: old.flags, exp: old.exp, cas: newCAS}
	s.items[string(key)] = it
	return v, mutation{it: it}, memcached.StatusSuccess
}

// parseCounter parses a counter value: 1-20 decimal digits that fit a uint64.
func parseCounter(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// touch sets a live item's expiry (TOUCH, GAT).
func (s *collStore) touch(key []byte, exp int64, newCAS uint64, now int64) (mutation, memcached.Status) {
	it, ok := s.get(key, now)
	if !ok {
		return mutation{}, memcached.StatusKeyENOENT
	}
	it.exp = exp
	it.cas = newCAS
	s.items[string(key)] = it
	return mutation{it: it}, memcached.StatusSuccess
}

// apply replays a mutation of key onto a replica copy.
func (s *collStore) apply(key []byte, m mutation) {
	if m.deleted {
		delete(s.items, string(key))
		return
	}
	s.items[string(key)] = m.it
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append(make([]byte, 0, len(b)), b...)
}

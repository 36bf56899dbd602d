package sim

import (
	"encoding/binary"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// opShape is what a key command's request must carry.
type opShape struct {
	known    bool // a key command
	extras   int  // exact extras length
	value    bool // a value is allowed
	mutation bool // counts as cmd_set
}

var shapes = func() (t [256]opShape) {
	for op, s := range shapeList {
		s.known = true
		t[op] = s
	}
	return t
}()

var shapeList = map[memcached.Opcode]opShape{
	memcached.OpGet: {}, memcached.OpGetQ: {}, memcached.OpGetK: {}, memcached.OpGetKQ: {},
	memcached.OpGetReplica: {},
	memcached.OpSet:        {extras: 8, value: true, mutation: true}, memcached.OpSetQ: {extras: 8, value: true, mutation: true},
	memcached.OpAdd: {extras: 8, value: true, mutation: true}, memcached.OpAddQ: {extras: 8, value: true, mutation: true},
	memcached.OpReplace: {extras: 8, value: true, mutation: true}, memcached.OpReplaceQ: {extras: 8, value: true, mutation: true},
	memcached.OpAppend: {value: true, mutation: true}, memcached.OpAppendQ: {value: true, mutation: true},
	memcached.OpPrepend: {value: true, mutation: true}, memcached.OpPrependQ: {value: true, mutation: true},
	memcached.OpDelete: {mutation: true}, memcached.OpDeleteQ: {mutation: true},
	memcached.OpIncrement: {extras: 20, mutation: true}, memcached.OpIncrementQ: {extras: 20, mutation: true},
	memcached.OpDecrement: {extras: 20, mutation: true}, memcached.OpDecrementQ: {extras: 20, mutation: true},
	memcached.OpTouch: {extras: 4, mutation: true},
	memcached.OpGAT:   {extras: 4}, memcached.OpGATQ: {extras: 4},
}

// keyResult is a key command's outcome, taken under the vBucket lock and
// written after it is released (values are immutable once stored).
type keyResult struct {
	status  memcached.Status
	it      item
	counter uint64
	cas     uint64
}

// keyOp runs a key command on the vBucket in the request header.
func (kc *kvConn) keyOp(p *memcached.Packet) {
	h := &p.Header
	op := h.Opcode
	shape := shapes[op]
	if !shape.known {
		kc.reply(h, memcached.StatusUnknownCommand, "Unknown command")
		return
	}
	if len(p.Key) == 0 || len(p.Extras) != shape.extras || (!shape.value && len(p.Value) != 0) {
		kc.reply(h, memcached.StatusEINVAL, "Invalid arguments")
		return
	}
	if shape.value && len(p.Value) > MaxValueLen {
		kc.reply(h, memcached.StatusE2BIG, "Value too large")
		return
	}
	// With collections the key starts with the collection ID; the
	// collection is checked before the vBucket, as kv_engine's validator
	// does, and again under the vBucket lock (a drop may be under way).
	key := p.Key
	var cid uint32
	if kc.features.collections {
		var reason string
		if cid, key, reason = decodeDocKey(p.Key); reason != "" {
			kc.reply(h, memcached.StatusEINVAL, reason)
			return
		}
	}
	if !kc.collectionExists(cid) {
		kc.unknownCollection(h, statusUnknownCollection)
		return
	}
	b, vb := kc.bucket, int(h.VBucket)
	if vb >= kc.c.opts.VBuckets {
		kc.notMyVBucket(h)
		return
	}
	replicaRead := op == memcached.OpGetReplica
	v := &kc.c.buckets[b].vbs[vb]
	now := time.Now().UnixNano()

	v.mu.Lock()
	if !kc.collectionExists(cid) {
		v.mu.Unlock()
		kc.unknownCollection(h, statusUnknownCollection)
		return
	}
	chain := kc.c.topo.Load().maps[b].chains[vb]
	var s *vbStore
	if replicaRead {
		for _, r := range chain[1:] {
			if r == kc.n {
				s = kc.n.data[b][vb]
			}
		}
	} else if chain[0] == kc.n {
		s = kc.n.data[b][vb]
	}
	if s == nil {
		v.mu.Unlock()
		kc.notMyVBucket(h)
		return
	}
	res, mut, mutated := kc.execute(p, key, s.coll(cid), v, now)
	if mutated {
		for _, r := range chain[1:] {
			if r != nil {
				if rs := r.data[b][vb]; rs != nil {
					rs.coll(cid).apply(key, mut)
				}
			}
		}
	}
	v.mu.Unlock()

	kc.count(op, shape, res.status)
	kc.writeKeyResult(h, p.Key, &res)
}

// execute runs the command on key (the logical key) of the collection s of
// a vBucket copy. Called with v.mu held.
func (kc *kvConn) execute(p *memcached.Packet, key []byte, s *collStore, v *vbucket, now int64) (res keyResult, mut mutation, mutated bool) {
	h := &p.Header
	ex := p.Extras
	switch h.Opcode.Loud() {
	case memcached.OpGet, memcached.OpGetK, memcached.OpGetReplica:
		it, ok := s.get(key, now)
		if !ok {
			return keyResult{status: memcached.StatusKeyENOENT}, mut, false
		}
		return keyResult{status: memcached.StatusSuccess, it: it, cas: it.cas}, mut, false
	case memcached.OpSet, memcached.OpAdd, memcached.OpReplace, memcached.OpAppend, memcached.OpPrepend:
		var flags uint32
		var exp int64
		if len(ex) == 8 {
			flags = binary.BigEndian.Uint32(ex)
			exp = expiryAt(binary.BigEndian.Uint32(ex[4:]), now)
		}
		mut, res.status = s.store(storeModes[h.Opcode.Loud()], key, p.Value, flags, exp, h.CAS, v.nextCAS(now), now)
		res.cas = mut.it.cas
	case memcached.OpDelete:
		mut, res.status = s.del(key, h.CAS, now)
		if res.status == memcached.StatusSuccess && !kc.c.opts.ZeroDeleteCAS {
			// Couchbase answers with the tombstone's CAS.
			res.cas = v.nextCAS(now)
		}
	case memcached.OpIncrement, memcached.OpDecrement:
		delta := binary.BigEndian.Uint64(ex)
		initial := binary.BigEndian.Uint64(ex[8:])
		exp := binary.BigEndian.Uint32(ex[16:])
		res.counter, mut, res.status = s.arith(h.Opcode.Loud() == memcached.OpIncrement, key, delta, initial, exp, h.CAS, v.nextCAS(now), now)
		res.cas = mut.it.cas
	case memcached.OpTouch, memcached.OpGAT:
		mut, res.status = s.touch(key, expiryAt(binary.BigEndian.Uint32(ex), now), v.nextCAS(now), now)
		res.it, res.cas = mut.it, mut.it.cas
	}
	return res, mut, res.status == memcached.StatusSuccess
}

var storeModes = map[memcached.Opcode]storeMode{
	memcached.OpSet: modeSet, memcached.OpAdd: modeAdd, memcached.OpReplace: modeReplace,
	memcached.OpAppend: modeAppend, memcached.OpPrepend: modePrepend,
}

// writeKeyResult appends the reply to a key command.
func (kc *kvConn) writeKeyResult(h *memcached.Header, key []byte, res *keyResult) {
	op := h.Opcode.Loud()
	if res.status != memcached.StatusSuccess {
		if op == memcached.OpGetK && res.status == memcached.StatusKeyENOENT {
			// Couchbase and memcached return the key with a GETK miss.
			if !h.Opcode.Suppress(res.status) {
				kc.out = memcached.AppendResponse(kc.out, h, res.status, 0, nil, key, nil)
			}
			return
		}
		kc.reply(h, res.status, res.status.String())
		return
	}
	switch op {
	case memcached.OpGet, memcached.OpGetK, memcached.OpGetReplica, memcached.OpGAT:
		var flags [4]byte
		binary.BigEndian.PutUint32(flags[:], res.it.flags)
		var k []byte
		if op == memcached.OpGetK {
			k = key
		}
		kc.respond(h, res.status, res.cas, flags[:], k, res.it.value)
	case memcached.OpIncrement, memcached.OpDecrement:
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], res.counter)
		kc.respond(h, res.status, res.cas, nil, nil, v[:])
	default:
		kc.respond(h, res.status, res.cas, nil, nil, nil)
	}
}

// count updates the node's command counters.
func (kc *kvConn) count(op memcached.Opcode, shape opShape, status memcached.Status) {
	st := &kc.n.stats
	switch op.Loud() {
	case memcached.OpGet, memcached.OpGetK, memcached.OpGAT, memcached.OpGetReplica:
		st.cmdGet.Add(1)
		if status == memcached.StatusSuccess {
			st.getHits.Add(1)
		} else {
			st.getMisses.Add(1)
		}
	case memcached.OpDelete:
		if status == memcached.StatusSuccess {
			st.deleteHits.Add(1)
		} else {
			st.deleteMisses.Add(1)
		}
	default:
		if shape.mutation {
			st.cmdSet.Add(1)
		}
	}
}

package sim

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/vbproxy/vbproxy/memcached"
)

// opGetCollectionID is GET_COLLECTION_ID (0xbb); memcached's opcode table
// does not list it.
const opGetCollectionID memcached.Opcode = 0xbb

// Collection statuses (kv_engine include/mcbp/protocol/status.h).
const (
	statusUnknownCollection memcached.Status = 0x88
	statusUnknownScope      memcached.Status = 0x8c
)

// maxLEB128Len is the longest LEB128 collection ID: 5 bytes for 32 bits.
const maxLEB128Len = 5

// decodeCollectionID decodes the unsigned LEB128 collection ID at the start
// of key as kv_engine's unsigned_leb128<uint32_t>::decodeCanonical does: at
// most 5 bytes are read and one of them must be the stop byte (high bit
// clear); the encoding must be the shortest one. Like kv_engine's 32-bit
// decode, it drops the bits of a fifth byte beyond bit 31 (and a value that
// truncates to a shorter encoding's range is non-canonical). reason is ""
// on success, otherwise the error context kv_engine answers with.
func decodeCollectionID(key []byte) (cid uint32, rest []byte, reason string) {
	var v uint32
	n := min(len(key), maxLEB128Len)
	for i := range n {
		v |= uint32(key[i]&0x7f) << (7 * i)
		if key[i]&0x80 != 0 {
			continue
		}
		if i > 0 && uint64(v) < 1<<(7*i) {
			return 0, nil, "Key contains non-canonical leb128"
		}
		return v, key[i+1:], ""
	}
	return 0, nil, "No stop-byte found"
}

// decodeDocKey splits the key of a document command on a connection with
// collections into its collection ID and logical key, with kv_engine's
// checks (mcbp_validators.cc is_document_key_valid): at least 2 bytes, a
// canonical LEB128 ID, a non-empty logical key, no reserved ID (1-7), and a
// logical key of at most 250 bytes in the default collection and 246 in
// others. reason is the EINVAL error context, "" when the key is valid.
func decodeDocKey(key []byte) (cid uint32, logical []byte, reason string) {
	if len(key) <= 1 {
		return 0, nil, "Key length must be >= 2"
	}
	cid, logical, reason = decodeCollectionID(key)
	switch {
	case reason != "":
		return 0, nil, reason
	case len(logical) == 0:
		return 0, nil, "No logical key found"
	case cid >= 1 && cid <= maxReservedCollectionID:
		return 0, nil, "Invalid collection-id:" + strconv.FormatUint(uint64(cid), 10)
	}
	limit := memcached.MaxKeyLen
	if cid != 0 {
		limit = maxCollectionLogicalKeyLen
	}
	if len(logical) > limit {
		return 0, nil, "Logical key exceeds " + strconv.Itoa(limit)
	}
	return cid, logical, ""
}

// collectionManifest returns the selected bucket's manifest, nil without
// collections.
func (kc *kvConn) collectionManifest() *manifest { return kc.c.buckets[kc.bucket].manifest.Load() }

// collectionExists reports whether collection cid of the selected bucket
// exists (without collections only the default collection does).
func (kc *kvConn) collectionExists(cid uint32) bool {
	m := kc.collectionManifest()
	if m == nil {
		return cid == 0
	}
	return m.has(cid)
}

// unknownCollection answers an unknown scope or collection as kv_engine
// does: the status with the manifest UID in the JSON body
// {"error":{"context":...},"manifest_uid":"<hex>"}; a client that negotiated
// neither XERROR nor collections gets EINVAL instead (Connection::remapErrorCode).
func (kc *kvConn) unknownCollection(h *memcached.Header, status memcached.Status) {
	if !kc.features.xerror && !kc.features.collections {
		status = memcached.StatusEINVAL
	}
	var uid uint64
	if m := kc.collectionManifest(); m != nil {
		uid = m.uid
	}
	kc.out = memcached.AppendError(kc.out, h, status,
		`{"error":{"context":"Unknown scope or collection in operation"},"manifest_uid":"`+uidHex(uid)+`"}`)
}

// getCollectionID answers GET_COLLECTION_ID (0xbb): the path
// "scope.collection" (either part empty = _default) in the value (or, as
// kv_engine still accepts, the key); the reply extras are the u64 manifest
// UID and the u32 collection ID. A path without exactly one '.' or with an
// invalid name is EINVAL; an unknown scope is UnknownScope (0x8c), an
// unknown collection UnknownCollection (0x88), both with the manifest UID.
func (kc *kvConn) getCollectionID(p *memcached.Packet) {
	h := &p.Header
	switch {
	case len(p.Extras) != 0 || h.CAS != 0:
		kc.reply(h, memcached.StatusEINVAL, "Request must not include extras or CAS")
		return
	case len(p.Key) != 0 && len(p.Value) != 0:
		kc.reply(h, memcached.StatusEINVAL, "Cannot set both key and value")
		return
	case h.VBucket != 0:
		kc.reply(h, memcached.StatusEINVAL, "Request vbucket id must be 0")
		return
	case !kc.authed || kc.bucket < 0:
		kc.reply(h, memcached.StatusNoBucket, "No bucket selected")
		return
	}
	m := kc.collectionManifest()
	if m == nil {
		kc.reply(h, memcached.StatusNotSupported, "Collections are not supported by the bucket")
		return
	}
	path := p.Value
	if len(path) == 0 {
		path = p.Key
	}
	if bytes.Count(path, []byte{'.'}) != 1 {
		kc.reply(h, memcached.StatusEINVAL, "Invalid path: want scope.collection")
		return
	}
	scope, coll, _ := bytes.Cut(path, []byte{'.'})
	if len(scope) == 0 {
		scope = []byte(defaultName)
	}
	if len(coll) == 0 {
		coll = []byte(defaultName)
	}
	if !validLookupName(scope) || !validLookupName(coll) {
		kc.reply(h, memcached.StatusEINVAL, "Invalid scope or collection name")
		return
	}
	if _, ok := m.scope(string(scope)); !ok {
		kc.unknownCollection(h, statusUnknownScope)
		return
	}
	cid, ok := m.collectionID(string(scope), string(coll))
	if !ok {
		kc.unknownCollection(h, statusUnknownCollection)
		return
	}
	var extras [12]byte
	binary.BigEndian.PutUint64(extras[:], m.uid)
	binary.BigEndian.PutUint32(extras[8:], cid)
	kc.respond(h, memcached.StatusSuccess, 0, extras[:], nil, nil)
}

// validLookupName is kv_engine's Manifest::validName: 1-251 characters of
// A-Z a-z 0-9 _ - % $, not starting with '$'.
func validLookupName(name []byte) bool {
	if len(name) == 0 || len(name) > maxCollectionNameLen || name[0] == '$' {
		return false
	}
	for _, c := range name {
		if !nameChar(c, true) {
			return false
		}
	}
	return true
}

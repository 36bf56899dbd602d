package memcached

import "encoding/binary"

// AppendTextToBinary appends the binary request for req to dst and returns
// the extended slice; it does not allocate when dst has room.
//
// key is the key of this request: req.Key, or for a get family line the
// key from NextKey this slot is for. value is the data block's value from
// CheckData (storage commands only). The vBucket is 0; the session sets it
// with SetVBucket once it has routed the key.
//
// Only loud opcodes are sent (GET, GAT, TOUCH, SET, ADD, REPLACE, APPEND,
// PREPEND, DELETE, INCREMENT, DECREMENT): quiet opcodes and GETK are refused
// by Couchbase in serverless mode, and quiet semantics (noreply, meta q) are
// applied when the reply is written (AppendTextReply).
func AppendTextToBinary(dst []byte, req *TextRequest, key []byte, opaque uint32, value []byte) []byte {
	var ex [20]byte
	var extras []byte
	var cas uint64
	switch req.op {
	case OpGet:
		value = nil
	case OpGAT, OpTouch:
		binary.BigEndian.PutUint32(ex[0:4], req.Exptime)
		extras, value = ex[:4], nil
	case OpSet, OpAdd, OpReplace:
		binary.BigEndian.PutUint32(ex[0:4], req.Flags)
		binary.BigEndian.PutUint32(ex[4:8], req.Exptime)
		extras = ex[:8]
		if req.op != OpAdd {
			cas = req.CAS
		}
	case OpAppend, OpPrepend:
		cas = req.CAS
	case OpDelete:
		cas, value = req.CAS, nil
	case OpIncrement, OpDecrement:
		binary.BigEndian.PutUint64(ex[0:8], req.Delta)
		binary.BigEndian.PutUint64(ex[8:16], req.Initial)
		binary.BigEndian.PutUint32(ex[16:20], req.Exptime)
		extras, value = ex[:20], nil
	}
	return AppendRequest(dst, req.op, 0, opaque, cas, extras, key, value)
}

// AppendTextUnlink appends a DELETE of req.Key: what memcached does to the
// old value when a store fails with "object too large" (TextError.Unlink).
// Send it in a slot whose reply context is req.FailedReply(err).
func AppendTextUnlink(dst []byte, req *TextRequest, opaque uint32) []byte {
	return AppendRequest(dst, OpDelete, 0, opaque, 0, nil, req.Key, nil)
}

package memcached

// Packet builders. Each appends one whole packet to dst and returns the
// extended slice; none allocates when dst has room.

// AppendRequest appends a request packet.
func AppendRequest(dst []byte, op Opcode, vb uint16, opaque uint32, cas uint64, extras, key, value []byte) []byte {
	h := Header{
		Magic: MagicRequest, Opcode: op, KeyLen: uint16(len(key)), ExtrasLen: uint8(len(extras)),
		VBucket: vb, BodyLen: uint32(len(extras) + len(key) + len(value)), Opaque: opaque, CAS: cas,
	}
	dst = appendHeader(dst, &h)
	dst = append(dst, extras...)
	dst = append(dst, key...)
	return append(dst, value...)
}

// AppendResponse appends a response to req: same opcode and opaque.
func AppendResponse(dst []byte, req *Header, status Status, cas uint64, extras, key, value []byte) []byte {
	h := Header{
		Magic: MagicResponse, Opcode: req.Opcode, KeyLen: uint16(len(key)), ExtrasLen: uint8(len(extras)),
		Status: status, BodyLen: uint32(len(extras) + len(key) + len(value)), Opaque: req.Opaque, CAS: cas,
	}
	dst = appendHeader(dst, &h)
	dst = append(dst, extras...)
	dst = append(dst, key...)
	return append(dst, value...)
}

// AppendError appends an error response to req whose value is the message
// text, as memcached and Couchbase send it.
func AppendError(dst []byte, req *Header, status Status, msg string) []byte {
	h := Header{
		Magic: MagicResponse, Opcode: req.Opcode, Status: status,
		BodyLen: uint32(len(msg)), Opaque: req.Opaque,
	}
	dst = appendHeader(dst, &h)
	return append(dst, msg...)
}

// AppendStat appends one packet of a STAT reply series. End the series with
// AppendResponse(dst, req, StatusSuccess, 0, nil, nil, nil).
func AppendStat(dst []byte, req *Header, key, value string) []byte {
	h := Header{
		Magic: MagicResponse, Opcode: req.Opcode, KeyLen: uint16(len(key)),
		BodyLen: uint32(len(key) + len(value)), Opaque: req.Opaque,
	}
	dst = appendHeader(dst, &h)
	dst = append(dst, key...)
	return append(dst, value...)
}

func appendHeader(dst []byte, h *Header) []byte {
	n := len(dst)
	if cap(dst)-n < HeaderLen {
		dst = append(dst, make([]byte, HeaderLen)...)
	} else {
		dst = dst[:n+HeaderLen]
	}
	h.Encode(dst[n:])
	return dst
}

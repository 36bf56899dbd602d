package memcached

// Magic bytes of server-initiated packets. Once a client negotiates Duplex
// (HELLO feature 0x0c) a Couchbase node may send it requests of its own
// (MagicServerRequest, e.g. a clustermap change notification) between any
// two packets of its replies, and the client may answer them
// (MagicServerResponse). Bytes 6-7 of a server response are a status, as in
// a response.
const (
	MagicServerRequest  byte = 0x82
	MagicServerResponse byte = 0x83
)

// OpClustermapChangeNotification is the opcode of the server request a node
// pushes when the cluster map changes (magic MagicServerRequest; key = the
// bucket name, extras = int64 epoch + int64 revision, value = the config in
// "full" mode, empty in "brief" mode). Server opcodes are a space of their
// own: 0x01 is also SET among client requests.
const OpClustermapChangeNotification Opcode = 0x01

// ReadClientPacket reads the next packet a client sends a server, for a
// server that speaks Duplex. It accepts a request (MagicRequest) and, when
// duplex is set, a client's reply to a server request (MagicServerResponse),
// which the caller tells apart by p.Magic. maxKey caps a request's key field
// (0 means MaxKeyLen; a Couchbase node takes 251 bytes once collections are
// on: the LEB128 collection ID plus a 250-byte key); a longer key is a
// recoverable ErrKeyTooLong (EINVAL), as in ReadRequest. Errors are those of
// ReadRequest; a server reply without duplex is ErrBadMagic.
func (r *Reader) ReadClientPacket(p *Packet, maxKey int, duplex bool) error {
	if maxKey <= 0 {
		maxKey = MaxKeyLen
	}
	if duplex && r.nextMagic() == MagicServerResponse {
		return r.read(p, MagicServerResponse, 0xffff)
	}
	return r.read(p, MagicRequest, maxKey)
}

// ReadServerPacket reads the next packet a server sends a client that
// negotiated Duplex: a response (MagicResponse) or a server request
// (MagicServerRequest), which the caller tells apart by p.Magic. Errors are
// those of ReadResponse.
func (r *Reader) ReadServerPacket(p *Packet) error {
	if r.nextMagic() == MagicServerRequest {
		return r.read(p, MagicServerRequest, 0xffff)
	}
	return r.read(p, MagicResponse, 0xffff)
}

// nextMagic returns the magic byte of the next packet once its whole header
// is buffered, 0 when the stream ends or fails first (read then reports the
// error).
func (r *Reader) nextMagic() byte {
	hdr, err := r.br.Peek(HeaderLen)
	if err != nil {
		return 0
	}
	return hdr[0]
}

// AppendServerRequest appends a server-initiated request
// (MagicServerRequest), such as a clustermap change notification.
func AppendServerRequest(dst []byte, op Opcode, opaque uint32, extras, key, value []byte) []byte {
	h := Header{
		Magic: MagicServerRequest, Opcode: op, KeyLen: uint16(len(key)), ExtrasLen: uint8(len(extras)),
		BodyLen: uint32(len(extras) + len(key) + len(value)), Opaque: opaque,
	}
	dst = appendHeader(dst, &h)
	dst = append(dst, extras...)
	dst = append(dst, key...)
	return append(dst, value...)
}

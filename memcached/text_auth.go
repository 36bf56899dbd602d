package memcached

import "bytes"

// Text authentication (memcached -Y): until it authenticates, a text client
// may only send a fake set whose data is "<user> <password>". The session
// frames the line with TextFrame(buf, 0), calls ParseTextAuth, reads
// dataLen bytes, calls SplitTextAuth and checks the credentials itself:
// "STORED\r\n" on success, ErrTextAuthFailure otherwise. Every error keeps
// the connection unauthenticated; none honours noreply.

// MaxTextAuthData bounds the data block of an authentication set. memcached
// waits for any length; a proxy closes the connection instead of buffering
// an unbounded block from an unauthenticated client.
const MaxTextAuthData = 4096

// ParseTextAuth parses the line an unauthenticated client sent. It returns
// the length of the data block to read (the declared bytes + 2), or
// ErrTextUnauthenticated for anything but a set with at least five tokens
// and a numeric length (the line is consumed, no data is swallowed), or
// ErrTextClose when the declared length exceeds MaxTextAuthData.
func ParseTextAuth(line []byte) (dataLen int, err *TextError) {
	var r TextRequest
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	r.line = line
	r.tokenize()
	if r.ntok < 5 || string(r.tok(0)) != "set" {
		return 0, ErrTextUnauthenticated
	}
	size, ok := parseU32(r.tok(4))
	if !ok {
		return 0, ErrTextUnauthenticated
	}
	if size > MaxTextAuthData {
		return 0, ErrTextClose
	}
	return int(size) + 2, nil
}

// SplitTextAuth splits the data block of an authentication set (the
// dataLen bytes ParseTextAuth asked for) into user and password. The block
// must end in "\r\n" (ErrTextAuthTermination) and hold at least two
// space-separated tokens (ErrTextAuthFormat); further tokens are ignored, as
// memcached ignores them.
func SplitTextAuth(block []byte) (user, password []byte, err *TextError) {
	n := len(block)
	if n < 2 || block[n-2] != '\r' || block[n-1] != '\n' {
		return nil, nil, ErrTextAuthTermination
	}
	payload := block[:n-2]
	if i := bytes.IndexByte(payload, 0); i >= 0 {
		payload = payload[:i]
	}
	var r TextRequest
	r.line = payload
	r.tokenize()
	if r.ntok < 2 {
		return nil, nil, ErrTextAuthFormat
	}
	return r.tok(0), r.tok(1), nil
}

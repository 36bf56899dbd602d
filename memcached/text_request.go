package memcached

// textMaxTokens is how many tokens memcached 1.6's tokenizer splits a line
// into (MAX_TOKENS-1 = 23); the rest of a longer line stays unsplit, which is
// why a storage command with more tokens than that is just "ERROR".
const textMaxTokens = 23

// DefaultMaxValue is the largest value ParseText accepts when the caller
// passes maxValue <= 0: Couchbase's default item size limit.
const DefaultMaxValue = 20 << 20

type tokSpan struct{ start, end int32 }

// TextRequest is one parsed text or meta command. ParseText fills it; its
// byte slices point into the line given to ParseText (or, for a meta key
// with flag b, into the request itself), so the line must stay unchanged
// while the request is in use, and a TextRequest must not be copied.
//
// A TextRequest is owned by the session that parses into it; it is reused
// for every command and never shared.
type TextRequest struct {
	Cmd TextCmd

	// Key is the key sent upstream. For a meta command with flag b it is the
	// decoded binary key. For get/gets/gat/gats it is the first key (nil
	// when a gat line names none); iterate them all with NextKey.
	Key []byte
	// NumKeys is the number of keys of a get/gets/gat/gats line, duplicates
	// included (memcached answers one VALUE per occurrence); 1 for other
	// keyed commands.
	NumKeys int

	Flags uint32 // client flags of a store (meta: F)
	// Exptime is the binary expiry of a store, touch or gat (meta: T; ma:
	// N). A negative text exptime is already mapped to 2592001.
	Exptime uint32
	// DataLen is the length of the data block that follows a storage
	// command's line: the declared byte count + 2 for its "\r\n". 0 when the
	// command has none. Read that many bytes, then call CheckData.
	DataLen int
	CAS     uint64 // cas unique; meta C
	Delta   uint64 // incr/decr value; ma D (default 1)
	Initial uint64 // ma J

	// NoReply: the classic noreply token was parsed; nothing at all is
	// written for this command from now on, errors included (memcached
	// 1.6). Meta commands never set it (their q flag is Meta.Quiet).
	NoReply bool

	// Meta holds the flags of an mg, ms, md or ma command.
	Meta MetaFlags

	// Level is the verbosity level of a verbosity command.
	Level uint32
	// Delay and DelayErr are a flush_all command's delay. memcached checks
	// whether flush is allowed before it parses the delay: a session that
	// allows the flush answers DelayErr when it is set.
	Delay    int32
	DelayErr *TextError

	line      []byte
	toks      [textMaxTokens]tokSpan
	ntok      int
	keysStart int // get family: offset of the first key in line
	op        Opcode
	kind      replyKind
	keyBuf    [MaxKeyLen]byte
}

// MetaFlags are the parsed flags of a meta command. Only what a session
// may need is exported; the reply context (TextReply) carries the rest.
type MetaFlags struct {
	Quiet  bool   // q: mg hides EN; ms, md and ma hide HD
	Base64 bool   // b: Key was base64 in the request; k re-encodes it
	Value  bool   // v: return the value (mg, ma)
	Mode   byte   // the M token's mode character; 0 when absent
	HasCAS bool   // C: compare with TextRequest.CAS
	HasTTL bool   // T given; TTL is its value as sent
	TTL    int32  // T
	Vivify bool   // ma N given: create on a miss with expiry TextRequest.Exptime
	Opaque []byte // the O token, 'O' included; nil when absent

	ret        [textMaxTokens]byte // O, k, c, f, s, t in request order
	nret       uint8
	opaqueLong bool // O token over 32 bytes: memcached answers an error
	seen       [2]uint64
}

func (m *MetaFlags) mark(c byte) (dup bool) {
	w, b := c>>6, uint64(1)<<(c&63)
	dup = m.seen[w]&b != 0
	m.seen[w] |= b
	return dup
}

// Has reports whether flag c appeared on the line.
func (m *MetaFlags) Has(c byte) bool {
	if c >= 128 {
		return false
	}
	return m.seen[c>>6]&(uint64(1)<<(c&63)) != 0
}

func (r *TextRequest) tok(i int) []byte {
	t := r.toks[i]
	return r.line[t.start:t.end]
}

// NumTokens is the number of space-separated tokens on the line, the
// command included, as memcached counts them (at most 23).
func (r *TextRequest) NumTokens() int { return r.ntok }

// Token returns token i of the line (0 is the command); nil when out of
// range. Sessions use it for stats arguments.
func (r *TextRequest) Token(i int) []byte {
	if i < 0 || i >= r.ntok {
		return nil
	}
	return r.tok(i)
}

// NextKey iterates the keys of a get/gets/gat/gats line. Start with pos 0;
// each call returns one key and the position to resume from, and key nil
// after the last one. A session that runs out of slots stores next and
// resumes there later.
func (r *TextRequest) NextKey(pos int) (key []byte, next int) {
	if pos < r.keysStart {
		pos = r.keysStart
	}
	line := r.line
	for pos < len(line) && line[pos] == ' ' {
		pos++
	}
	if pos >= len(line) || r.keysStart == 0 {
		return nil, len(line)
	}
	end := pos
	for end < len(line) && line[end] != ' ' {
		end++
	}
	return line[pos:end], end
}

// Opcode is the binary opcode AppendTextToBinary sends for this request; 0
// (GET) for local commands, which send nothing.
func (r *TextRequest) Opcode() Opcode { return r.op }

// AppendError appends e's reply unless the request's noreply suppresses it.
func (r *TextRequest) AppendError(dst []byte, e *TextError) []byte {
	if r.NoReply {
		return dst
	}
	return append(dst, e.Reply...)
}

// CheckData checks the data block of a storage command: block must be the
// DataLen bytes that followed the line. It returns the value (block without
// its "\r\n"), or ErrTextBadDataChunk when the last two bytes are not
// "\r\n"; memcached then continues with the bytes after the block.
func (r *TextRequest) CheckData(block []byte) (value []byte, err *TextError) {
	n := len(block)
	if n < 2 || block[n-2] != '\r' || block[n-1] != '\n' {
		return nil, ErrTextBadDataChunk
	}
	return block[:n-2], nil
}

package memcached

// Meta command parsing: mg, ms, md, ma, mn, me. The checks, their order and
// their error strings are memcached 1.6's (process_m*_command and
// _meta_flag_preparse). Flags a Couchbase node cannot honour are refused
// after memcached's own checks pass, with an error that names the flag.

// metaMaxTokens: memcached refuses a meta line of 20 tokens or more
// (MFLAG_MAX_OPT_LENGTH, compared with a count that includes the
// tokenizer's terminal token).
const metaMaxTokens = 20

// metaMaxOpaque is the longest O token, 'O' included.
const metaMaxOpaque = 32

type metaErrCode uint8

const (
	metaErrBadFormat metaErrCode = iota
	metaErrDuplicate
	metaErrInvalidFlag
	metaErrDecodeKey
	metaErrBadToken
	metaErrMLength
	metaErrInitial
	metaErrDelta
	metaErrOpaque
	metaErrModeMS
	metaErrModeMA
	metaErrInvalidOrDup
	metaErrTooLongMG
	metaErrTooLong
	metaErrTooLarge
	metaErrMeRefused
	metaErrCount
)

var metaErrText = [metaErrCount]string{
	metaErrBadFormat:    "CLIENT_ERROR bad command line format\r\n",
	metaErrDuplicate:    "CLIENT_ERROR duplicate flag\r\n",
	metaErrInvalidFlag:  "CLIENT_ERROR invalid flag\r\n",
	metaErrDecodeKey:    "CLIENT_ERROR error decoding key\r\n",
	metaErrBadToken:     "CLIENT_ERROR bad token in command line format\r\n",
	metaErrMLength:      "CLIENT_ERROR incorrect length for M token\r\n",
	metaErrInitial:      "CLIENT_ERROR invalid numeric initial value\r\n",
	metaErrDelta:        "CLIENT_ERROR invalid numeric delta value\r\n",
	metaErrOpaque:       "CLIENT_ERROR opaque token too long\r\n",
	metaErrModeMS:       "CLIENT_ERROR invalid mode for ms M token\r\n",
	metaErrModeMA:       "CLIENT_ERROR invalid mode for ma M token\r\n",
	metaErrInvalidOrDup: "CLIENT_ERROR invalid or duplicate flag\r\n",
	metaErrTooLongMG:    "CLIENT_ERROR options flags are too long\r\n",
	metaErrTooLong:      "CLIENT_ERROR options flags too long\r\n",
	metaErrTooLarge:     "SERVER_ERROR object too large for cache\r\n",
	metaErrMeRefused:    "CLIENT_ERROR command 'me' not supported by this proxy\r\n",
}

// metaErrs[c] is the error; metaErrsSwallow[c] the same reply after an ms
// line whose data block is swallowed.
var metaErrs, metaErrsSwallow = func() (plain, swallow [metaErrCount]TextError) {
	for i, s := range metaErrText {
		plain[i] = TextError{Reply: s}
		swallow[i] = TextError{Reply: s, Swallow: true}
	}
	swallow[metaErrTooLarge].Unlink = true
	return plain, swallow
}()

// ErrMetaDebugRefused answers me: the proxy has no equivalent of
// memcached's item debug line.
var ErrMetaDebugRefused = &metaErrs[metaErrMeRefused]

// refusedFlag[c] refuses meta flag c ("CLIENT_ERROR flag 'h' not supported
// by this proxy"); refusedFlagSwallow[c] the same for ms.
var refusedFlag, refusedFlagSwallow = func() (plain, swallow [128]TextError) {
	for c := range 128 {
		s := "CLIENT_ERROR flag '" + string(rune(c)) + "' not supported by this proxy\r\n"
		plain[c] = TextError{Reply: s}
		swallow[c] = TextError{Reply: s, Swallow: true}
	}
	return plain, swallow
}()

// metaRefused lists, per command, the flags memcached knows and a Couchbase
// node cannot honour (facts B.8): mg h l N R E (no hit/last-access data,
// vivify, recache or client CAS over KV); ms I E N (no stale marking,
// client CAS or append-vivify); md I x E; ma C T t E (KV arithmetic takes
// no CAS and cannot change or report a TTL).
var metaRefused = [...]string{
	TextMetaGet:    "hlNRE",
	TextMetaSet:    "IEN",
	TextMetaDelete: "IxE",
	TextMetaArith:  "CTtE",
}

func (r *TextRequest) metaErr(c metaErrCode) *TextError {
	if r.Cmd == TextMetaSet && r.DataLen > 0 {
		return &metaErrsSwallow[c]
	}
	return &metaErrs[c]
}

func (r *TextRequest) refuse(c byte) *TextError {
	if r.Cmd == TextMetaSet {
		return &refusedFlagSwallow[c]
	}
	return &refusedFlag[c]
}

func (r *TextRequest) parseMeta(c byte, maxValue int) *TextError {
	switch c {
	case 'n':
		r.Cmd = TextMetaNoop
		return nil
	case 'e':
		r.Cmd = TextMetaDebug
		return ErrMetaDebugRefused
	case 'g':
		r.Cmd = TextMetaGet
	case 's':
		r.Cmd = TextMetaSet
	case 'd':
		r.Cmd = TextMetaDelete
	case 'a':
		r.Cmd = TextMetaArith
	default:
		return ErrTextError
	}
	if r.ntok < 2 {
		return ErrTextError
	}
	r.Key, r.NumKeys = r.tok(1), 1
	if len(r.Key) > MaxKeyLen {
		return ErrTextBadFormat
	}
	switch r.Cmd {
	case TextMetaGet:
		return r.parseMetaGet()
	case TextMetaSet:
		return r.parseMetaSet(maxValue)
	case TextMetaDelete:
		return r.parseMetaDelete()
	default:
		return r.parseMetaArith()
	}
}

// preparse is _meta_flag_preparse over tokens start..: it records every
// flag and its token, and returns memcached's error for a duplicate or
// unknown flag (at once) or for a bad token (the last one seen, after all
// flags were read).
func (r *TextRequest) preparse(start int) (metaErrCode, bool) {
	m := &r.Meta
	code, bad := metaErrBadFormat, false
	for i := start; i < r.ntok; i++ {
		t := r.tok(i)
		o := t[0]
		if o >= 127 || m.mark(o) {
			return metaErrDuplicate, true
		}
		switch o {
		case 'b':
			n := metaBase64Decode(r.keyBuf[:], r.Key)
			if n == 0 {
				code, bad = metaErrDecodeKey, true
			}
			r.Key = r.keyBuf[:n]
			m.Base64 = true
		case 'N':
			v, ok := parseI32(t[1:])
			if !ok {
				code, bad = metaErrBadToken, true
				break
			}
			m.Vivify = true
			r.Exptime = binaryExptime(v)
		case 'T':
			v, ok := parseI32(t[1:])
			if !ok {
				code, bad = metaErrBadToken, true
				break
			}
			m.HasTTL, m.TTL = true, v
		case 'R':
			if _, ok := parseI32(t[1:]); !ok {
				code, bad = metaErrBadToken, true
			}
		case 'O':
			m.Opaque = t
			m.opaqueLong = len(t) > metaMaxOpaque
			m.addRet(o)
		case 'k', 'c', 'f', 's', 't':
			m.addRet(o)
		case 'v':
			m.Value = true
		case 'q':
			m.Quiet = true
		case 'l', 'h', 'u', 'P', 'L', 'I':
		case 'F':
			v, ok := parseU32(t[1:])
			if !ok {
				bad = true // memcached keeps the default error string here
				break
			}
			r.Flags = v
		case 'C':
			v, ok := parseU64(t[1:])
			if !ok {
				code, bad = metaErrBadToken, true
				break
			}
			m.HasCAS, r.CAS = true, v
		case 'E':
			// memcached 1.6.40's client-supplied CAS; parsed as it parses it,
			// then refused (metaRefused).
			if _, ok := parseU64(t[1:]); !ok {
				code, bad = metaErrBadToken, true
			}
		case 'x':
			if r.Cmd != TextMetaDelete {
				return metaErrInvalidFlag, true
			}
		case 'M':
			if len(t) != 2 {
				code, bad = metaErrMLength, true
				break
			}
			m.Mode = t[1]
		case 'J':
			v, ok := parseU64(t[1:])
			if !ok {
				code, bad = metaErrInitial, true
				break
			}
			r.Initial = v
		case 'D':
			v, ok := parseU64(t[1:])
			if !ok {
				code, bad = metaErrDelta, true
				break
			}
			r.Delta = v
		default:
			return metaErrInvalidFlag, true
		}
	}
	return code, bad
}

func (m *MetaFlags) addRet(c byte) {
	m.ret[m.nret] = c
	m.nret++
}

// refused returns the first flag on the line that the proxy refuses for
// this command, or 0.
func (r *TextRequest) refused() byte {
	list := metaRefused[r.Cmd]
	for i := 2; i < r.ntok; i++ {
		c := r.tok(i)[0]
		for j := 0; j < len(list); j++ {
			if list[j] == c {
				return c
			}
		}
	}
	return 0
}

func (r *TextRequest) parseMetaGet() *TextError {
	if r.ntok >= metaMaxTokens {
		return &metaErrs[metaErrTooLongMG]
	}
	if code, bad := r.preparse(2); bad {
		return &metaErrs[code]
	}
	m := &r.Meta
	if c := r.refused(); c != 0 {
		return &refusedFlag[c]
	}
	// t (remaining TTL) is not in a GET reply; it is known only when this
	// command sets the TTL itself with a relative T.
	if m.Has('t') && !(m.HasTTL && m.TTL >= 0 && m.TTL <= realtimeMaxDelta) {
		return &refusedFlag['t']
	}
	r.op = OpGet
	if m.HasTTL {
		r.Exptime = binaryExptime(m.TTL)
		r.op = OpGAT
		if !m.Value && !m.Has('f') && !m.Has('s') {
			r.op = OpTouch // nothing of the value is needed
		}
	}
	if m.HasCAS {
		r.kind = replyCompare
	}
	return nil
}

func (r *TextRequest) parseMetaSet(maxValue int) *TextError {
	if r.ntok == 2 {
		return ErrTextBadFormat
	}
	if r.ntok >= metaMaxTokens {
		return &metaErrs[metaErrTooLong]
	}
	vlen, ok := parseI32(r.tok(2))
	if !ok || vlen < 0 || vlen > 1<<31-1-2 {
		return ErrTextBadFormat
	}
	r.DataLen = int(vlen) + 2
	// From here on every error swallows the data block.
	if code, bad := r.preparse(3); bad {
		return r.metaErr(code)
	}
	m := &r.Meta
	switch m.Mode {
	case 0, 'S':
		r.op = OpSet
	case 'E':
		r.op = OpAdd
	case 'A':
		r.op = OpAppend
	case 'P':
		r.op = OpPrepend
	case 'R':
		r.op = OpReplace
	default:
		return r.metaErr(metaErrModeMS)
	}
	if m.opaqueLong {
		return r.metaErr(metaErrOpaque)
	}
	if c := r.refused(); c != 0 {
		return r.refuse(c)
	}
	if m.Has('s') && (r.op == OpAppend || r.op == OpPrepend) {
		return r.refuse('s') // the size after an append is not in the reply
	}
	if int(vlen) > maxValue {
		return r.metaErr(metaErrTooLarge)
	}
	if m.HasTTL {
		r.Exptime = binaryExptime(m.TTL)
	}
	switch {
	case !m.HasCAS:
	case r.op == OpAdd:
		// memcached: add with a CAS behaves as add; KV rejects a CAS on ADD.
		m.HasCAS, r.CAS = false, 0
	case r.CAS == 0 && (r.op == OpSet || r.op == OpReplace):
		r.op, r.kind = OpGet, replyProbe // see parseStore
	}
	return nil
}

func (r *TextRequest) parseMetaDelete() *TextError {
	if r.ntok >= metaMaxTokens {
		return &metaErrs[metaErrTooLong]
	}
	if _, bad := r.preparse(2); bad {
		return &metaErrs[metaErrInvalidOrDup]
	}
	if r.Meta.opaqueLong {
		return &metaErrs[metaErrOpaque]
	}
	if c := r.refused(); c != 0 {
		return &refusedFlag[c]
	}
	r.op = OpDelete
	if r.Meta.HasCAS && r.CAS == 0 {
		r.op, r.kind = OpGet, replyProbe
	}
	return nil
}

func (r *TextRequest) parseMetaArith() *TextError {
	if r.ntok >= metaMaxTokens {
		return &metaErrs[metaErrTooLong]
	}
	r.Delta = 1
	r.Exptime = 0xffffffff
	if _, bad := r.preparse(2); bad {
		return &metaErrs[metaErrInvalidOrDup]
	}
	switch r.Meta.Mode {
	case 0, 'I', '+':
		r.op = OpIncrement
	case 'D', '-':
		r.op = OpDecrement
	default:
		return &metaErrs[metaErrModeMA]
	}
	if c := r.refused(); c != 0 {
		return &refusedFlag[c]
	}
	// An O token over 32 bytes: memcached applies the arithmetic and then
	// answers the error, so the request is still sent (TextReply says so).
	return nil
}

package memcached

import "bytes"

// ParseText parses one command line (buf[:lineEnd] from TextFrame) into
// req. It does not allocate and does no I/O.
//
// On success it returns nil and req says what to do: req.Cmd names the
// command; a storage command has a data block of req.DataLen bytes to read
// and CheckData before AppendTextToBinary; a get family line has
// req.NumKeys keys to iterate with NextKey; a local command is answered by
// the session.
//
// On failure it returns the reply to write (req.AppendError honours a
// noreply parsed before the error), whether the data block is swallowed
// (req.DataLen bytes) and whether the connection closes.
//
// maxValue is the largest value accepted (DefaultMaxValue when <= 0); a
// larger one is refused with "SERVER_ERROR object too large for cache" and
// its data swallowed, as memcached does for its item size limit.
//
// The grammar and every reply are memcached 1.6's (the releases up to
// 1.6.39; see doc.go for the few places where 1.6.40's new parser differs).
func ParseText(line []byte, maxValue int, req *TextRequest) *TextError {
	*req = TextRequest{}
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i] // memcached's tokenizer stops at a NUL (strlen)
	}
	req.line = line
	req.tokenize()
	if maxValue <= 0 {
		maxValue = DefaultMaxValue
	}
	n := req.ntok
	if n == 0 || len(req.tok(0)) < 2 {
		return ErrTextError
	}
	cmd := req.tok(0)
	switch first := cmd[0]; {
	case first == 'm' && len(cmd) == 2:
		return req.parseMeta(cmd[1], maxValue)
	case first == 'g':
		if n < 2 {
			return ErrTextError
		}
		switch string(cmd) {
		case "get":
			return req.parseGet(TextGet)
		case "gets":
			return req.parseGet(TextGets)
		case "gat":
			return req.parseGet(TextGat)
		case "gats":
			return req.parseGet(TextGats)
		}
		return ErrTextError
	case first == 's':
		switch string(cmd) {
		case "set":
			return req.parseStore(TextSet, maxValue)
		case "stats":
			req.Cmd = TextStats
			return nil
		}
		return ErrTextError // includes shutdown and slabs, which the proxy does not serve
	case first == 'a':
		switch string(cmd) {
		case "add":
			return req.parseStore(TextAdd, maxValue)
		case "append":
			return req.parseStore(TextAppend, maxValue)
		}
		return ErrTextError
	case first == 'c':
		if string(cmd) == "cas" {
			return req.parseStore(TextCas, maxValue)
		}
		return ErrTextError // includes cache_memlimit
	case first == 'i':
		if string(cmd) == "incr" {
			return req.parseArith(TextIncr)
		}
		return ErrTextError
	case first == 'd':
		switch string(cmd) {
		case "delete":
			return req.parseDelete()
		case "decr":
			return req.parseArith(TextDecr)
		}
		return ErrTextError
	case first == 't':
		if string(cmd) == "touch" {
			return req.parseTouch()
		}
		return ErrTextError
	}
	switch string(cmd) {
	case "replace":
		return req.parseStore(TextReplace, maxValue)
	case "prepend":
		return req.parseStore(TextPrepend, maxValue)
	case "bget": // memcached's undocumented alias of get
		if n < 2 {
			return ErrTextError
		}
		return req.parseGet(TextGet)
	case "flush_all":
		return req.parseFlush()
	case "version":
		req.Cmd = TextVersion
		return nil
	case "quit":
		req.Cmd = TextQuit
		return nil
	case "verbosity":
		return req.parseVerbosity()
	case "lru_crawler", "watch", "lru", "extstore", "refresh_certs":
		// Server administration memcached knows and the proxy does not
		// serve: answered like an unknown command, without memcached's HTTP
		// check (these names never reach it).
		return ErrTextError
	}
	if bytes.HasPrefix(req.tok(n-1), []byte("HTTP/")) {
		return ErrTextClose
	}
	return ErrTextError
}

// tokenize splits the line on spaces into at most textMaxTokens tokens, as
// memcached's tokenize_command does.
func (r *TextRequest) tokenize() {
	line := r.line
	n, s := 0, 0
	for i := 0; i < len(line); i++ {
		if line[i] != ' ' {
			continue
		}
		if s != i {
			r.toks[n] = tokSpan{int32(s), int32(i)}
			n++
			if n == textMaxTokens {
				r.ntok = n
				return
			}
		}
		s = i + 1
	}
	if s < len(line) {
		r.toks[n] = tokSpan{int32(s), int32(len(line))}
		n++
	}
	r.ntok = n
}

// noreply sets NoReply when the last token is "noreply" (memcached's
// set_noreply_maybe) and reports it.
func (r *TextRequest) noreply() bool {
	if string(r.tok(r.ntok-1)) == "noreply" {
		r.NoReply = true
	}
	return r.NoReply
}

func (r *TextRequest) parseGet(cmd TextCmd) *TextError {
	r.Cmd = cmd
	first := 1
	if cmd == TextGat || cmd == TextGats {
		t, ok := parseI32(r.tok(1))
		if !ok {
			return ErrTextBadExptime
		}
		r.Exptime = binaryExptime(t)
		r.op = OpGAT
		first = 2
	} else {
		r.op = OpGet
	}
	if first >= r.ntok {
		return nil // "gat <exptime>" with no key: just END
	}
	r.keysStart = int(r.toks[first].start)
	// Check every key before the first one is sent: memcached answers a
	// line with a key over 250 bytes with the error alone, so a streaming
	// session must never have written a VALUE for it.
	for k, next := r.NextKey(0); k != nil; k, next = r.NextKey(next) {
		if len(k) > MaxKeyLen {
			return ErrTextBadFormat
		}
		if r.NumKeys == 0 {
			r.Key = k
		}
		r.NumKeys++
	}
	return nil
}

var storeOps = [...]Opcode{
	TextSet: OpSet, TextAdd: OpAdd, TextReplace: OpReplace, TextAppend: OpAppend,
	TextPrepend: OpPrepend, TextCas: OpSet,
}

func (r *TextRequest) parseStore(cmd TextCmd, maxValue int) *TextError {
	r.Cmd = cmd
	want := 5 // set <key> <flags> <exptime> <bytes> [noreply]
	if cmd == TextCas {
		want = 6 // cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]
	}
	if r.ntok != want && r.ntok != want+1 {
		return ErrTextError
	}
	r.noreply()
	r.Key, r.NumKeys = r.tok(1), 1
	if len(r.Key) > MaxKeyLen {
		return ErrTextBadFormat
	}
	flags, ok1 := parseU32(r.tok(2))
	exp, ok2 := parseI32(r.tok(3))
	vlen, ok3 := parseI32(r.tok(4))
	if !ok1 || !ok2 || !ok3 {
		return ErrTextBadFormat
	}
	r.Flags, r.Exptime = flags, binaryExptime(exp)
	if cmd == TextCas {
		cas, ok := parseU64(r.tok(5))
		if !ok {
			return ErrTextBadFormat
		}
		r.CAS = cas
	}
	if vlen < 0 || vlen > 1<<31-1-2 {
		return ErrTextBadFormat
	}
	r.DataLen = int(vlen) + 2
	if int(vlen) > maxValue {
		if cmd == TextSet {
			return ErrTextTooLargeSet
		}
		return ErrTextTooLarge
	}
	r.op = storeOps[cmd]
	if cmd == TextCas && r.CAS == 0 {
		// memcached compares a cas unique of 0 like any other and never
		// stores; a binary CAS of 0 means "no CAS". Probe with a GET:
		// a hit answers EXISTS, a miss NOT_FOUND.
		r.op, r.kind = OpGet, replyProbe
	}
	return nil
}

func (r *TextRequest) parseArith(cmd TextCmd) *TextError {
	r.Cmd = cmd
	if r.ntok != 3 && r.ntok != 4 {
		return ErrTextError
	}
	r.noreply()
	r.Key, r.NumKeys = r.tok(1), 1
	if len(r.Key) > MaxKeyLen {
		return ErrTextBadFormat
	}
	d, ok := parseU64(r.tok(2))
	if !ok {
		return ErrTextBadDelta
	}
	r.Delta = d
	r.Exptime = 0xffffffff // a miss is NOT_FOUND, never a create
	r.op = OpIncrement
	if cmd == TextDecr {
		r.op = OpDecrement
	}
	return nil
}

func (r *TextRequest) parseTouch() *TextError {
	r.Cmd = TextTouch
	if r.ntok != 3 && r.ntok != 4 {
		return ErrTextError
	}
	r.noreply()
	r.Key, r.NumKeys = r.tok(1), 1
	if len(r.Key) > MaxKeyLen {
		return ErrTextBadFormat
	}
	t, ok := parseI32(r.tok(2))
	if !ok {
		return ErrTextBadExptime
	}
	r.Exptime = binaryExptime(t)
	r.op = OpTouch
	return nil
}

func (r *TextRequest) parseDelete() *TextError {
	r.Cmd = TextDelete
	n := r.ntok
	if n < 2 || n > 4 {
		return ErrTextError
	}
	if n > 2 {
		// memcached <= 1.6.39 accepts the legacy "delete <key> 0" and
		// "delete <key> 0 noreply" and rejects any other extra token.
		hold0 := string(r.tok(2)) == "0"
		nr := r.noreply()
		if !((n == 3 && (hold0 || nr)) || (n == 4 && hold0 && nr)) {
			return ErrTextDeleteUsage
		}
	}
	r.Key, r.NumKeys = r.tok(1), 1
	if len(r.Key) > MaxKeyLen {
		return ErrTextBadFormat
	}
	r.op = OpDelete
	return nil
}

func (r *TextRequest) parseVerbosity() *TextError {
	r.Cmd = TextVerbosity
	if r.ntok != 2 && r.ntok != 3 {
		return ErrTextError
	}
	r.noreply()
	lvl, ok := parseU32(r.tok(1))
	if !ok {
		return ErrTextBadFormat
	}
	r.Level = lvl
	return nil
}

func (r *TextRequest) parseFlush() *TextError {
	r.Cmd = TextFlushAll
	n := r.ntok
	if n > 3 {
		return ErrTextError
	}
	nr := r.noreply()
	want := 1
	if nr {
		want = 2
	}
	if n != want {
		d, ok := parseI32(r.tok(1))
		if !ok {
			r.DelayErr = ErrTextBadExptime
		}
		r.Delay = d
	}
	return nil
}

package memcached

// Meta replies: a return code, then the return flags in request order, as
// memcached writes them (process_mget_command, _finalize_mset,
// process_mdelete_command, process_marithmetic_command).

const errOpaqueTooLong = "CLIENT_ERROR opaque token too long\r\n"

// appendOpaqueKey appends the return flags that every code carries: O (the
// opaque, verbatim) and k (the key; a key sent with b is re-encoded and
// followed by " b").
func appendOpaqueKey(dst []byte, rc *TextReply, key []byte, c byte) []byte {
	switch c {
	case 'O':
		dst = append(dst, ' ')
		return append(dst, rc.opaque[:rc.nopaque]...)
	case 'k':
		dst = append(dst, " k"...)
		if !rc.base64 {
			return append(dst, key...)
		}
		dst = appendBase64(dst, key)
		return append(dst, " b"...)
	}
	return dst
}

// appendMissFlags appends the flags of a reply with no item: O and k only.
func appendMissFlags(dst []byte, rc *TextReply, key []byte) []byte {
	for _, c := range rc.ret[:rc.nret] {
		dst = appendOpaqueKey(dst, rc, key, c)
	}
	return append(dst, "\r\n"...)
}

func appendMetaGet(dst []byte, rc *TextReply, key []byte, resp *Header, extras, value []byte) []byte {
	switch resp.Status {
	case StatusSuccess:
	case StatusKeyENOENT:
		if rc.opaqueLong {
			return append(dst, errOpaqueTooLong...)
		}
		if rc.Quiet {
			return dst
		}
		return appendMissFlags(append(dst, "EN"...), rc, key)
	default:
		return appendStatusError(dst, rc, resp.Status)
	}
	if rc.opaqueLong {
		return append(dst, errOpaqueTooLong...)
	}
	show := rc.value && !(rc.kind == replyCompare && resp.CAS == rc.compareCAS)
	if show {
		dst = append(dst, "VA "...)
		dst = appendUint(dst, uint64(len(value)))
	} else {
		dst = append(dst, "HD"...)
	}
	for _, c := range rc.ret[:rc.nret] {
		switch c {
		case 's':
			dst = append(dst, " s"...)
			dst = appendUint(dst, uint64(len(value)))
		case 't':
			dst = append(dst, " t"...)
			if rc.ttl == 0 {
				dst = append(dst, "-1"...)
			} else {
				dst = appendInt(dst, int64(rc.ttl))
			}
		case 'c':
			dst = append(dst, " c"...)
			dst = appendUint(dst, resp.CAS)
		case 'f':
			dst = append(dst, " f"...)
			dst = appendUint(dst, uint64(replyFlags(extras)))
		default:
			dst = appendOpaqueKey(dst, rc, key, c)
		}
	}
	dst = append(dst, "\r\n"...)
	if show {
		dst = append(dst, value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

func appendMetaSet(dst []byte, rc *TextReply, key []byte, resp *Header) []byte {
	st := resp.Status
	var code string
	switch {
	case rc.kind == replyProbe && st == StatusSuccess:
		code = "EX"
	case st == StatusSuccess:
		if rc.Quiet {
			return dst
		}
		code = "HD"
	case st == StatusKeyEEXISTS || st == StatusLocked:
		code = "EX"
		if rc.op == OpAdd {
			code = "NS"
		}
	case st == StatusKeyENOENT:
		code = "NS"
		if rc.hasCAS {
			code = "NF"
		}
	case st == StatusNotStored:
		code = "NS"
	case st == StatusENOMEM:
		return append(dst, "SERVER_ERROR out of memory storing object\r\n"...)
	default:
		return appendStatusError(dst, rc, st)
	}
	stored := code == "HD"
	dst = append(dst, code...)
	for _, c := range rc.ret[:rc.nret] {
		switch c {
		case 'c':
			// memcached reports the new CAS of a stored item and 0 otherwise.
			dst = append(dst, " c"...)
			if stored {
				dst = appendUint(dst, resp.CAS)
			} else {
				dst = append(dst, '0')
			}
		case 's':
			dst = append(dst, " s"...)
			dst = appendUint(dst, uint64(rc.dataLen))
		default:
			dst = appendOpaqueKey(dst, rc, key, c)
		}
	}
	return append(dst, "\r\n"...)
}

func appendMetaDelete(dst []byte, rc *TextReply, key []byte, st Status) []byte {
	var code string
	switch {
	case rc.kind == replyProbe && st == StatusSuccess:
		code = "EX"
	case st == StatusSuccess:
		if rc.Quiet {
			return dst
		}
		code = "HD"
	case st == StatusKeyENOENT:
		code = "NF"
	case st == StatusKeyEEXISTS || st == StatusLocked:
		code = "EX"
	default:
		return appendStatusError(dst, rc, st)
	}
	return appendMissFlags(append(dst, code...), rc, key)
}

func appendMetaArith(dst []byte, rc *TextReply, key []byte, resp *Header, value []byte) []byte {
	var code string
	switch resp.Status {
	case StatusSuccess:
	case StatusKeyENOENT:
		code = "NF"
	case StatusKeyEEXISTS, StatusLocked:
		code = "EX"
	case StatusNotStored:
		code = "NS"
	default:
		return appendStatusError(dst, rc, resp.Status)
	}
	if rc.opaqueLong {
		return append(dst, errOpaqueTooLong...)
	}
	if code != "" {
		return appendMissFlags(append(dst, code...), rc, key)
	}
	if rc.Quiet {
		return dst
	}
	var num [20]byte
	n := appendUint(num[:0], replyCounter(value))
	if rc.value {
		dst = append(dst, "VA "...)
		dst = appendUint(dst, uint64(len(n)))
	} else {
		dst = append(dst, "HD"...)
	}
	for _, c := range rc.ret[:rc.nret] {
		if c == 'c' {
			dst = append(dst, " c"...)
			dst = appendUint(dst, resp.CAS)
			continue
		}
		dst = appendOpaqueKey(dst, rc, key, c)
	}
	dst = append(dst, "\r\n"...)
	if rc.value {
		dst = append(dst, n...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

package memcached

// Number parsing with the exact acceptance rules of memcached's safe_strto*
// helpers (util.c), which wrap the C library's strtoul/strtol on a 64-bit
// Linux build. Clients rely on the quirks, so they are reproduced, not
// tidied:
//
//   - leading C whitespace (space, \t, \n, \v, \f, \r) is skipped and one
//     '+' or '-' sign is accepted;
//   - the digits must be followed by the end of the token or by a whitespace
//     character, after which anything is ignored ("5\tx" is 5);
//   - overflow of the 64-bit intermediate is an error (ERANGE);
//   - the unsigned parsers accept "-N" when the wrapped result is not
//     negative as a signed number, as strtoul does ("-0" is 0);
//   - the 32-bit parsers truncate the 64-bit result: flags "4294967296" are 0
//     and a data length of "4294967297" is 1.

func cIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// cStrtoull64 is strtoull with base 10: it returns the magnitude, whether a
// '-' sign was present, and ok=false when no digit was read, the magnitude
// overflows 64 bits, or the digits are followed by a non-space character.
func cStrtoull64(tok []byte) (mag uint64, neg bool, ok bool) {
	i := 0
	for i < len(tok) && cIsSpace(tok[i]) {
		i++
	}
	if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
		neg = tok[i] == '-'
		i++
	}
	start := i
	overflow := false
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		d := uint64(tok[i] - '0')
		if mag > (^uint64(0)-d)/10 {
			overflow = true
		} else {
			mag = mag*10 + d
		}
		i++
	}
	if i == start || overflow {
		return 0, neg, false
	}
	if i < len(tok) && !cIsSpace(tok[i]) {
		return 0, neg, false
	}
	return mag, neg, true
}

// hasMinus reports whether the token contains a '-' (memcached's strchr
// check on the whole token).
func hasMinus(tok []byte) bool {
	for _, c := range tok {
		if c == '-' {
			return true
		}
	}
	return false
}

// parseU64 is safe_strtoull.
func parseU64(tok []byte) (uint64, bool) {
	mag, neg, ok := cStrtoull64(tok)
	if !ok {
		return 0, false
	}
	v := mag
	if neg {
		v = -mag
	}
	if int64(v) < 0 && hasMinus(tok) {
		return 0, false
	}
	return v, true
}

// parseU32 is safe_strtoul: a 64-bit strtoul truncated to 32 bits.
func parseU32(tok []byte) (uint32, bool) {
	v, ok := parseU64(tok)
	return uint32(v), ok
}

// parseI32 is safe_strtol: a 64-bit strtol (an error outside the int64
// range) truncated to 32 bits.
func parseI32(tok []byte) (int32, bool) {
	mag, neg, ok := cStrtoull64(tok)
	if !ok {
		return 0, false
	}
	if neg {
		if mag > 1<<63 {
			return 0, false
		}
		return int32(-int64(mag)), true
	}
	if mag > 1<<63-1 {
		return 0, false
	}
	return int32(int64(mag)), true
}

// realtimeMaxDelta is memcached's REALTIME_MAXDELTA: exptimes above it are
// absolute Unix times.
const realtimeMaxDelta = 60 * 60 * 24 * 30

// binaryExptime maps a text exptime onto the unsigned binary expiry field:
// a negative exptime becomes REALTIME_MAXDELTA+1 (2592001), an absolute time
// in 1970, which memcached and Couchbase both treat as already expired
// (memcached's own EXPTIME_TO_POSITIVE_TIME).
func binaryExptime(t int32) uint32 {
	if t < 0 {
		return realtimeMaxDelta + 1
	}
	return uint32(t)
}

// appendUint appends v in decimal without allocating.
func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// appendInt appends v in decimal without allocating.
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		return appendUint(dst, uint64(-v))
	}
	return appendUint(dst, uint64(v))
}

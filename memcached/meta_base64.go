package memcached

// Base64 for meta keys (flag b), with the acceptance rules of memcached's
// base64.c rather than encoding/base64's: characters outside the alphabet
// are skipped, the count of alphabet characters ('=' included) must be a
// non-zero multiple of four, and decoding stops after the first block that
// holds padding. Encoding is standard, padded base64.

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

const b64Skip = 0x80

var b64Decode = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Skip
	}
	for i := 0; i < len(b64Alphabet); i++ {
		t[b64Alphabet[i]] = byte(i)
	}
	t['='] = 0
	return t
}()

// metaBase64Decode decodes src into dst (which must hold len(src)*3/4 bytes)
// and returns the decoded length; 0 means the key does not decode (memcached
// then answers "CLIENT_ERROR error decoding key").
func metaBase64Decode(dst, src []byte) int {
	count := 0
	for _, c := range src {
		if b64Decode[c] != b64Skip {
			count++
		}
	}
	if count == 0 || count%4 != 0 || count/4*3 > len(dst) {
		return 0
	}
	var block [4]byte
	n, pos, pad := 0, 0, 0
	for _, c := range src {
		v := b64Decode[c]
		if v == b64Skip {
			continue
		}
		if c == '=' {
			pad++
		}
		block[n] = v
		n++
		if n < 4 {
			continue
		}
		dst[pos] = block[0]<<2 | block[1]>>4
		dst[pos+1] = block[1]<<4 | block[2]>>2
		dst[pos+2] = block[2]<<6 | block[3]
		pos += 3
		n = 0
		if pad > 0 {
			switch pad {
			case 1:
				pos--
			case 2:
				pos -= 2
			default:
				return 0
			}
			break
		}
	}
	return pos
}

// appendBase64 appends the standard padded base64 encoding of src.
func appendBase64(dst, src []byte) []byte {
	for len(src) >= 3 {
		dst = append(dst,
			b64Alphabet[src[0]>>2],
			b64Alphabet[(src[0]&0x03)<<4|src[1]>>4],
			b64Alphabet[(src[1]&0x0f)<<2|src[2]>>6],
			b64Alphabet[src[2]&0x3f])
		src = src[3:]
	}
	switch len(src) {
	case 1:
		dst = append(dst, b64Alphabet[src[0]>>2], b64Alphabet[(src[0]&0x03)<<4], '=', '=')
	case 2:
		dst = append(dst, b64Alphabet[src[0]>>2], b64Alphabet[(src[0]&0x03)<<4|src[1]>>4],
			b64Alphabet[(src[1]&0x0f)<<2], '=')
	}
	return dst
}

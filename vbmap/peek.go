package vbmap

import (
	"bytes"
	"strconv"
)

// peekRevision finds the top-level "rev" and "revEpoch" of a config without
// decoding it: a single pass over the bytes, tracking strings and nesting.
// ok is false when there is no top-level rev or the document does not look
// like a JSON object; callers then fall back to Parse. When a key repeats,
// the last one wins, as with encoding/json.
func peekRevision(data []byte) (r Revision, ok bool) {
	depth := 0
	i := 0
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if i == len(data) || data[i] != '{' {
		return Revision{}, false
	}
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return Revision{}, false
			}
		case '"':
			start := i + 1
			end := start
			for end < len(data) && data[end] != '"' {
				if data[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(data) {
				return Revision{}, false
			}
			i = end
			if depth != 1 {
				continue
			}
			key := data[start:end]
			field := 0
			switch {
			case string(key) == "rev":
				field = 1
			case string(key) == "revEpoch":
				field = 2
			case bytes.IndexByte(key, '\\') >= 0 || bytes.EqualFold(key, []byte("rev")) || bytes.EqualFold(key, []byte("revEpoch")):
				// encoding/json would unescape or match case-insensitively;
				// leave such documents to Parse.
				if isKey(data, end+1) {
					return Revision{}, false
				}
				continue
			default:
				continue
			}
			// A key is followed by ':' then the value.
			j := end + 1
			for j < len(data) && isSpace(data[j]) {
				j++
			}
			if j >= len(data) || data[j] != ':' {
				continue // a string value, not a key
			}
			j++
			for j < len(data) && isSpace(data[j]) {
				j++
			}
			k := j
			for k < len(data) && (data[k] == '-' || data[k] >= '0' && data[k] <= '9') {
				k++
			}
			n, err := strconv.ParseInt(string(data[j:k]), 10, 64)
			if err != nil {
				return Revision{}, false
			}
			if field == 1 {
				r.Rev, ok = n, true
			} else {
				r.Epoch = n
			}
			i = k - 1
		}
	}
	if depth != 0 {
		return Revision{}, false
	}
	return r, ok
}

// isKey reports whether the string ending before data[i] is followed by ':'.
func isKey(data []byte, i int) bool {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i < len(data) && data[i] == ':'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

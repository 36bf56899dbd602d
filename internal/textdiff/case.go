package textdiff

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// ItemSizeMax is the item size limit (memcached -I) the cases assume: values
// up to about this size are stored, larger ones are refused.
const ItemSizeMax = 2 << 20

// MemcachedArgs are the extra memcached arguments the cases need (pass them
// to mctest.Start for the direct server and for every upstream memcached of
// the proxy).
var MemcachedArgs = []string{"-I", "2m"}

// Case is one independent command sequence.
type Case struct {
	Name string
	// Steps are written in order. After each step the runner sends a
	// sentinel request and collects every reply up to the sentinel's, so a
	// step can use values returned by the steps before it ({casof:a}). A
	// step ending in "{nosync}" is written without the sentinel, and the
	// next step follows it after a short pause (a request split over two
	// writes).
	Steps []string
	// Closes: the server closes the connection during the last step (quit,
	// an HTTP request line, an over-long line); the runner reads to EOF.
	Closes bool
	// ProxyDiffers says why vbproxy answers this case differently from
	// memcached by design, whatever its upstream (a meta flag it refuses, a
	// memcached quirk it cannot see through the binary protocol). Empty: the
	// proxy must match byte for byte.
	ProxyDiffers string
	// CouchbaseDiffers says why a proxy in front of Couchbase (or the
	// simulated cluster) answers differently although one in front of
	// memcached matches (decr's space padding, a larger item size limit).
	CouchbaseDiffers string
}

// Reproducible returns the cases a proxy must answer exactly as memcached:
// those without ProxyDiffers, and when couchbase is true also without
// CouchbaseDiffers.
func Reproducible(cases []Case, couchbase bool) []Case {
	var out []Case
	for _, c := range cases {
		if c.ProxyDiffers != "" || (couchbase && c.CouchbaseDiffers != "") {
			continue
		}
		out = append(out, c)
	}
	return out
}

// state is what templates may refer to on one connection.
type state struct {
	prefix  string
	lastCAS map[string]string // key -> last CAS returned for it
}

// unknownCAS stands for a CAS the server never returned: a value no real
// item has, the same on both servers.
const unknownCAS = "18446744073709551000"

// Expand replaces the templates of a step:
//
//	{k}            the case's key prefix (unique per run and case)
//	{key:N}        a key of exactly N bytes that starts with the prefix
//	{b64:S}        base64 of prefix+S (a meta key sent with flag b)
//	{casof:S}      the last CAS the server returned for key prefix+S
//	               (gets/gats VALUE lines, meta replies with c and k), or a
//	               CAS no item has
//	{bytes:N}      N bytes of data ("0123456789" repeated)
//	{fill:N:C}     N copies of the character C
//	{keys:N}       N keys prefix+"m0" ... prefix+"m<N-1>", space separated
//	{nosync}       (at the end) write without waiting for the replies
func expand(step string, st *state) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(step, '{')
		if i < 0 {
			b.WriteString(step)
			return b.String()
		}
		j := strings.IndexByte(step[i:], '}')
		if j < 0 {
			b.WriteString(step)
			return b.String()
		}
		b.WriteString(step[:i])
		b.WriteString(expandOne(step[i+1:i+j], st))
		step = step[i+j+1:]
	}
}

func expandOne(t string, st *state) string {
	name, arg, _ := strings.Cut(t, ":")
	switch name {
	case "k":
		return st.prefix
	case "nosync":
		return ""
	case "key":
		n := atoi(arg)
		if n < len(st.prefix) {
			return st.prefix[:n]
		}
		return st.prefix + strings.Repeat("x", n-len(st.prefix))
	case "b64":
		return base64.StdEncoding.EncodeToString([]byte(st.prefix + arg))
	case "casof":
		if v, ok := st.lastCAS[st.prefix+arg]; ok {
			return v
		}
		return unknownCAS
	case "bytes":
		n := atoi(arg)
		const pat = "0123456789"
		return strings.Repeat(pat, n/len(pat)+1)[:n]
	case "fill":
		ns, c, _ := strings.Cut(arg, ":")
		return strings.Repeat(c, atoi(ns))
	case "keys":
		n := atoi(arg)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = st.prefix + "m" + strconv.Itoa(i)
		}
		return strings.Join(parts, " ")
	}
	return "{" + t + "}" // not a template: left as written
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("textdiff: bad template number %q", s))
	}
	return n
}

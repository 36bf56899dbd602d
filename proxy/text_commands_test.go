package proxy

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/sim"
)

// textCase is one text-protocol exchange on a fresh connection: send is
// written followed by the barrier "mn", and the replies up to MN must be
// exactly want. "{k}" in both stands for a key prefix unique to the case and
// the run. run, when set, replaces send/want for exchanges that need values
// from earlier replies (CAS).
type textCase struct {
	name       string
	send, want string
	run        func(c *textClient, k string)
	// closes: the server closes the connection after want (send is
	// written without the barrier).
	closes bool
	// proxyOnly says why memcached itself answers differently (a meta flag
	// the proxy refuses, the proxy's own stats): the case is not checked
	// against memcached directly.
	proxyOnly string
}

// refused is the proxy's refusal of meta flag f.
func refused(f byte) string {
	return fmt.Sprintf("CLIENT_ERROR flag '%c' not supported by this proxy\r\n", f)
}

const refusedWhy = "the proxy refuses flags a Couchbase node cannot honour"

// textCases covers every classic command and every meta command with its
// flags: the accepted ones answered as memcached answers, the refused ones
// with an error naming the flag; noreply and quiet mode write nothing,
// errors included.
func textCases() []textCase {
	return []textCase{
		// Storage.
		{name: "set_get", send: "set {k}a 5 0 3\r\nabc\r\nget {k}a\r\n",
			want: "STORED\r\nVALUE {k}a 5 3\r\nabc\r\nEND\r\n"},
		{name: "set_empty_and_crlf_values", send: "set {k}a 0 0 0\r\n\r\nset {k}b 0 0 4\r\na\r\nb\r\nget {k}a {k}b\r\n",
			want: "STORED\r\nSTORED\r\nVALUE {k}a 0 0\r\n\r\nVALUE {k}b 0 4\r\na\r\nb\r\nEND\r\n"},
		{name: "set_flags_32_bits", send: "set {k}a 4294967295 0 1\r\nx\r\nget {k}a\r\n",
			want: "STORED\r\nVALUE {k}a 4294967295 1\r\nx\r\nEND\r\n"},
		{name: "add", send: "add {k}a 1 0 1\r\nx\r\nadd {k}a 2 0 1\r\ny\r\nget {k}a\r\n",
			want: "STORED\r\nNOT_STORED\r\nVALUE {k}a 1 1\r\nx\r\nEND\r\n"},
		{name: "replace", send: "replace {k}a 0 0 1\r\nx\r\nset {k}a 0 0 1\r\nx\r\nreplace {k}a 3 0 1\r\ny\r\nget {k}a\r\n",
			want: "NOT_STORED\r\nSTORED\r\nSTORED\r\nVALUE {k}a 3 1\r\ny\r\nEND\r\n"},
		{name: "append_prepend",
			send: "append {k}a 0 0 1\r\nx\r\nprepend {k}a 0 0 1\r\nx\r\nset {k}a 7 0 1\r\nm\r\n" +
				"append {k}a 99 0 2\r\nzz\r\nprepend {k}a 98 0 2\r\naa\r\nget {k}a\r\n",
			want: "NOT_STORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nVALUE {k}a 7 5\r\naamzz\r\nEND\r\n"},
		{name: "cas", run: func(c *textClient, k string) {
			c.do("cas "+k+"a 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n")
			c.set(k+"a", "x")
			_, cas, _ := c.gets(k + "a")
			c.do(fmt.Sprintf("cas %sa 4 0 1 %d\r\ny\r\ncas %sa 0 0 1 %d\r\nz\r\nget %sa\r\n", k, cas, k, cas, k),
				"STORED\r\nEXISTS\r\nVALUE "+k+"a 4 1\r\ny\r\nEND\r\n")
		}},
		{name: "cas_bad_unique", send: "cas {k}a 0 0 1 abc\r\nx\r\ncas {k}a 0 0 1\r\nx\r\n",
			want: "CLIENT_ERROR bad command line format\r\nERROR\r\nERROR\r\nERROR\r\n"},
		{name: "negative_exptime_expires", send: "set {k}a 0 -1 1\r\nx\r\nget {k}a\r\n", want: "STORED\r\nEND\r\n"},
		{name: "future_exptime_keeps", send: "set {k}a 0 1000 1\r\nx\r\nset {k}b 0 2000000000 1\r\ny\r\nget {k}a {k}b\r\n",
			want: "STORED\r\nSTORED\r\nVALUE {k}a 0 1\r\nx\r\nVALUE {k}b 0 1\r\ny\r\nEND\r\n"},
		{name: "bad_data_chunk", send: "set {k}a 0 0 2\r\nabcd\r\nget {k}a\r\n",
			want: "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"},
		{name: "bad_length_not_swallowed", send: "set {k}a 0 0 abc\r\nget {k}a\r\n",
			want: "CLIENT_ERROR bad command line format\r\nEND\r\n"},
		{name: "bad_flags_not_swallowed", send: "set {k}a abc 0 1\r\nx\r\nget {k}a\r\n",
			want: "CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\n"},

		// Retrieval.
		{name: "get_miss", send: "get {k}a\r\n", want: "END\r\n"},
		{name: "gets", run: func(c *textClient, k string) {
			c.set(k+"a", "x")
			v, cas, ok := c.gets(k + "a")
			if !ok || v != "x" || cas == 0 {
				c.t.Fatalf("gets: %q %d %v, want x with a CAS", v, cas, ok)
			}
			c.do("cas "+k+fmt.Sprintf("a 0 0 1 %d\r\ny\r\n", cas), "STORED\r\n")
			if _, cas2, _ := c.gets(k + "a"); cas2 == cas {
				c.t.Fatalf("gets after cas: CAS %d unchanged", cas2)
			}
		}},
		{name: "get_duplicates_and_misses", send: "set {k}a 1 0 1\r\nA\r\nset {k}b 2 0 2\r\nBB\r\nget {k}a {k}b {k}a {k}nope {k}a\r\n",
			want: "STORED\r\nSTORED\r\nVALUE {k}a 1 1\r\nA\r\nVALUE {k}b 2 2\r\nBB\r\nVALUE {k}a 1 1\r\nA\r\n" +
				"VALUE {k}a 1 1\r\nA\r\nEND\r\n"},
		{name: "bget_alias", send: "set {k}a 0 0 1\r\nx\r\nbget {k}a\r\n", want: "STORED\r\nVALUE {k}a 0 1\r\nx\r\nEND\r\n"},
		{name: "get_without_key", send: "get\r\n", want: "ERROR\r\n"},
		{name: "gat", send: "set {k}a 3 0 1\r\nx\r\ngat 100 {k}a {k}nope\r\ngat -1 {k}a\r\nget {k}a\r\n",
			want: "STORED\r\nVALUE {k}a 3 1\r\nx\r\nEND\r\nVALUE {k}a 3 1\r\nx\r\nEND\r\nEND\r\n"},
		{name: "gats", run: func(c *textClient, k string) {
			c.set(k+"a", "x")
			c.send("gats 100 " + k + "a " + k + "a\r\n")
			// Each key of the line is one GAT: Couchbase gives a touched item
			// a new CAS, memcached keeps it. Either way each VALUE line
			// carries the CAS after its touch, so the second one is what
			// gets says next.
			var cas [2]uint64
			for i := range cas {
				l := c.line()
				if _, err := fmt.Sscanf(l, "VALUE "+k+"a 0 1 %d\r\n", &cas[i]); err != nil || cas[i] == 0 {
					c.t.Fatalf("gats: line %q, want a VALUE with a CAS", l)
				}
				c.expect("x\r\n")
			}
			c.expect("END\r\n")
			if _, now, _ := c.gets(k + "a"); now != cas[1] {
				c.t.Fatalf("gets after gats: CAS %d, gats said %d", now, cas[1])
			}
		}},
		{name: "gat_bad_exptime", send: "gat abc {k}a\r\n", want: "CLIENT_ERROR invalid exptime argument\r\n"},
		{name: "touch", send: "touch {k}a 10\r\nset {k}a 0 0 1\r\nx\r\ntouch {k}a 10\r\ntouch {k}a abc\r\ntouch {k}a -1\r\nget {k}a\r\n",
			want: "NOT_FOUND\r\nSTORED\r\nTOUCHED\r\nCLIENT_ERROR invalid exptime argument\r\nTOUCHED\r\nEND\r\n"},

		// delete, incr, decr.
		{name: "delete", send: "delete {k}a\r\nset {k}a 0 0 1\r\nx\r\ndelete {k}a\r\nget {k}a\r\ndelete {k}a 0\r\n",
			want: "NOT_FOUND\r\nSTORED\r\nDELETED\r\nEND\r\nNOT_FOUND\r\n"},
		{name: "delete_usage", send: "delete {k}a 1\r\n",
			want: "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"},
		{name: "incr_decr", send: "set {k}n 0 0 2\r\n10\r\nincr {k}n 5\r\ndecr {k}n 20\r\nincr {k}n 18446744073709551615\r\n" +
			"incr {k}n 1\r\nincr {k}nope 1\r\ndecr {k}nope 1\r\n",
			want: "STORED\r\n15\r\n0\r\n18446744073709551615\r\n0\r\nNOT_FOUND\r\nNOT_FOUND\r\n"},
		{name: "incr_non_number", send: "set {k}s 0 0 3\r\nabc\r\nincr {k}s 1\r\ndecr {k}s 1\r\nincr {k}s abc\r\nget {k}s\r\n",
			want: "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n" +
				"CLIENT_ERROR cannot increment or decrement non-numeric value\r\nCLIENT_ERROR invalid numeric delta argument\r\n" +
				"VALUE {k}s 0 3\r\nabc\r\nEND\r\n"},

		// noreply: nothing at all is written once it parsed, errors included.
		{name: "noreply_everywhere",
			send: "set {k}a 0 0 1 noreply\r\nx\r\nadd {k}a 0 0 1 noreply\r\ny\r\nreplace {k}nope 0 0 1 noreply\r\ny\r\n" +
				"append {k}a 0 0 1 noreply\r\nz\r\nprepend {k}a 0 0 1 noreply\r\nw\r\ncas {k}a 0 0 1 1 noreply\r\nq\r\n" +
				"touch {k}a 0 noreply\r\nset {k}n 0 0 1 noreply\r\n5\r\nincr {k}n 2 noreply\r\ndecr {k}n 1 noreply\r\n" +
				"incr {k}a 1 noreply\r\nincr {k}nope 1 noreply\r\ndelete {k}nope noreply\r\nverbosity 1 noreply\r\n" +
				"set {k}b 0 0 2 noreply\r\nabcdget {k}a {k}n {k}b\r\ndelete {k}a noreply\r\nget {k}a\r\n",
			want: "VALUE {k}a 0 3\r\nwxz\r\nVALUE {k}n 0 1\r\n6\r\nEND\r\nEND\r\n"},

		// Other commands.
		{name: "version", send: "version\r\n", want: "VERSION " + DefaultVersion + "\r\n", proxyOnly: "the version string"},
		{name: "verbosity", send: "verbosity 1\r\nverbosity 0\r\n", want: "OK\r\nOK\r\n"},
		{name: "unknown_command", send: "foo\r\nGET {k}a\r\n", want: "ERROR\r\nERROR\r\n"},
		{name: "flush_all_refused", send: "set {k}a 0 0 1\r\nx\r\nflush_all\r\nflush_all noreply\r\nget {k}a\r\n",
			want: "STORED\r\nCLIENT_ERROR flush_all not allowed\r\nVALUE {k}a 0 1\r\nx\r\nEND\r\n", proxyOnly: "the proxy's flush policy"},
		{name: "bare_newlines", send: "set {k}a 0 0 3\nabc\r\nget {k}a\nmg {k}a v\ndelete {k}a\n",
			want: "STORED\r\nVALUE {k}a 0 3\r\nabc\r\nEND\r\nVA 3\r\nabc\r\nDELETED\r\n"},

		// Limits and framing.
		{name: "key_250_ok_251_refused", send: "set {key:250} 0 0 1\r\nx\r\nget {key:250}\r\nset {key:251} 0 0 1\r\nx\r\n" +
			"touch {key:251} 1\r\nmg {key:251} v\r\n",
			want: "STORED\r\nVALUE {key:250} 0 1\r\nx\r\nEND\r\nCLIENT_ERROR bad command line format\r\nERROR\r\n" +
				"CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n"},
		// First in its read: memcached also drops the unwritten replies of
		// the commands before it (internal/textdiff dropsPending).
		{name: "get_key_251_refused", send: "get {k}a {key:251}\r\n", want: "CLIENT_ERROR bad command line format\r\n"},
		{name: "get_line_over_2048_bytes", send: "set {k}m399 0 0 1\r\nz\r\nget {keys:400}\r\n",
			want: "STORED\r\nVALUE {k}m399 0 1\r\nz\r\nEND\r\n"},
		// A whole over-long line is parsed (key too long); 2048 bytes with no
		// end of line close the connection.
		{name: "long_line_refused", send: "delete " + strings.Repeat("x", 3000) + "\r\n", want: "CLIENT_ERROR bad command line format\r\n"},
		{name: "line_over_2048_bytes_closes", closes: true, send: "set {k}a 0 0 1\r\nx\r\nget {k}a\r\n" +
			"delete " + strings.Repeat("x", 3000),
			want: "STORED\r\nVALUE {k}a 0 1\r\nx\r\nEND\r\n"},
		{name: "quit", closes: true, send: "set {k}a 0 0 1\r\nx\r\nquit\r\nget {k}a\r\n", want: "STORED\r\n"},

		// mg.
		{name: "mg_flags", send: "mg {k}a v\r\nset {k}a 9 0 2\r\nhi\r\nmg {k}a v f s k Oop\r\nmg {k}a\r\nmg {k}a s v\r\nmg {k}a k q\r\n",
			want: "EN\r\nSTORED\r\nVA 2 f9 s2 k{k}a Oop\r\nhi\r\nHD\r\nVA 2 s2\r\nhi\r\nHD k{k}a\r\n"},
		{name: "mg_miss_opaque_key_quiet", send: "mg {k}nope v k O1\r\nmg {k}nope v q\r\nmg {k}nope q k O2\r\n",
			want: "EN k{k}nope O1\r\n"},
		{name: "mg_cas", run: func(c *textClient, k string) {
			c.set(k+"a", "x")
			_, cas, _ := c.gets(k + "a")
			c.do("mg "+k+"a c v\r\n", fmt.Sprintf("VA 1 c%d\r\nx\r\n", cas))
		}},
		{name: "mg_touch_and_ttl", send: "set {k}a 0 0 1\r\nx\r\nmg {k}a T30 v\r\nmg {k}a T30\r\nmg {k}a T-1 v\r\nmg {k}a v\r\n",
			want: "STORED\r\nVA 1\r\nx\r\nHD\r\nVA 1\r\nx\r\nEN\r\n"},
		{name: "mg_ttl_with_T", send: "set {k}a 0 0 1\r\nx\r\nmg {k}a T30 t v\r\n", want: "STORED\r\nVA 1 t30\r\nx\r\n"},
		{name: "mg_base64", send: "set {k}bin 0 0 1\r\nx\r\nmg {b64:bin} b v k\r\n", want: "STORED\r\nVA 1 k{b64:bin} b\r\nx\r\n",
			proxyOnly: "memcached re-encodes k only for a key stored with b; the binary protocol does not carry that"},
		{name: "mg_ignored_flags", send: "set {k}a 0 0 1\r\nx\r\nmg {k}a u v\r\nmg {k}a P L v\r\n",
			want: "STORED\r\nVA 1\r\nx\r\nVA 1\r\nx\r\n"},
		{name: "mg_errors", send: "mg {k}a z\r\nmg {k}a v v\r\nmg {k}a O" + strings.Repeat("x", 33) + "\r\nmg {k}a Tx\r\nmg\r\n",
			want: "CLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\nCLIENT_ERROR opaque token too long\r\n" +
				"CLIENT_ERROR bad token in command line format\r\nERROR\r\n"},
		{name: "mg_refused_flags", proxyOnly: refusedWhy,
			send: "set {k}a 0 0 1\r\nx\r\nmg {k}a h v\r\nmg {k}a l v\r\nmg {k}a N30 v\r\nmg {k}a R30 v\r\nmg {k}a E5 v\r\nmg {k}a t v\r\nmg {k}a q h\r\n",
			want: "STORED\r\n" + refused('h') + refused('l') + refused('N') + refused('R') + refused('E') + refused('t') + refused('h')},

		// ms.
		{name: "ms_modes", send: "ms {k}a 1 ME\r\nx\r\nms {k}a 1 ME\r\ny\r\nms {k}b 1 MR\r\nx\r\nms {k}b 1 MA\r\nx\r\n" +
			"ms {k}a 1 MA\r\nz\r\nms {k}a 1 MP\r\nw\r\nms {k}a 2 MS F9 T0\r\nss\r\nmg {k}a v f\r\n",
			want: "HD\r\nNS\r\nNS\r\nNS\r\nHD\r\nHD\r\nHD\r\nVA 2 f9\r\nss\r\n"},
		{name: "ms_return_flags_and_quiet", send: "ms {k}a 2 k O7 q\r\nhi\r\nms {k}a 2 k O8\r\nhi\r\nms {k}a 2 ME q k\r\nhi\r\nms {k}a 2 s\r\nhi\r\n",
			want:      "HD k{k}a O8\r\nNS k{k}a\r\nHD s2\r\n",
			proxyOnly: "ms s returns the stored size as in memcached 1.6.40 (1.6.18 ignores it)"},
		{name: "ms_cas", run: func(c *textClient, k string) {
			c.do("ms "+k+"a 1\r\nx\r\n", "HD\r\n")
			_, cas, _ := c.gets(k + "a")
			c.do(fmt.Sprintf("ms %sa 1 C%d\r\ny\r\nms %sa 1 C%d\r\nz\r\nms %snope 1 C5\r\nz\r\nmg %sa v\r\n", k, cas, k, cas, k, k),
				"HD\r\nEX\r\nNF\r\nVA 1\r\ny\r\n")
		}},
		{name: "ms_errors", send: "ms {k}a 1 MX\r\nx\r\nms {k}a\r\nms {k}a 2 z\r\nhi\r\nms {k}a 2 q\r\nabcdmg {k}a v\r\n",
			want: "CLIENT_ERROR invalid mode for ms M token\r\nCLIENT_ERROR bad command line format\r\nCLIENT_ERROR invalid flag\r\n" +
				"CLIENT_ERROR bad data chunk\r\nEN\r\n"},
		{name: "ms_base64", send: "ms {b64:bin} 1 b k\r\nx\r\nget {k}bin\r\n", want: "HD k{b64:bin} b\r\nVALUE {k}bin 0 1\r\nx\r\nEND\r\n"},
		{name: "ms_refused_flags", proxyOnly: refusedWhy,
			send: "ms {k}a 1 I\r\nx\r\nms {k}a 1 E5\r\nx\r\nms {k}a 1 N30 MA\r\nx\r\nms {k}a 1 s MA\r\nx\r\nmg {k}a v\r\n",
			want: refused('I') + refused('E') + refused('N') + refused('s') + "EN\r\n"},

		// md.
		{name: "md_flags", send: "md {k}a\r\nset {k}a 0 0 1\r\nx\r\nmd {k}a k Oz\r\nmd {k}a k Oz\r\nset {k}a 0 0 1\r\nx\r\nmd {k}a q\r\nmd {k}a q\r\n",
			want: "NF\r\nSTORED\r\nHD k{k}a Oz\r\nNF k{k}a Oz\r\nSTORED\r\nNF\r\n"},
		{name: "md_cas", run: func(c *textClient, k string) {
			c.set(k+"a", "x")
			_, cas, _ := c.gets(k + "a")
			c.do(fmt.Sprintf("md %sa C%d\r\nmd %sa C%d\r\nget %sa\r\n", k, cas+1, k, cas, k), "EX\r\nHD\r\nEND\r\n")
		}},
		{name: "md_refused_flags", proxyOnly: refusedWhy,
			send: "set {k}a 0 0 1\r\nx\r\nmd {k}a I\r\nmd {k}a x\r\nmd {k}a E5\r\nget {k}a\r\n",
			want: "STORED\r\n" + refused('I') + refused('x') + refused('E') + "VALUE {k}a 0 1\r\nx\r\nEND\r\n"},

		// ma.
		{name: "ma_modes", send: "set {k}n 0 0 1\r\n5\r\nma {k}n\r\nma {k}n v\r\nma {k}n MD D3 v\r\nma {k}n M- v\r\nma {k}n M+ D10 v\r\n" +
			"ma {k}n MI v k O1\r\nma {k}n MD D100 v\r\nma {k}n q\r\nma {k}n v\r\n",
			want: "STORED\r\nHD\r\nVA 1\r\n7\r\nVA 1\r\n4\r\nVA 1\r\n3\r\nVA 2\r\n13\r\nVA 2 k{k}n O1\r\n14\r\nVA 1\r\n0\r\nVA 1\r\n2\r\n"},
		{name: "ma_miss_and_vivify", send: "ma {k}m\r\nma {k}m q\r\nma {k}m N0 J10 v\r\nma {k}m v\r\n",
			want: "NF\r\nNF\r\nVA 2\r\n10\r\nVA 2\r\n11\r\n"},
		{name: "ma_non_number_and_errors", send: "set {k}s 0 0 3\r\nabc\r\nma {k}s\r\nma {k}s MX\r\nma {k}s Dabc\r\nma {k}s Jabc\r\n",
			want: "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nCLIENT_ERROR invalid mode for ma M token\r\n" +
				"CLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR invalid or duplicate flag\r\n"},
		{name: "ma_refused_flags", proxyOnly: refusedWhy,
			send: "set {k}n 0 0 1\r\n1\r\nma {k}n C1\r\nma {k}n T30\r\nma {k}n t\r\nma {k}n E5\r\nget {k}n\r\n",
			want: "STORED\r\n" + refused('C') + refused('T') + refused('t') + refused('E') + "VALUE {k}n 0 1\r\n1\r\nEND\r\n"},

		// mn and me.
		{name: "mn_after_quiet_pipeline", send: "set {k}a 0 0 1\r\nx\r\nmg {k}a q v\r\nmg {k}b q v\r\nms {k}c 1 q\r\nx\r\nmd {k}nope q\r\n" +
			"ma {k}nope q\r\nmd {k}c q\r\nmn\r\n",
			want: "STORED\r\nVA 1\r\nx\r\nNF\r\nNF\r\nMN\r\n"},
		{name: "me_refused", send: "me {k}a\r\n", want: "CLIENT_ERROR command 'me' not supported by this proxy\r\n",
			proxyOnly: "the proxy has no item debug data"},
	}
}

// expandCase fills in a case's templates for key prefix k: {k}, {b64:S}
// (base64 of k+S), {key:N} (a key of N bytes) and {keys:N} (N keys k+"m0"
// ... k+"m<N-1>").
func expandCase(s, k string) string {
	s = expandNum(s, "{key:", func(n int) string { return k + strings.Repeat("x", n-len(k)) })
	s = expandNum(s, "{keys:", func(n int) string {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("%sm%d", k, i)
		}
		return strings.Join(keys, " ")
	})
	for {
		i := strings.Index(s, "{b64:")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		s = s[:i] + base64.StdEncoding.EncodeToString([]byte(k+s[i+5:i+j])) + s[i+j+1:]
	}
	return strings.ReplaceAll(s, "{k}", k)
}

// runTextCases runs every case on its own connection to addr.
func runTextCases(t *testing.T, addr string, direct bool) {
	run := fmt.Sprintf("tc%d_", textRun.Add(1))
	for i, tc := range textCases() {
		t.Run(tc.name, func(t *testing.T) {
			if direct && tc.proxyOnly != "" {
				t.Skipf("not what memcached answers: %s", tc.proxyOnly)
			}
			c := dialText(t, addr)
			k := fmt.Sprintf("%s%d_", run, i)
			if tc.run != nil {
				tc.run(c, k)
				return
			}
			if tc.closes {
				c.send(expandCase(tc.send, k))
				c.expectClosed(expandCase(tc.want, k))
				return
			}
			c.do(expandCase(tc.send, k), expandCase(tc.want, k))
		})
	}
}

// TestTextCommandsMemcached runs the command table through the proxy over
// three real memcached servers.
func TestTextCommandsMemcached(t *testing.T) {
	_, addr, _, _ := memcachedCluster(t, 3, Options{})
	runTextCases(t, addr, false)
}

// TestTextCommandsSim runs the command table through the proxy over the
// three-node simulated Couchbase cluster.
func TestTextCommandsSim(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	runTextCases(t, addr, false)
}

// TestTextCommandsAreMemcached checks the table's expectations against a
// real memcached, so that they are memcached's own answers (the cases the
// proxy answers differently by design are skipped, with the reason).
func TestTextCommandsAreMemcached(t *testing.T) {
	runTextCases(t, mctest.Start(t), true)
}

// expandNum replaces every {name:N} template (open is "{name:") by fn(N).
func expandNum(s, open string, fn func(n int) string) string {
	for {
		i := strings.Index(s, open)
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], '}')
		n, err := strconv.Atoi(s[i+len(open) : i+j])
		if err != nil {
			panic("bad template in " + s[i:i+j+1])
		}
		s = s[:i] + fn(n) + s[i+j+1:]
	}
}

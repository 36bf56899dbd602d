package memcached

import (
	"strings"
	"testing"
)

// TestParseMetaErrors covers every meta parse error memcached 1.6.18
// answers, in its order of checks, whether it swallows an ms data block,
// and the flags the proxy refuses (named in the error).
func TestParseMetaErrors(t *testing.T) {
	long := strings.Repeat("k", 251)
	flags20 := strings.Repeat(" v", 18) // mg key + 18 flags = 20 tokens
	opaque33 := " O" + strings.Repeat("x", 32)
	for _, tc := range []struct {
		name, line string
		reply      string // "" = parses
		swallow    bool
		dataLen    int
	}{
		{"mg alone", "mg", "ERROR\r\n", false, 0},
		{"mg key too long", "mg " + long + " v", "CLIENT_ERROR bad command line format\r\n", false, 0},
		{"mg 20 tokens", "mg k" + flags20, "CLIENT_ERROR options flags are too long\r\n", false, 0},
		{"mg 19 tokens", "mg k v f c s k Oo q u P L I F0 MS J0 D1 T0 t", "", false, 0},
		{"mg duplicate", "mg k v v", "CLIENT_ERROR duplicate flag\r\n", false, 0},
		{"mg byte >= 127 counts as duplicate", "mg k \x7f", "CLIENT_ERROR duplicate flag\r\n", false, 0},
		{"mg unknown flag", "mg k z", "CLIENT_ERROR invalid flag\r\n", false, 0},
		{"mg noreply is flag n", "mg k noreply", "CLIENT_ERROR invalid flag\r\n", false, 0},
		{"mg x is only md's", "mg k x", "CLIENT_ERROR invalid flag\r\n", false, 0},
		{"mg bad T", "mg k Tabc", "CLIENT_ERROR bad token in command line format\r\n", false, 0},
		{"mg empty T", "mg k T", "CLIENT_ERROR bad token in command line format\r\n", false, 0},
		{"mg bad token then unknown flag", "mg k Tx z", "CLIENT_ERROR invalid flag\r\n", false, 0},
		{"mg last bad token wins", "mg k Tx Jx", "CLIENT_ERROR invalid numeric initial value\r\n", false, 0},
		{"mg bad D", "mg k Dx", "CLIENT_ERROR invalid numeric delta value\r\n", false, 0},
		{"mg bad F keeps default error", "mg k Fx", "CLIENT_ERROR bad command line format\r\n", false, 0},
		{"mg bad C", "mg k C-1", "CLIENT_ERROR bad token in command line format\r\n", false, 0},
		{"mg M length", "mg k Mxx", "CLIENT_ERROR incorrect length for M token\r\n", false, 0},
		{"mg base64 undecodable", "mg Zm9 b v", "CLIENT_ERROR error decoding key\r\n", false, 0},
		{"mg refuses h", "mg k h", "CLIENT_ERROR flag 'h' not supported by this proxy\r\n", false, 0},
		{"mg refuses l", "mg k v l", "CLIENT_ERROR flag 'l' not supported by this proxy\r\n", false, 0},
		{"mg refuses N", "mg k N30", "CLIENT_ERROR flag 'N' not supported by this proxy\r\n", false, 0},
		{"mg refuses R", "mg k R30", "CLIENT_ERROR flag 'R' not supported by this proxy\r\n", false, 0},
		{"mg refuses E", "mg k E5", "CLIENT_ERROR flag 'E' not supported by this proxy\r\n", false, 0},
		{"mg bad E token", "mg k Ex", "CLIENT_ERROR bad token in command line format\r\n", false, 0},
		{"mg refuses t without T", "mg k t v", "CLIENT_ERROR flag 't' not supported by this proxy\r\n", false, 0},
		{"mg refuses t with absolute T", "mg k T2592001 t", "CLIENT_ERROR flag 't' not supported by this proxy\r\n", false, 0},
		{"mg refuses t with negative T", "mg k T-1 t", "CLIENT_ERROR flag 't' not supported by this proxy\r\n", false, 0},
		{"mg opaque 33 parses (error at reply)", "mg k v" + opaque33, "", false, 0},

		{"ms alone", "ms", "ERROR\r\n", false, 0},
		{"ms no length", "ms k", "CLIENT_ERROR bad command line format\r\n", false, 0},
		{"ms key too long before length", "ms " + long + " 5", "CLIENT_ERROR bad command line format\r\n", false, 0},
		{"ms bad length", "ms k x", "CLIENT_ERROR bad command line format\r\n", false, 0},
		{"ms negative length", "ms k -1", "CLIENT_ERROR bad command line format\r\n", false, 0},
		{"ms 20 tokens not swallowed", "ms k 1" + strings.Repeat(" v", 17), "CLIENT_ERROR options flags too long\r\n", false, 0},
		{"ms invalid flag swallows", "ms k 5 z", "CLIENT_ERROR invalid flag\r\n", true, 7},
		{"ms duplicate swallows", "ms k 5 q q", "CLIENT_ERROR duplicate flag\r\n", true, 7},
		{"ms bad T swallows", "ms k 5 Tx", "CLIENT_ERROR bad token in command line format\r\n", true, 7},
		{"ms bad F swallows", "ms k 5 Fx", "CLIENT_ERROR bad command line format\r\n", true, 7},
		{"ms base64 swallows", "ms !!!! 5 b", "CLIENT_ERROR error decoding key\r\n", true, 7},
		{"ms opaque too long swallows", "ms k 5" + opaque33, "CLIENT_ERROR opaque token too long\r\n", true, 7},
		{"ms invalid mode swallows", "ms k 5 MX", "CLIENT_ERROR invalid mode for ms M token\r\n", true, 7},
		{"ms lower-case mode", "ms k 5 Ms", "CLIENT_ERROR invalid mode for ms M token\r\n", true, 7},
		{"ms mode error before opaque error", "ms k 5 MX" + opaque33, "CLIENT_ERROR invalid mode for ms M token\r\n", true, 7},
		{"ms M length swallows", "ms k 5 Mxx", "CLIENT_ERROR incorrect length for M token\r\n", true, 7},
		{"ms refuses I", "ms k 5 I", "CLIENT_ERROR flag 'I' not supported by this proxy\r\n", true, 7},
		{"ms refuses E", "ms k 5 E9", "CLIENT_ERROR flag 'E' not supported by this proxy\r\n", true, 7},
		{"ms refuses N", "ms k 5 N9 MA", "CLIENT_ERROR flag 'N' not supported by this proxy\r\n", true, 7},
		{"ms refuses s on append", "ms k 5 s MA", "CLIENT_ERROR flag 's' not supported by this proxy\r\n", true, 7},
		{"ms refuses s on prepend", "ms k 5 MP s", "CLIENT_ERROR flag 's' not supported by this proxy\r\n", true, 7},
		{"ms too large swallows and unlinks", "ms k 11", "SERVER_ERROR object too large for cache\r\n", true, 13},

		{"md key too long", "md " + long, "CLIENT_ERROR bad command line format\r\n", false, 0},
		{"md 20 tokens", "md k" + flags20, "CLIENT_ERROR options flags too long\r\n", false, 0},
		{"md any flag error", "md k z", "CLIENT_ERROR invalid or duplicate flag\r\n", false, 0},
		{"md bad C", "md k Cx", "CLIENT_ERROR invalid or duplicate flag\r\n", false, 0},
		{"md opaque", "md k" + opaque33, "CLIENT_ERROR opaque token too long\r\n", false, 0},
		{"md refuses I", "md k I", "CLIENT_ERROR flag 'I' not supported by this proxy\r\n", false, 0},
		{"md refuses x", "md k x", "CLIENT_ERROR flag 'x' not supported by this proxy\r\n", false, 0},
		{"md refuses E", "md k E1", "CLIENT_ERROR flag 'E' not supported by this proxy\r\n", false, 0},
		{"md T without I is accepted", "md k T30", "", false, 0},

		{"ma 20 tokens", "ma k" + flags20, "CLIENT_ERROR options flags too long\r\n", false, 0},
		{"ma any flag error", "ma k Dx", "CLIENT_ERROR invalid or duplicate flag\r\n", false, 0},
		{"ma M length", "ma k Mxx", "CLIENT_ERROR invalid or duplicate flag\r\n", false, 0},
		{"ma invalid mode", "ma k MX", "CLIENT_ERROR invalid mode for ma M token\r\n", false, 0},
		{"ma refuses C", "ma k C5", "CLIENT_ERROR flag 'C' not supported by this proxy\r\n", false, 0},
		{"ma refuses T", "ma k T5", "CLIENT_ERROR flag 'T' not supported by this proxy\r\n", false, 0},
		{"ma refuses t", "ma k t", "CLIENT_ERROR flag 't' not supported by this proxy\r\n", false, 0},
		{"ma refuses E", "ma k E5", "CLIENT_ERROR flag 'E' not supported by this proxy\r\n", false, 0},
		{"ma opaque 33 parses (applied, error at reply)", "ma k" + opaque33, "", false, 0},

		{"me refused", "me k", "CLIENT_ERROR command 'me' not supported by this proxy\r\n", false, 0},
		{"mn with junk", "mn a b c", "", false, 0},
	} {
		var req TextRequest
		err := ParseText([]byte(tc.line), 10, &req)
		switch {
		case tc.reply == "" && err != nil:
			t.Errorf("%s: ParseText(%q) = %q, want success", tc.name, tc.line, err.Reply)
		case tc.reply != "" && err == nil:
			t.Errorf("%s: ParseText(%q) succeeded, want %q", tc.name, tc.line, tc.reply)
		case err != nil && (err.Reply != tc.reply || err.Swallow != tc.swallow || err.Close):
			t.Errorf("%s: ParseText(%q) = %q swallow %v close %v, want %q swallow %v",
				tc.name, tc.line, err.Reply, err.Swallow, err.Close, tc.reply, tc.swallow)
		}
		if err != nil && err.Swallow && req.DataLen != tc.dataLen {
			t.Errorf("%s: DataLen = %d, want %d", tc.name, req.DataLen, tc.dataLen)
		}
		if err != nil && req.NoReply {
			t.Errorf("%s: a meta command set NoReply", tc.name)
		}
	}
}

// TestParseMetaTranslation pins how accepted meta commands map onto binary
// requests.
func TestParseMetaTranslation(t *testing.T) {
	for _, tc := range []struct {
		line    string
		op      Opcode
		kind    replyKind
		key     string
		exptime uint32
		flags   uint32
		cas     uint64
		delta   uint64
		initial uint64
		dataLen int
	}{
		{line: "mg k v", op: OpGet, key: "k"},
		{line: "mg k T30 v", op: OpGAT, key: "k", exptime: 30},
		{line: "mg k T30 f", op: OpGAT, key: "k", exptime: 30},
		{line: "mg k T30 s", op: OpGAT, key: "k", exptime: 30},
		{line: "mg k T30 c k", op: OpTouch, key: "k", exptime: 30},
		{line: "mg k T-1", op: OpTouch, key: "k", exptime: 2592001},
		{line: "mg k C77 v", op: OpGet, kind: replyCompare, key: "k", cas: 77},
		{line: "mg Zm9v b v", op: OpGet, key: "foo"},
		{line: "mg Zm9v!! b v", op: OpGet, key: "foo"},
		{line: "ms k 3", op: OpSet, key: "k", dataLen: 5},
		{line: "ms k 3 F9 T60", op: OpSet, key: "k", flags: 9, exptime: 60, dataLen: 5},
		{line: "ms k 3 T-1", op: OpSet, key: "k", exptime: 2592001, dataLen: 5},
		{line: "ms k 3 C5", op: OpSet, key: "k", cas: 5, dataLen: 5},
		{line: "ms k 3 C0", op: OpGet, kind: replyProbe, key: "k", dataLen: 5},
		{line: "ms k 3 C0 MR", op: OpGet, kind: replyProbe, key: "k", dataLen: 5},
		{line: "ms k 3 C0 MA", op: OpAppend, key: "k", dataLen: 5},
		{line: "ms k 3 C5 ME", op: OpAdd, key: "k", dataLen: 5},
		{line: "ms k 3 MS", op: OpSet, key: "k", dataLen: 5},
		{line: "ms k 3 ME", op: OpAdd, key: "k", dataLen: 5},
		{line: "ms k 3 MA C9", op: OpAppend, key: "k", cas: 9, dataLen: 5},
		{line: "ms k 3 MP", op: OpPrepend, key: "k", dataLen: 5},
		{line: "ms k 3 MR", op: OpReplace, key: "k", dataLen: 5},
		{line: "ms k 3 s", op: OpSet, key: "k", dataLen: 5},
		{line: "md k", op: OpDelete, key: "k"},
		{line: "md k C9", op: OpDelete, key: "k", cas: 9},
		{line: "md k C0", op: OpGet, kind: replyProbe, key: "k"},
		{line: "ma k", op: OpIncrement, key: "k", exptime: 0xffffffff, delta: 1},
		{line: "ma k MD D5", op: OpDecrement, key: "k", exptime: 0xffffffff, delta: 5},
		{line: "ma k M- N0 J7", op: OpDecrement, key: "k", delta: 1, initial: 7},
		{line: "ma k M+ N60", op: OpIncrement, key: "k", exptime: 60, delta: 1},
		{line: "ma k MI N-1", op: OpIncrement, key: "k", exptime: 2592001, delta: 1},
	} {
		var req TextRequest
		if err := ParseText([]byte(tc.line), 10, &req); err != nil {
			t.Errorf("ParseText(%q) = %q", tc.line, err.Reply)
			continue
		}
		if req.Opcode() != tc.op || req.kind != tc.kind || string(req.Key) != tc.key || req.Exptime != tc.exptime ||
			req.Flags != tc.flags || req.CAS != tc.cas || req.Delta != tc.delta || req.Initial != tc.initial || req.DataLen != tc.dataLen {
			t.Errorf("ParseText(%q) = op %v kind %d key %q exp %d flags %d cas %d delta %d initial %d datalen %d, want %v %d %q %d %d %d %d %d %d",
				tc.line, req.Opcode(), req.kind, req.Key, req.Exptime, req.Flags, req.CAS, req.Delta, req.Initial, req.DataLen,
				tc.op, tc.kind, tc.key, tc.exptime, tc.flags, tc.cas, tc.delta, tc.initial, tc.dataLen)
		}
	}
}

// TestParseMetaFlags pins the exported meta flags and the return flag order.
func TestParseMetaFlags(t *testing.T) {
	var req TextRequest
	if err := ParseText([]byte("mg Zm9v b q v Oop1 k s c f T5 t u"), 0, &req); err != nil {
		t.Fatal(err)
	}
	m := &req.Meta
	if !m.Quiet || !m.Base64 || !m.Value || !m.HasTTL || m.TTL != 5 || string(m.Opaque) != "Oop1" || m.HasCAS {
		t.Errorf("meta flags = %+v", *m)
	}
	if got := string(m.ret[:m.nret]); got != "Okscft" {
		t.Errorf("return flags = %q, want Okscft", got)
	}
	if !m.Has('u') || m.Has('h') || m.Has(200) {
		t.Error("Has")
	}
}

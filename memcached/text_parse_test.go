package memcached

import (
	"strings"
	"testing"
)

// parseWant is what a parse must produce; zero fields are checked too
// (a field that must be 0 is 0 in the fixture).
type parseWant struct {
	err     *TextError
	cmd     TextCmd
	key     string
	numKeys int
	flags   uint32
	exptime uint32
	dataLen int
	cas     uint64
	delta   uint64
	noreply bool
	op      Opcode
}

func checkParse(t *testing.T, name, line string, maxValue int, w parseWant) {
	t.Helper()
	var req TextRequest
	err := ParseText([]byte(line), maxValue, &req)
	if err != w.err {
		t.Errorf("%s: ParseText(%q) error = %v, want %v", name, line, err, w.err)
		return
	}
	if req.Cmd != w.cmd || string(req.Key) != w.key || req.NumKeys != w.numKeys || req.NoReply != w.noreply {
		t.Errorf("%s: ParseText(%q) = cmd %v key %q keys %d noreply %v, want %v %q %d %v",
			name, line, req.Cmd, req.Key, req.NumKeys, req.NoReply, w.cmd, w.key, w.numKeys, w.noreply)
	}
	if req.Flags != w.flags || req.Exptime != w.exptime || req.DataLen != w.dataLen || req.CAS != w.cas || req.Delta != w.delta {
		t.Errorf("%s: ParseText(%q) = flags %d exptime %d datalen %d cas %d delta %d, want %d %d %d %d %d",
			name, line, req.Flags, req.Exptime, req.DataLen, req.CAS, req.Delta, w.flags, w.exptime, w.dataLen, w.cas, w.delta)
	}
	if err == nil && req.Opcode() != w.op {
		t.Errorf("%s: ParseText(%q) opcode = %v, want %v", name, line, req.Opcode(), w.op)
	}
}

// TestParseTextClassic covers every classic command, its token-count rule,
// its numeric fields and the order of its checks (memcached 1.6.18-1.6.39).
func TestParseTextClassic(t *testing.T) {
	long := strings.Repeat("k", 251)
	for _, tc := range []struct {
		name, line string
		want       parseWant
	}{
		// storage: set <key> <flags> <exptime> <bytes> [noreply]
		{"set", "set foo 5 100 3", parseWant{cmd: TextSet, key: "foo", numKeys: 1, flags: 5, exptime: 100, dataLen: 5, op: OpSet}},
		{"set noreply", "set foo 0 0 3 noreply", parseWant{cmd: TextSet, key: "foo", numKeys: 1, dataLen: 5, noreply: true, op: OpSet}},
		{"set extra token ignored", "set foo 0 0 3 junk", parseWant{cmd: TextSet, key: "foo", numKeys: 1, dataLen: 5, op: OpSet}},
		{"set repeated spaces", "set  foo   1  2   3 ", parseWant{cmd: TextSet, key: "foo", numKeys: 1, flags: 1, exptime: 2, dataLen: 5, op: OpSet}},
		{"set negative exptime -> 2592001", "set foo 0 -1 3", parseWant{cmd: TextSet, key: "foo", numKeys: 1, exptime: 2592001, dataLen: 5, op: OpSet}},
		{"set exptime int32 wrap", "set foo 0 4294967297 3", parseWant{cmd: TextSet, key: "foo", numKeys: 1, exptime: 1, dataLen: 5, op: OpSet}},
		{"set flags u32 wrap", "set foo 4294967296 0 1", parseWant{cmd: TextSet, key: "foo", numKeys: 1, dataLen: 3, op: OpSet}},
		{"set flags max", "set foo 4294967295 0 1", parseWant{cmd: TextSet, key: "foo", numKeys: 1, flags: 4294967295, dataLen: 3, op: OpSet}},
		{"set flags with + and tab suffix", "set foo +7\tx 0 1", parseWant{cmd: TextSet, key: "foo", numKeys: 1, flags: 7, dataLen: 3, op: OpSet}},
		{"set length wraps 32 bits", "set foo 0 0 4294967297", parseWant{cmd: TextSet, key: "foo", numKeys: 1, dataLen: 3, op: OpSet}},
		{"set zero length", "set foo 0 0 0", parseWant{cmd: TextSet, key: "foo", numKeys: 1, dataLen: 2, op: OpSet}},
		{"set too few tokens", "set foo 0 0", parseWant{err: ErrTextError, cmd: TextSet}},
		{"set too many tokens", "set foo 0 0 1 noreply x", parseWant{err: ErrTextError, cmd: TextSet}},
		{"set key 251", "set " + long + " 0 0 1", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: long, numKeys: 1}},
		{"set key 251 noreply", "set " + long + " 0 0 1 noreply", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: long, numKeys: 1, noreply: true}},
		{"set bad flags", "set foo x 0 1", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: "foo", numKeys: 1}},
		{"set negative flags", "set foo -1 0 1", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: "foo", numKeys: 1}},
		{"set bad exptime", "set foo 0 1x 1", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: "foo", numKeys: 1}},
		{"set bad length", "set foo 0 0 x", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: "foo", numKeys: 1}},
		{"set negative length", "set foo 0 0 -1", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: "foo", numKeys: 1}},
		{"set length INT_MAX-1", "set foo 0 0 2147483646", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: "foo", numKeys: 1}},
		{"set noreply in length position", "set foo 0 0 noreply", parseWant{err: ErrTextBadFormat, cmd: TextSet, key: "foo", numKeys: 1, noreply: true}},
		{"set too large unlinks", "set foo 0 0 11", parseWant{err: ErrTextTooLargeSet, cmd: TextSet, key: "foo", numKeys: 1, dataLen: 13}},
		{"add too large", "add foo 0 0 11", parseWant{err: ErrTextTooLarge, cmd: TextAdd, key: "foo", numKeys: 1, dataLen: 13}},
		{"add", "add foo 1 2 3", parseWant{cmd: TextAdd, key: "foo", numKeys: 1, flags: 1, exptime: 2, dataLen: 5, op: OpAdd}},
		{"replace", "replace foo 0 0 3", parseWant{cmd: TextReplace, key: "foo", numKeys: 1, dataLen: 5, op: OpReplace}},
		{"append", "append foo 0 0 3", parseWant{cmd: TextAppend, key: "foo", numKeys: 1, dataLen: 5, op: OpAppend}},
		{"prepend", "prepend foo 9 9 3", parseWant{cmd: TextPrepend, key: "foo", numKeys: 1, flags: 9, exptime: 9, dataLen: 5, op: OpPrepend}},
		{"cas", "cas foo 0 0 3 12345", parseWant{cmd: TextCas, key: "foo", numKeys: 1, dataLen: 5, cas: 12345, op: OpSet}},
		{"cas noreply", "cas foo 0 0 3 12345 noreply", parseWant{cmd: TextCas, key: "foo", numKeys: 1, dataLen: 5, cas: 12345, noreply: true, op: OpSet}},
		{"cas zero probes with GET", "cas foo 0 0 3 0", parseWant{cmd: TextCas, key: "foo", numKeys: 1, dataLen: 5, op: OpGet}},
		{"cas bad unique", "cas foo 0 0 3 x", parseWant{err: ErrTextBadFormat, cmd: TextCas, key: "foo", numKeys: 1}},
		{"cas noreply as unique", "cas foo 0 0 3 noreply", parseWant{err: ErrTextBadFormat, cmd: TextCas, key: "foo", numKeys: 1, noreply: true}},
		{"cas missing unique", "cas foo 0 0 3", parseWant{err: ErrTextError, cmd: TextCas}},
		// retrieval
		{"get", "get foo", parseWant{cmd: TextGet, key: "foo", numKeys: 1, op: OpGet}},
		{"get multi with duplicates", "get a b a  c ", parseWant{cmd: TextGet, key: "a", numKeys: 4, op: OpGet}},
		{"gets", "gets a b", parseWant{cmd: TextGets, key: "a", numKeys: 2, op: OpGet}},
		{"bget", "bget a", parseWant{cmd: TextGet, key: "a", numKeys: 1, op: OpGet}},
		{"get no key", "get", parseWant{err: ErrTextError}},
		{"get key 251", "get a " + long + " b", parseWant{err: ErrTextBadFormat, cmd: TextGet, key: "a", numKeys: 1}},
		{"gat", "gat 10 a b", parseWant{cmd: TextGat, key: "a", numKeys: 2, exptime: 10, op: OpGAT}},
		{"gats negative", "gats -5 a", parseWant{cmd: TextGats, key: "a", numKeys: 1, exptime: 2592001, op: OpGAT}},
		{"gat no key", "gat 10", parseWant{cmd: TextGat, exptime: 10, op: OpGAT}},
		{"gat bad exptime", "gat x a", parseWant{err: ErrTextBadExptime, cmd: TextGat}},
		{"gat alone", "gat", parseWant{err: ErrTextError}},
		{"get HTTP version is a key", "get / HTTP/1.1", parseWant{cmd: TextGet, key: "/", numKeys: 2, op: OpGet}},
		// delete
		{"delete", "delete foo", parseWant{cmd: TextDelete, key: "foo", numKeys: 1, op: OpDelete}},
		{"delete noreply", "delete foo noreply", parseWant{cmd: TextDelete, key: "foo", numKeys: 1, noreply: true, op: OpDelete}},
		{"delete legacy 0", "delete foo 0", parseWant{cmd: TextDelete, key: "foo", numKeys: 1, op: OpDelete}},
		{"delete legacy 0 noreply", "delete foo 0 noreply", parseWant{cmd: TextDelete, key: "foo", numKeys: 1, noreply: true, op: OpDelete}},
		{"delete bad hold", "delete foo 1", parseWant{err: ErrTextDeleteUsage, cmd: TextDelete}},
		{"delete bad hold noreply", "delete foo 1 noreply", parseWant{err: ErrTextDeleteUsage, cmd: TextDelete, noreply: true}},
		{"delete noreply first", "delete foo noreply 0", parseWant{err: ErrTextDeleteUsage, cmd: TextDelete}},
		{"delete too many", "delete foo 0 noreply x", parseWant{err: ErrTextError, cmd: TextDelete}},
		{"delete key 251", "delete " + long, parseWant{err: ErrTextBadFormat, cmd: TextDelete, key: long, numKeys: 1}},
		// incr/decr: expiry 0xffffffff never creates
		{"incr", "incr n 5", parseWant{cmd: TextIncr, key: "n", numKeys: 1, delta: 5, exptime: 0xffffffff, op: OpIncrement}},
		{"decr noreply", "decr n 18446744073709551615 noreply", parseWant{cmd: TextDecr, key: "n", numKeys: 1, delta: 18446744073709551615, exptime: 0xffffffff, noreply: true, op: OpDecrement}},
		{"incr extra token", "incr n 1 2", parseWant{cmd: TextIncr, key: "n", numKeys: 1, delta: 1, exptime: 0xffffffff, op: OpIncrement}},
		{"incr bad delta", "incr n x", parseWant{err: ErrTextBadDelta, cmd: TextIncr, key: "n", numKeys: 1}},
		{"incr negative delta", "incr n -1", parseWant{err: ErrTextBadDelta, cmd: TextIncr, key: "n", numKeys: 1}},
		{"incr delta overflow", "incr n 18446744073709551616", parseWant{err: ErrTextBadDelta, cmd: TextIncr, key: "n", numKeys: 1}},
		{"incr minus zero", "incr n -0", parseWant{cmd: TextIncr, key: "n", numKeys: 1, exptime: 0xffffffff, op: OpIncrement}},
		{"incr bad delta noreply", "incr n x noreply", parseWant{err: ErrTextBadDelta, cmd: TextIncr, key: "n", numKeys: 1, noreply: true}},
		{"incr no delta", "incr n", parseWant{err: ErrTextError, cmd: TextIncr}},
		// touch
		{"touch", "touch foo 10", parseWant{cmd: TextTouch, key: "foo", numKeys: 1, exptime: 10, op: OpTouch}},
		{"touch negative", "touch foo -1 noreply", parseWant{cmd: TextTouch, key: "foo", numKeys: 1, exptime: 2592001, noreply: true, op: OpTouch}},
		{"touch bad exptime", "touch foo x", parseWant{err: ErrTextBadExptime, cmd: TextTouch, key: "foo", numKeys: 1}},
		{"touch no exptime", "touch foo", parseWant{err: ErrTextError, cmd: TextTouch}},
		// local commands
		{"version", "version", parseWant{cmd: TextVersion}},
		{"version args", "version x y", parseWant{cmd: TextVersion}},
		{"quit", "quit", parseWant{cmd: TextQuit}},
		{"stats", "stats", parseWant{cmd: TextStats}},
		{"stats args", "stats items", parseWant{cmd: TextStats}},
		{"verbosity", "verbosity 1", parseWant{cmd: TextVerbosity}},
		{"verbosity noreply", "verbosity 1 noreply", parseWant{cmd: TextVerbosity, noreply: true}},
		{"verbosity bad", "verbosity x", parseWant{err: ErrTextBadFormat, cmd: TextVerbosity}},
		{"verbosity alone", "verbosity", parseWant{err: ErrTextError, cmd: TextVerbosity}},
		{"flush_all", "flush_all", parseWant{cmd: TextFlushAll}},
		{"flush_all noreply", "flush_all noreply", parseWant{cmd: TextFlushAll, noreply: true}},
		{"flush_all too many", "flush_all 0 0 0", parseWant{err: ErrTextError, cmd: TextFlushAll}},
		// unknown
		{"empty", "", parseWant{err: ErrTextError}},
		{"one char", "x", parseWant{err: ErrTextError}},
		{"carriage return only", "\r", parseWant{err: ErrTextError}},
		{"spaces", "   ", parseWant{err: ErrTextError}},
		{"unknown", "foo bar", parseWant{err: ErrTextError}},
		{"upper case", "GET foo", parseWant{err: ErrTextError}},
		{"unknown g command", "gxt / HTTP/1.1", parseWant{err: ErrTextError}},
		{"HTTP request line", "GET / HTTP/1.1", parseWant{err: ErrTextClose}},
		{"HTTP POST", "POST /x HTTP/1.0", parseWant{err: ErrTextClose}},
		{"HTTP version alone closes", "HTTP/1.1", parseWant{err: ErrTextClose}},
		{"admin command", "lru_crawler HTTP/1.1", parseWant{err: ErrTextError}},
		{"unknown meta", "mz foo", parseWant{err: ErrTextError}},
		{"NUL truncates", "get a\x00b c", parseWant{cmd: TextGet, key: "a", numKeys: 1, op: OpGet}},
	} {
		checkParse(t, tc.name, tc.line, 10, tc.want)
	}
}

// TestParseTextTokenLimit: memcached splits at most 23 tokens; a storage
// line with more is ERROR whatever follows, while a get line's keys are all
// read.
func TestParseTextTokenLimit(t *testing.T) {
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = "k" + strings.Repeat("x", i)
	}
	checkParse(t, "get 30 keys", "get "+strings.Join(keys, " "), 0, parseWant{cmd: TextGet, key: "k", numKeys: 30, op: OpGet})
	checkParse(t, "set 24 tokens", "set foo 0 0 1 "+strings.Repeat("x ", 19), 0, parseWant{err: ErrTextError, cmd: TextSet})
	checkParse(t, "HTTP beyond token 23 is not seen", "POST "+strings.Repeat("x ", 23)+"HTTP/1.1", 0, parseWant{err: ErrTextError})
	checkParse(t, "HTTP as token 23", "POST "+strings.Repeat("x ", 21)+"HTTP/1.1", 0, parseWant{err: ErrTextClose})
}

// TestNextKeyResumes: iteration can stop and resume from a saved position.
func TestNextKeyResumes(t *testing.T) {
	var req TextRequest
	if err := ParseText([]byte("gets  a bb  a ccc "), 0, &req); err != nil {
		t.Fatal(err)
	}
	var got []string
	pos := 0
	for {
		k, next := req.NextKey(pos)
		if k == nil {
			break
		}
		got = append(got, string(k))
		pos = next
		// Resuming from a copy of the position gives the same sequence.
	}
	if strings.Join(got, ",") != "a,bb,a,ccc" || req.NumKeys != 4 {
		t.Fatalf("keys = %q (NumKeys %d), want a,bb,a,ccc", got, req.NumKeys)
	}
	k1, p1 := req.NextKey(0)
	k2, _ := req.NextKey(p1)
	k2again, _ := req.NextKey(p1)
	if string(k1) != "a" || string(k2) != "bb" || string(k2again) != "bb" {
		t.Fatalf("resume: %q %q %q", k1, k2, k2again)
	}
	if err := ParseText([]byte("gat 5"), 0, &req); err != nil {
		t.Fatal(err)
	}
	if k, _ := req.NextKey(0); k != nil || req.NumKeys != 0 {
		t.Fatalf("gat without keys: NextKey = %q, NumKeys %d", k, req.NumKeys)
	}
}

// TestFlushDelay: memcached checks the flush policy before the delay, so a
// bad delay is reported through DelayErr, not as a parse error.
func TestFlushDelay(t *testing.T) {
	for _, tc := range []struct {
		line    string
		delay   int32
		bad     bool
		noreply bool
	}{
		{"flush_all", 0, false, false},
		{"flush_all 10", 10, false, false},
		{"flush_all -1", -1, false, false},
		{"flush_all x", 0, true, false},
		{"flush_all noreply", 0, false, true},
		{"flush_all 5 noreply", 5, false, true},
		{"flush_all x noreply", 0, true, true},
		{"flush_all noreply 5", 0, true, false},
	} {
		var req TextRequest
		if err := ParseText([]byte(tc.line), 0, &req); err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if req.Delay != tc.delay || (req.DelayErr != nil) != tc.bad || req.NoReply != tc.noreply {
			t.Errorf("%q: delay %d err %v noreply %v, want %d %v %v", tc.line, req.Delay, req.DelayErr, req.NoReply, tc.delay, tc.bad, tc.noreply)
		}
		if tc.bad && req.DelayErr != ErrTextBadExptime {
			t.Errorf("%q: DelayErr = %v", tc.line, req.DelayErr)
		}
	}
}

// TestVerbosityLevel pins the level of a verbosity line.
func TestVerbosityLevel(t *testing.T) {
	var req TextRequest
	if err := ParseText([]byte("verbosity 3"), 0, &req); err != nil || req.Level != 3 {
		t.Fatalf("verbosity 3: level %d, err %v", req.Level, err)
	}
}

// TestCheckData covers the data block check: exactly DataLen bytes whose last
// two are "\r\n".
func TestCheckData(t *testing.T) {
	var req TextRequest
	if err := ParseText([]byte("set k 0 0 3 noreply"), 0, &req); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		block string
		value string
		err   *TextError
	}{
		{"abc\r\n", "abc", nil},
		{"a\r\n\r\n", "a\r\n", nil},
		{"abcd\n", "", ErrTextBadDataChunk},
		{"abc\n\r", "", ErrTextBadDataChunk},
		{"abcde", "", ErrTextBadDataChunk},
		{"", "", ErrTextBadDataChunk},
	} {
		v, err := req.CheckData([]byte(tc.block))
		if err != tc.err || string(v) != tc.value {
			t.Errorf("CheckData(%q) = %q, %v; want %q, %v", tc.block, v, err, tc.value, tc.err)
		}
	}
	if out := req.AppendError(nil, ErrTextBadDataChunk); len(out) != 0 {
		t.Errorf("noreply request wrote %q", out)
	}
}

// TestTextErrorsEndInCRLF: every error reply is a complete line.
func TestTextErrorsEndInCRLF(t *testing.T) {
	all := []*TextError{ErrTextError, ErrTextBadFormat, ErrTextBadDataChunk, ErrTextBadExptime, ErrTextBadDelta,
		ErrTextDeleteUsage, ErrTextTooLarge, ErrTextTooLargeSet, ErrTextFlushDisabled, ErrTextUnauthenticated,
		ErrTextAuthTermination, ErrTextAuthFormat, ErrTextAuthFailure, ErrMetaDebugRefused}
	for i := range metaErrs {
		all = append(all, &metaErrs[i], &metaErrsSwallow[i])
	}
	for _, e := range all {
		if !strings.HasSuffix(e.Reply, "\r\n") || strings.Count(e.Reply, "\n") != 1 {
			t.Errorf("reply %q is not one line", e.Reply)
		}
		if e.Error() == "" {
			t.Errorf("empty Error() for %q", e.Reply)
		}
	}
	if ErrTextClose.Reply != "" || !ErrTextClose.Close {
		t.Errorf("ErrTextClose = %+v", ErrTextClose)
	}
}

// TestTextCmdNames pins the names used as metric labels.
func TestTextCmdNames(t *testing.T) {
	for c, want := range map[TextCmd]string{TextGet: "get", TextCas: "cas", TextMetaGet: "mg", TextMetaNoop: "mn",
		TextFlushAll: "flush_all", TextUnknown: "unknown", textCmdCount: "unknown"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
	}
	if TextGet.Protocol() != "text" || TextMetaArith.Protocol() != "meta" {
		t.Error("Protocol labels")
	}
	if !TextGats.MultiKey() || TextMetaGet.MultiKey() || !TextStats.Local() || !TextMetaNoop.Local() || TextSet.Local() {
		t.Error("MultiKey/Local classification")
	}
}

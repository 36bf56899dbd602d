package memcached

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestTextFrame covers line endings and memcached's 2048-byte rule.
func TestTextFrame(t *testing.T) {
	long := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name      string
		buf       string
		maxGet    int
		line      string
		next      int
		st        FrameStatus
		nextIsLen bool
	}{
		{name: "crlf", buf: "get a\r\nget b\r\n", maxGet: 1 << 20, line: "get a", next: 7, st: FrameLine},
		{name: "bare newline", buf: "get a\nget b", maxGet: 1 << 20, line: "get a", next: 6, st: FrameLine},
		{name: "cr kept when the line is only cr", buf: "\r\n", maxGet: 1 << 20, line: "\r", next: 2, st: FrameLine},
		{name: "empty line", buf: "\n", maxGet: 1 << 20, line: "", next: 1, st: FrameLine},
		{name: "one char and cr", buf: "x\r\n", maxGet: 1 << 20, line: "x", next: 3, st: FrameLine},
		{name: "cr inside", buf: "a\rb\r\r\n", maxGet: 1 << 20, line: "a\rb\r", next: 6, st: FrameLine},
		{name: "partial", buf: "get a", maxGet: 1 << 20, st: FrameNeedMore},
		{name: "2048 bytes without newline waits", buf: long[:TextMaxLine], maxGet: 1 << 20, st: FrameNeedMore},
		{name: "2049 bytes without newline closes", buf: long[:TextMaxLine+1], maxGet: 1 << 20, st: FrameClose},
		{name: "long line found complete is framed", buf: "set " + long + "\r\n", maxGet: 0, line: "set " + long, nextIsLen: true, st: FrameLine},
		{name: "long get waits", buf: "get " + long, maxGet: 1 << 20, st: FrameNeedMore},
		{name: "long gets waits", buf: "gets " + long, maxGet: 1 << 20, st: FrameNeedMore},
		{name: "long gat closes", buf: "gat " + long, maxGet: 1 << 20, st: FrameClose},
		{name: "long get over the caller's bound closes", buf: "get " + long, maxGet: 3000, st: FrameClose},
		{name: "long get before authentication closes", buf: "get " + long, maxGet: 0, st: FrameClose},
		{name: "100 leading spaces allowed", buf: strings.Repeat(" ", 100) + "get " + long, maxGet: 1 << 20, st: FrameNeedMore},
		{name: "101 leading spaces close", buf: strings.Repeat(" ", 101) + "get " + long, maxGet: 1 << 20, st: FrameClose},
		{name: "get without space closes", buf: "get" + long, maxGet: 1 << 20, st: FrameClose},
	} {
		end, next, st := TextFrame([]byte(tc.buf), tc.maxGet)
		if tc.nextIsLen {
			tc.next = len(tc.buf)
		}
		if st != tc.st || (st == FrameLine && (tc.buf[:end] != tc.line || next != tc.next)) {
			t.Errorf("%s: TextFrame = (%d, %d, %d), want line %q next %d status %d", tc.name, end, next, st, tc.line, tc.next, tc.st)
		}
	}
}

// TestCNumbers pins the strtoul/strtol emulation against the values
// memcached 1.6.18 accepts and stores (checked on a real server: see the
// textdiff cases set_flags_wrap_32_bits and set_length_wraps_32_bits).
func TestCNumbers(t *testing.T) {
	for _, tc := range []struct {
		s   string
		u32 uint32
		ok  bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"+7", 7, true}, {"\t7", 7, true}, {"7\t", 7, true}, {"7\rxyz", 7, true},
		{"4294967295", 4294967295, true}, {"4294967296", 0, true}, {"18446744073709551615", 4294967295, true},
		{"18446744073709551616", 0, false}, {"-0", 0, true}, {"-1", 0, false}, {"", 0, false}, {"+", 0, false},
		{"x", 0, false}, {"7x", 0, false}, {"0x10", 0, false}, {" ", 0, false},
		// strtoul negates: "-18446744073709551615" is 1, which is not negative
		{"-18446744073709551615", 1, true},
	} {
		got, ok := parseU32([]byte(tc.s))
		if got != tc.u32 || ok != tc.ok {
			t.Errorf("parseU32(%q) = %d, %v; want %d, %v", tc.s, got, ok, tc.u32, tc.ok)
		}
	}
	for _, tc := range []struct {
		s   string
		i32 int32
		ok  bool
	}{
		{"-1", -1, true}, {"2147483647", 2147483647, true}, {"2147483648", -2147483648, true},
		{"4294967297", 1, true}, {"9223372036854775807", -1, true}, {"9223372036854775808", 0, false},
		{"-9223372036854775808", 0, true}, {"-9223372036854775809", 0, false}, {"--1", 0, false}, {"1 ", 1, true},
	} {
		got, ok := parseI32([]byte(tc.s))
		if got != tc.i32 || ok != tc.ok {
			t.Errorf("parseI32(%q) = %d, %v; want %d, %v", tc.s, got, ok, tc.i32, tc.ok)
		}
	}
	for _, tc := range []struct {
		s   string
		u64 uint64
		ok  bool
	}{
		{"18446744073709551615", 18446744073709551615, true}, {"18446744073709551616", 0, false},
		{"-1", 0, false}, {"-9223372036854775808", 0, false}, {"-9223372036854775807", 9223372036854775809, false},
		{"-5", 0, false}, {"-0", 0, true},
	} {
		got, ok := parseU64([]byte(tc.s))
		if ok != tc.ok || (ok && got != tc.u64) {
			t.Errorf("parseU64(%q) = %d, %v; want %d, %v", tc.s, got, ok, tc.u64, tc.ok)
		}
	}
	if binaryExptime(-1) != 2592001 || binaryExptime(0) != 0 || binaryExptime(2147483647) != 2147483647 {
		t.Error("binaryExptime")
	}
	if s := string(appendInt(appendUint(nil, 0), -12)); s != "0-12" {
		t.Errorf("appendUint/appendInt = %q", s)
	}
}

// TestMetaBase64 pins memcached's lenient decoder and the standard encoder.
func TestMetaBase64(t *testing.T) {
	var dst [MaxKeyLen]byte
	for _, tc := range []struct {
		in, out string
	}{
		{"Zm9v", "foo"}, {"Zm8=", "fo"}, {"Zg==", "f"}, {"Zm9v!!", "foo"}, {"Z m9v", "foo"},
		{"Zm8=Zm9v", "fo"}, // decoding stops after the padded block
		{"Zm9", ""}, {"!!!!", ""}, {"", ""}, {"====", ""}, {"A===", ""},
	} {
		n := metaBase64Decode(dst[:], []byte(tc.in))
		if string(dst[:n]) != tc.out {
			t.Errorf("decode(%q) = %q, want %q", tc.in, dst[:n], tc.out)
		}
	}
	for _, s := range []string{"", "f", "fo", "foo", "foob", "\x00\xff\x10binary"} {
		if got, want := string(appendBase64(nil, []byte(s))), base64.StdEncoding.EncodeToString([]byte(s)); got != want {
			t.Errorf("encode(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestTextAuth covers memcached's text authentication helpers.
func TestTextAuth(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int
		err  *TextError
	}{
		{"set any 0 0 11", 13, nil},
		{"set any x y 5 noreply", 7, nil},
		{"set any 0 0 5\r", 7, nil},
		{"set any 0 0", 0, ErrTextUnauthenticated},
		{"get foo", 0, ErrTextUnauthenticated},
		{"set any 0 0 x", 0, ErrTextUnauthenticated},
		{"set any 0 0 5000", 0, ErrTextClose},
	} {
		n, err := ParseTextAuth([]byte(tc.line))
		if n != tc.n || err != tc.err {
			t.Errorf("ParseTextAuth(%q) = %d, %v; want %d, %v", tc.line, n, err, tc.n, tc.err)
		}
	}
	for _, tc := range []struct {
		block, user, pass string
		err               *TextError
	}{
		{"alice secret\r\n", "alice", "secret", nil},
		{"alice  secret extra\r\n", "alice", "secret", nil},
		{"alice\r\n", "", "", ErrTextAuthFormat},
		{"alice secret\n\n", "", "", ErrTextAuthTermination},
		{"alice\x00 secret\r\n", "", "", ErrTextAuthFormat},
	} {
		u, p, err := SplitTextAuth([]byte(tc.block))
		if string(u) != tc.user || string(p) != tc.pass || err != tc.err {
			t.Errorf("SplitTextAuth(%q) = %q, %q, %v; want %q, %q, %v", tc.block, u, p, err, tc.user, tc.pass, tc.err)
		}
	}
}

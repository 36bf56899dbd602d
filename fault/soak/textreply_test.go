package soak

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

func TestStoreStatus(t *testing.T) {
	cases := []struct {
		cmd, line string
		want      memcached.Status
		bad       bool // a *replyError
	}{
		{"set", "STORED", memcached.StatusSuccess, false},
		{"set", "NOT_STORED", memcached.StatusNotStored, false},
		{"add", "NOT_STORED", memcached.StatusNotStored, false},
		{"cas", "STORED", memcached.StatusSuccess, false},
		{"cas", "EXISTS", memcached.StatusKeyEEXISTS, false},
		{"cas", "NOT_FOUND", memcached.StatusKeyENOENT, false},
		// The proxy's own failure, and a node's ETMPFAIL translated.
		{"set", "SERVER_ERROR temporary failure: node down", memcached.StatusETMPFAIL, false},
		{"cas", "SERVER_ERROR temporary failure", memcached.StatusETMPFAIL, false},
		{"add", "SERVER_ERROR temporary failure: node timed out", memcached.StatusETMPFAIL, false},
		// Outside each command's vocabulary.
		{"cas", "NOT_STORED", 0, true},
		{"set", "EXISTS", 0, true},
		{"set", "NOT_FOUND", 0, true},
		{"set", "stored", 0, true},
		{"set", "STORED ", 0, true},
		{"set", "", 0, true},
		{"set", "SERVER_ERROR temporary failures", 0, true},
		{"set", "SERVER_ERROR out of memory storing object", 0, true},
		{"set", "CLIENT_ERROR bad data chunk", 0, true},
		{"set", "ERROR", 0, true},
	}
	for _, c := range cases {
		got, err := storeStatus(c.cmd, []byte(c.line))
		var re *replyError
		if c.bad {
			if !errors.As(err, &re) || re.Cmd != c.cmd || re.Line != c.line {
				t.Errorf("%s %q: got %v, %v, want a replyError naming both", c.cmd, c.line, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %q: got %v, %v, want %v", c.cmd, c.line, got, err, c.want)
		}
	}
}

func TestDeleteAndIncrReplies(t *testing.T) {
	del := map[string]memcached.Status{
		"DELETED":   memcached.StatusSuccess,
		"NOT_FOUND": memcached.StatusKeyENOENT,
		"SERVER_ERROR temporary failure: node down": memcached.StatusETMPFAIL,
	}
	for line, want := range del {
		if got, err := deleteStatus([]byte(line)); err != nil || got != want {
			t.Errorf("delete %q: got %v, %v, want %v", line, got, err, want)
		}
	}
	for _, line := range []string{"STORED", "DELETED\x00", "NOT_STORED", "SERVER_ERROR internal error"} {
		if _, err := deleteStatus([]byte(line)); err == nil {
			t.Errorf("delete %q: no error", line)
		}
	}

	incr := []struct {
		line string
		st   memcached.Status
		n    uint64
	}{
		{"0", memcached.StatusSuccess, 0},
		{"1", memcached.StatusSuccess, 1},
		{"18446744073709551615", memcached.StatusSuccess, 1<<64 - 1},
		{"NOT_FOUND", memcached.StatusKeyENOENT, 0},
		{"SERVER_ERROR temporary failure", memcached.StatusETMPFAIL, 0},
	}
	for _, c := range incr {
		st, n, err := incrReply([]byte(c.line))
		if err != nil || st != c.st || n != c.n {
			t.Errorf("incr %q: got %v %d %v, want %v %d", c.line, st, n, err, c.st, c.n)
		}
	}
	for _, line := range []string{
		"18446744073709551616", // 2^64
		"01", "1 ", "+1", "-1", "1a", "",
		"CLIENT_ERROR cannot increment or decrement non-numeric value",
		"STORED",
	} {
		if st, n, err := incrReply([]byte(line)); err == nil {
			t.Errorf("incr %q: got %v %d, want an error", line, st, n)
		}
	}
}

func TestParseValueHeader(t *testing.T) {
	h, err := parseValueHeader("gets", []byte("VALUE k 4294967295 12 18446744073709551615"), "k", true)
	if err != nil || h != (valueHeader{flags: 1<<32 - 1, n: 12, cas: 1<<64 - 1}) {
		t.Errorf("gets header: got %+v, %v", h, err)
	}
	h, err = parseValueHeader("get", []byte("VALUE k 0 0"), "k", false)
	if err != nil || h != (valueHeader{}) {
		t.Errorf("get header: got %+v, %v", h, err)
	}
	bad := []struct {
		line    string
		withCAS bool
		reason  string
	}{
		{"VALUE k 0 1", true, "VALUE line with 4 fields, want 5"},
		{"VALUE k 0 1 7", false, "VALUE line with 5 fields, want 4"},
		{"VALUE  k 0 1", false, "VALUE line with 5 fields, want 4"},
		{"VALUE other 0 1", false, "VALUE for another key"},
		{"VALUES k 0 1", false, "not a VALUE line"},
		{"VALUE k 4294967296 1", false, `flags: number "4294967296" out of range (32 bits)`},
		{"VALUE k 0 -1", false, `length: number "-1" is not decimal`},
		{"VALUE k 0 1048577", false, "length 1048577 over the limit 1048576"},
		{"VALUE k 0 1 x", true, `cas: number "x" is not decimal`},
		{"VALUE k 0 1 00", true, `cas: number "00" has a leading zero`},
	}
	for _, c := range bad {
		_, err := parseValueHeader("get", []byte(c.line), "k", c.withCAS)
		var re *replyError
		if !errors.As(err, &re) || re.Reason != c.reason {
			t.Errorf("%q: got %v, want reason %q", c.line, err, c.reason)
		}
	}
}

// TestTextReaderGet reads whole get and gets replies from byte fixtures.
func TestTextReaderGet(t *testing.T) {
	cases := []struct {
		name, in string
		withCAS  bool
		st       memcached.Status
		value    string
		cas      uint64
		err      string // substring of the error; "" for none
	}{
		{"hit", "VALUE k 3 5\r\nab\r\nc\r\nEND\r\n", false, memcached.StatusSuccess, "ab\r\nc", 0, ""},
		{"gets_hit", "VALUE k 0 3 42\r\nk:1\r\nEND\r\n", true, memcached.StatusSuccess, "k:1", 42, ""},
		{"empty_value", "VALUE k 0 0\r\n\r\nEND\r\n", false, memcached.StatusSuccess, "", 0, ""},
		{"miss", "END\r\n", false, memcached.StatusKeyENOENT, "", 0, ""},
		{"tmpfail", "SERVER_ERROR temporary failure: node down\r\nEND\r\n", true, memcached.StatusETMPFAIL, "", 0, ""},
		{"tmpfail_without_end", "SERVER_ERROR temporary failure\r\n", false, 0, "", 0, "unexpected EOF"},
		{"other_server_error", "SERVER_ERROR internal error\r\nEND\r\n", false, 0, "", 0, "text get: unexpected reply"},
		{"client_error", "CLIENT_ERROR bad command line format\r\n", false, 0, "", 0, "unexpected reply"},
		{"no_end", "VALUE k 0 1\r\nx\r\nVALUE k 0 1\r\nx\r\nEND\r\n", false, 0, "", 0, "want END after the key's reply"},
		{"short_block", "VALUE k 0 4\r\nxy\r\n", false, 0, "", 0, "unexpected EOF"},
		{"block_not_ended", "VALUE k 0 1\r\nxyEND\r\n", false, 0, "", 0, "data block of 1 bytes not ended"},
		{"bare_lf", "END\n", false, 0, "", 0, `reply line not ended by \r\n`},
		{"eof_in_line", "EN", false, 0, "", 0, "unexpected EOF"},
		{"eof", "", false, 0, "", 0, "EOF"},
		{"long_line", strings.Repeat("x", textReadBuf+1) + "\r\n", false, 0, "", 0, "reply line longer than 65536 bytes"},
		{"wrong_key", "VALUE j 0 1\r\nx\r\nEND\r\n", false, 0, "", 0, "VALUE for another key"},
		{"gets_without_cas", "VALUE k 0 1\r\nx\r\nEND\r\n", true, 0, "", 0, "want 5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, h, v, err := newTextReader(strings.NewReader(c.in)).get("k", c.withCAS)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v %q %v, want an error with %q", st, v, err, c.err)
				}
				return
			}
			if err != nil || st != c.st || string(v) != c.value || h.cas != c.cas {
				t.Fatalf("got %v %q cas %d %v, want %v %q cas %d", st, v, h.cas, err, c.st, c.value, c.cas)
			}
		})
	}
	// The EOF before any byte stays io.EOF (a closed connection), not a
	// protocol error.
	if _, _, _, err := newTextReader(strings.NewReader("")).get("k", false); !errors.Is(err, io.EOF) {
		t.Errorf("empty reply: %v, want io.EOF", err)
	}
}

// FuzzTextReplies feeds arbitrary server bytes to every reply reader: none
// panics, and whatever parses is well formed.
func FuzzTextReplies(f *testing.F) {
	for _, s := range []string{
		"VALUE k 0 3 42\r\nk:1\r\nEND\r\n", "END\r\n", "STORED\r\n", "EXISTS\r\n", "NOT_FOUND\r\n",
		"DELETED\r\n", "18446744073709551615\r\n", "SERVER_ERROR temporary failure: node down\r\nEND\r\n",
		"VALUE k 0 1048576\r\n", "VALUE k 0 1\r\nxx\r\n", "\n", "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, withCAS := range []bool{false, true} {
			st, h, v, err := newTextReader(strings.NewReader(string(in))).get("k", withCAS)
			if err != nil {
				continue
			}
			if st == memcached.StatusSuccess && (len(v) != h.n || h.n > maxTextValue) {
				t.Fatalf("hit with %d value bytes, header %+v", len(v), h)
			}
			if st != memcached.StatusSuccess && (v != nil || h != (valueHeader{})) {
				t.Fatalf("%v with value %q header %+v", st, v, h)
			}
			if !withCAS && h.cas != 0 {
				t.Fatalf("get reply with cas %d", h.cas)
			}
		}
		rd := newTextReader(strings.NewReader(string(in)))
		for {
			l, err := rd.line("set")
			if err != nil {
				break
			}
			if strings.ContainsAny(string(l), "\n") {
				t.Fatalf("line %q holds a newline", l)
			}
			for _, cmd := range []string{"set", "add", "cas"} {
				if st, err := storeStatus(cmd, l); err == nil && !validStore(cmd, st) {
					t.Fatalf("%s %q: status %v", cmd, l, st)
				}
			}
			if st, err := deleteStatus(l); err == nil && st != memcached.StatusSuccess &&
				st != memcached.StatusKeyENOENT && st != memcached.StatusETMPFAIL {
				t.Fatalf("delete %q: status %v", l, st)
			}
			if st, n, err := incrReply(l); err == nil && st != memcached.StatusSuccess && n != 0 {
				t.Fatalf("incr %q: status %v with value %d", l, st, n)
			}
		}
	})
}

func validStore(cmd string, st memcached.Status) bool {
	switch st {
	case memcached.StatusSuccess, memcached.StatusETMPFAIL:
		return true
	case memcached.StatusNotStored:
		return cmd != "cas"
	case memcached.StatusKeyEEXISTS, memcached.StatusKeyENOENT:
		return cmd == "cas"
	}
	return false
}

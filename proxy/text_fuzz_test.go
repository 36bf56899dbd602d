package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// FuzzTextSession sends arbitrary text-protocol bytes to a proxy in front
// of a real memcached server. Whatever the bytes, the session writes only
// well-formed reply lines (validTextReplies) and closes when the client
// stops sending (it never hangs or crashes), and another client is
// unaffected.
func FuzzTextSession(f *testing.F) {
	seeds := []string{
		"set k 0 0 1\r\nv\r\nget k\r\n",
		"set k 5 100 3 noreply\r\nabc\r\nadd k 0 0 1\r\nx\r\nreplace k 0 0 1\r\ny\r\nappend k 0 0 1\r\nz\r\nprepend k 0 0 1\r\nw\r\n",
		"gets k\r\ncas k 0 0 1 1\r\nx\r\ncas k 0 0 1 0 noreply\r\nx\r\n",
		"get a b c a b c\r\ngets a a\r\ngat 10 a b\r\ngats 0 a\r\nbget a\r\n",
		"delete k\r\ndelete k 0\r\ndelete k noreply\r\ndelete k 1\r\n",
		"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n abc\r\nincr k 1\r\ndecr n 1 noreply\r\n",
		"touch k 10\r\ntouch k abc\r\ntouch k -1 noreply\r\n",
		"flush_all\r\nflush_all 0 noreply\r\nflush_all abc\r\nversion\r\nverbosity 1\r\nverbosity x noreply\r\nstats\r\nstats proxy\r\nstats items\r\n",
		"mg k v f s k c t T30 O123 q\r\nmg k\r\nmg k h l\r\nmg k N30 R30 E5\r\nmg k u P L v\r\n",
		"mg a2V5 b v k\r\nms a2V5 1 b\r\nx\r\nmg !!!! b v\r\n",
		"ms k 2 T0 F7 c k O1 q\r\nhi\r\nms k 1 MA\r\nx\r\nms k 1 MP\r\nx\r\nms k 1 MR\r\nx\r\nms k 1 ME\r\nx\r\nms k 1 MS C1\r\nx\r\nms k 1 MX\r\nx\r\n",
		"ms k 1 I\r\nx\r\nms k 1 E5\r\nx\r\nms k 1 N30 MA\r\nx\r\nms k 1 s MA\r\nx\r\nms k 2 s\r\nhi\r\n",
		"md k\r\nmd k q\r\nmd k C1 k O2\r\nmd k I\r\nmd k x\r\nmd k T30\r\n",
		"ma k\r\nma k v N0 J10\r\nma k MD D3 v\r\nma k M- q\r\nma k C1\r\nma k T30\r\nma k t\r\nma k Dabc\r\n",
		"mg k q v\r\nms j 1 q\r\nx\r\nmd k q\r\nma k q\r\nmn\r\nme k\r\n",
		"set k 0 0 1\nv\r\nget k\nmg k v\nmn\n",
		"set k 0 0 2\r\nabcdget k\r\n",
		"set k 0 0 4000000000\r\nget k\r\n",
		"set k 0 0 5000\r\n" + string(bytes.Repeat([]byte("x"), 5000)) + "\r\nget k\r\n",
		"get " + string(bytes.Repeat([]byte("k"), 251)) + "\r\n",
		"delete " + string(bytes.Repeat([]byte("x"), 3000)),
		"get / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\n",
		"set k 0 0 1 junk\r\nx\r\nset k abc 0 1\r\nx\r\nset k 0 0 -1\r\n",
		"\r\n \r\n\n\x00\x01\x02\xff\r\nquit\r\nget k\r\n",
		"set k 0 0 1\r\nx\r\nget k\x00zz\r\n\t\r\nmn  foo\r\n",
		"mg\r\nms\r\nmd\r\nma\r\nms k\r\nms k abc\r\nmg k O" + string(bytes.Repeat([]byte("o"), 40)) + "\r\n",
		"ms k 1 v v v v v v v v v v v v v v v v v v v\r\nx\r\n",
		"get k",
		"set k 0 0 10\r\nabc",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	nodes := []string{startMemcached(f)}
	src := newTestSource(staticMap(f, 1, nodes, 64))
	// flush_all stays refused: memcached's delayed flush ("flush_all 3")
	// would make one input's keys vanish during a later one.
	_, addr := startProxy(f, Options{Map: src, MaxRequestSize: 4096, OperationTimeout: 2 * time.Second})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTextOnce(t, addr, data) })
}

// fuzzTextOnce is one FuzzTextSession input: data on a connection of its
// own, then another client's exchange.
func fuzzTextOnce(t *testing.T, addr string, data []byte) {
	if len(data) > 0 && data[0] == 0x80 {
		data[0] = 'x' // a binary session: FuzzSession's
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	// Well under the fuzzer's 10s limit per input, so that a stuck
	// session is reported as such.
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		_, _ = conn.Write(data)
		_ = conn.(*net.TCPConn).CloseWrite()
	}()
	out, err := io.ReadAll(conn)
	reset := err != nil && isConnReset(err)
	if err != nil && !reset {
		t.Fatalf("session did not end: %v (after %d bytes)", err, len(out))
	}
	if err := validTextReplies(out, reset); err != nil {
		t.Fatalf("invalid reply stream: %v\nsent %q\ngot %q", err, data, out)
	}
	// Another client still works.
	other, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer other.Close()
	_ = other.SetDeadline(time.Now().Add(3 * time.Second))
	const want = "STORED\r\nVALUE fuzz-other 0 2\r\nok\r\nEND\r\nMN\r\n"
	if _, err := io.WriteString(other, "set fuzz-other 0 0 2\r\nok\r\nget fuzz-other\r\nmn\r\n"); err != nil {
		t.Fatalf("another client: write: %v", err)
	}
	got := make([]byte, len(want))
	n, err := io.ReadFull(other, got)
	if err != nil || string(got) != want {
		t.Fatalf("another client after %q:\n got %q (%v)\nwant %q", data, got[:n], err, want)
	}
}

// The reply lines without arguments the text front end writes.
var textBareReplies = map[string]bool{
	"STORED": true, "NOT_STORED": true, "EXISTS": true, "NOT_FOUND": true, "DELETED": true, "TOUCHED": true,
	"OK": true, "END": true, "ERROR": true, "MN": true, "NF": true, "NS": true,
}

// validTextReplies checks that b is a sequence of whole text replies, each
// line one the proxy may write, each data block of the length its VALUE or
// VA line declares. cut allows the last line to be cut short (the
// connection was reset).
func validTextReplies(b []byte, cut bool) error {
	for off := 0; off < len(b); {
		i := bytes.Index(b[off:], []byte("\r\n"))
		if i < 0 {
			if cut {
				return nil
			}
			return fmt.Errorf("at byte %d: unterminated line %q", off, b[off:])
		}
		line := string(b[off : off+i])
		off += i + 2
		data, err := checkTextLine(line)
		if err != nil {
			return fmt.Errorf("at byte %d: %w", off-i-2, err)
		}
		if data >= 0 {
			if off+data+2 > len(b) {
				if cut {
					return nil
				}
				return fmt.Errorf("line %q: data block of %d bytes cut short", line, data)
			}
			if string(b[off+data:off+data+2]) != "\r\n" {
				return fmt.Errorf("line %q: data block not followed by \\r\\n", line)
			}
			off += data + 2
		}
	}
	return nil
}

// checkTextLine checks one reply line and returns the length of the data
// block that follows it (-1 for none).
func checkTextLine(line string) (int, error) {
	if line == "" {
		return -1, fmt.Errorf("empty reply line")
	}
	// Split on spaces only, as memcached tokenizes (a key may hold a \r or
	// a tab, and is echoed as sent).
	f := bytes.Split([]byte(line), []byte(" "))
	word := string(f[0])
	if word == "CLIENT_ERROR" || word == "SERVER_ERROR" {
		if len(line) <= len(word)+1 {
			return -1, fmt.Errorf("%q without a message", line)
		}
		return -1, nil
	}
	for _, x := range f {
		if len(x) == 0 {
			return -1, fmt.Errorf("%q: empty token", line)
		}
	}
	switch {
	case textBareReplies[line]:
		return -1, nil
	case word == "VERSION" && len(f) == 2:
		return -1, nil
	case word == "STAT" && len(f) == 3:
		return -1, nil
	case len(f) == 1 && isNumber(word): // incr/decr
		return -1, nil
	case word == "VALUE" && (len(f) == 4 || len(f) == 5):
		if _, err := strconv.ParseUint(string(f[2]), 10, 32); err != nil {
			return -1, fmt.Errorf("%q: bad flags", line)
		}
		if len(f) == 5 && !isNumber(string(f[4])) {
			return -1, fmt.Errorf("%q: bad CAS", line)
		}
		n, err := strconv.Atoi(string(f[3]))
		if err != nil || n < 0 {
			return -1, fmt.Errorf("%q: bad length", line)
		}
		return n, nil
	case word == "VA" && len(f) >= 2:
		n, err := strconv.Atoi(string(f[1]))
		if err != nil || n < 0 {
			return -1, fmt.Errorf("%q: bad length", line)
		}
		return n, checkMetaFlags(line, f[2:])
	case word == "HD" || word == "EN" || word == "NF" || word == "NS" || word == "EX":
		return -1, checkMetaFlags(line, f[1:])
	}
	return -1, fmt.Errorf("unknown reply line %q", line)
}

// checkMetaFlags checks the return flags of a meta reply: a letter, then
// its token.
func checkMetaFlags(line string, flags [][]byte) error {
	for _, fl := range flags {
		c := fl[0]
		if c < 'A' || c > 'z' || (c > 'Z' && c < 'a') {
			return fmt.Errorf("%q: bad return flag %q", line, fl)
		}
		switch c {
		case 'c', 'f', 's', 't':
			if !isNumber(string(fl[1:])) && string(fl) != "t-1" {
				return fmt.Errorf("%q: flag %q without a number", line, fl)
			}
		}
	}
	return nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

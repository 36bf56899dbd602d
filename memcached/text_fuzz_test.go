package memcached

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

var textFuzzSeeds = []string{
	"get foo\r\n", "gets a b a c\r\n", "gat 10 a\r\n", "set k 0 0 3\r\nabc\r\n", "cas k 0 0 1 0 noreply\r\nx\r\n",
	"incr n 5\r\n", "delete k 0 noreply\r\n", "touch k -1\r\n", "mg k v f c s k Oab q T30 t\r\n",
	"ms Zm9v 3 b c k MA C5\r\nabc\r\n", "md k q C0\r\n", "ma k N0 J7 D2 MD v c k\r\n", "mn\r\n", "me k\r\n",
	"flush_all 10 noreply\r\n", "verbosity 1\r\n", "GET / HTTP/1.1\r\n", "set k 0 0 1\r\nxy\r\n",
	"ms k 2 z\r\nhi\r\n", "get " + strings.Repeat("k ", 1500) + "\r\n", "mg k O" + strings.Repeat("x", 40) + "\r\n",
	"\x00\r\n", "set k 0 0 4294967297\r\nx\r\n",
}

// checkTextReply fails unless out is empty or well-formed reply text: whole
// lines, and the data block of a VALUE or VA line as long as it declares.
func checkTextReply(t *testing.T, out []byte, what string) {
	t.Helper()
	for len(out) > 0 {
		i := bytes.Index(out, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("%s: reply %q does not end in \\r\\n", what, out)
		}
		line := string(out[:i])
		out = out[i+2:]
		f := strings.Split(line, " ")
		n := -1
		switch {
		case f[0] == "VALUE" && len(f) >= 4:
			n, _ = strconv.Atoi(f[3])
		case f[0] == "VA" && len(f) >= 2:
			n, _ = strconv.Atoi(f[1])
		}
		if n >= 0 {
			if len(out) < n+2 || string(out[n:n+2]) != "\r\n" {
				t.Fatalf("%s: data block of %q is not %d bytes + \\r\\n", what, line, n)
			}
			out = out[n+2:]
		}
	}
}

// FuzzParseText frames and parses arbitrary client bytes. It must never
// panic; frames must consume no more than was given; every error reply is
// empty or one line; a parsed request iterates exactly NumKeys keys of at
// most 250 bytes and translates into a well-formed binary request.
func FuzzParseText(f *testing.F) {
	for _, s := range textFuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req TextRequest
		for range 64 {
			end, next, st := TextFrame(data, 1<<16)
			if st != FrameLine {
				return
			}
			if end > next || next > len(data) {
				t.Fatalf("TextFrame(%q) = %d, %d", data, end, next)
			}
			line := data[:end]
			data = data[next:]
			err := ParseText(line, 1<<10, &req)
			if err != nil {
				if err.Reply != "" && (!strings.HasSuffix(err.Reply, "\r\n") || strings.Count(err.Reply, "\n") != 1) {
					t.Fatalf("ParseText(%q) reply %q", line, err.Reply)
				}
				if err.Swallow {
					if req.DataLen < 2 {
						t.Fatalf("ParseText(%q) swallows %d bytes", line, req.DataLen)
					}
					data = data[min(req.DataLen, len(data)):]
				}
				if err.Close {
					return
				}
				continue
			}
			n := 0
			for k, pos := req.NextKey(0); k != nil; k, pos = req.NextKey(pos) {
				if len(k) > MaxKeyLen || len(k) == 0 {
					t.Fatalf("ParseText(%q): key %q", line, k)
				}
				n++
			}
			if req.Cmd.MultiKey() && n != req.NumKeys {
				t.Fatalf("ParseText(%q): NextKey gave %d keys, NumKeys %d", line, n, req.NumKeys)
			}
			if len(req.Key) > MaxKeyLen {
				t.Fatalf("ParseText(%q): key of %d bytes", line, len(req.Key))
			}
			var value []byte
			if req.DataLen > 0 {
				if req.DataLen > 1<<10+2 {
					t.Fatalf("ParseText(%q): DataLen %d over the limit", line, req.DataLen)
				}
				block := data[:min(req.DataLen, len(data))]
				data = data[len(block):]
				v, derr := req.CheckData(block)
				if derr != nil {
					continue
				}
				value = v
			}
			if req.Cmd.Local() {
				continue
			}
			pkt := AppendTextToBinary(nil, &req, req.Key, 1, value)
			var h Header
			h.Decode(pkt)
			if int(h.BodyLen) != len(pkt)-HeaderLen || int(h.KeyLen) != len(req.Key) || h.Opcode.Quiet() || h.Opcode == OpGetK {
				t.Fatalf("ParseText(%q): bad binary request %+v", line, h)
			}
			rc := req.Reply()
			for _, st := range []Status{StatusSuccess, StatusKeyENOENT, StatusKeyEEXISTS, StatusNotStored, StatusDeltaBadval, StatusETMPFAIL, 0x1234} {
				resp := Header{Magic: MagicResponse, Opcode: h.Opcode, Status: st, CAS: 5}
				checkTextReply(t, AppendTextReply(nil, &rc, req.Key, &resp, []byte{0, 0, 0, 1}, []byte("value")), string(line))
			}
		}
	})
}

// FuzzTextRoundTrip translates a text request to binary, answers it with a
// synthetic binary reply (status, CAS, flags, value from the fuzzer), reads
// that reply back with the Reader and turns it into text, which must be
// well-formed and, for a get hit, carry the value unchanged.
func FuzzTextRoundTrip(f *testing.F) {
	f.Add("get foo", uint16(0), uint64(7), uint32(5), []byte("abc"))
	f.Add("gets foo", uint16(0), uint64(7), uint32(5), []byte("a\r\nb"))
	f.Add("mg foo v f c s k Oz", uint16(0), uint64(7), uint32(5), []byte("abc"))
	f.Add("mg foo v q", uint16(1), uint64(0), uint32(0), []byte(nil))
	f.Add("ma foo v c", uint16(0), uint64(9), uint32(0), []byte{0, 0, 0, 0, 0, 0, 0, 42})
	f.Add("incr foo 1", uint16(6), uint64(0), uint32(0), []byte("Non-numeric"))
	f.Add("ms foo 3 c k", uint16(2), uint64(3), uint32(0), []byte(nil))
	f.Add("cas foo 0 0 1 0", uint16(0), uint64(3), uint32(0), []byte("x"))
	f.Fuzz(func(t *testing.T, line string, status uint16, cas uint64, flags uint32, value []byte) {
		var req TextRequest
		if ParseText([]byte(line), 0, &req) != nil || req.Cmd.Local() {
			return
		}
		key := req.Key
		if req.Cmd.MultiKey() {
			if key == nil {
				return
			}
		}
		var sent []byte
		if req.DataLen > 0 {
			sent = bytes.Repeat([]byte("v"), min(req.DataLen-2, 64))
		}
		pkt := AppendTextToBinary(nil, &req, key, 99, sent)
		rd := NewReader(bytes.NewReader(pkt), ReaderOptions{})
		var p Packet
		if err := rd.ReadRequest(&p); err != nil {
			t.Fatalf("%q: the binary request does not read back: %v", line, err)
		}
		if !bytes.Equal(p.Key, key) || p.Opaque != 99 {
			t.Fatalf("%q: request key %q opaque %d", line, p.Key, p.Opaque)
		}
		var extras []byte
		if status == 0 && (p.Opcode == OpGet || p.Opcode == OpGAT) {
			extras = []byte{byte(flags >> 24), byte(flags >> 16), byte(flags >> 8), byte(flags)}
		}
		resp := AppendResponse(nil, &p.Header, Status(status), cas, extras, nil, value)
		rd = NewReader(bytes.NewReader(resp), ReaderOptions{})
		var r Packet
		if err := rd.ReadResponse(&r); err != nil {
			t.Fatalf("%q: response does not read back: %v", line, err)
		}
		rc := req.Reply()
		out := AppendTextReply(nil, &rc, key, &r.Header, r.Extras, r.Value)
		checkTextReply(t, out, line)
		if req.Cmd == TextGet && status == 0 {
			want := "VALUE " + string(key) + " " + strconv.FormatUint(uint64(flags), 10) + " " + strconv.Itoa(len(value)) + "\r\n" + string(value) + "\r\n"
			if string(out) != want {
				t.Fatalf("%q: got %q, want %q", line, out, want)
			}
		}
	})
}

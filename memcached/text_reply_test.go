package memcached

import (
	"encoding/binary"
	"testing"
)

func counter(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

var flags5 = []byte{0, 0, 0, 5}

// TestAppendTextReply maps binary replies to memcached's text for every
// command: one row per (request line, status) pair.
func TestAppendTextReply(t *testing.T) {
	for _, tc := range []struct {
		line   string
		key    string // key the request was sent with; "" = req.Key
		status Status
		cas    uint64
		extras []byte
		value  []byte
		want   string
	}{
		// retrieval: a miss writes nothing; failures are written inline
		{line: "get foo", status: StatusSuccess, extras: flags5, value: []byte("abc"), key: "foo", want: "VALUE foo 5 3\r\nabc\r\n"},
		{line: "get foo", status: StatusSuccess, value: []byte(""), key: "foo", want: "VALUE foo 0 0\r\n\r\n"},
		{line: "gets foo", status: StatusSuccess, cas: 99, extras: flags5, value: []byte("x"), key: "foo", want: "VALUE foo 5 1 99\r\nx\r\n"},
		{line: "gat 1 foo", status: StatusSuccess, cas: 99, value: []byte("x"), key: "foo", want: "VALUE foo 0 1\r\nx\r\n"},
		{line: "gats 1 foo", status: StatusSuccess, cas: 7, value: []byte("x"), key: "foo", want: "VALUE foo 0 1 7\r\nx\r\n"},
		{line: "get foo", status: StatusKeyENOENT, key: "foo", want: ""},
		{line: "get foo", status: StatusETMPFAIL, key: "foo", want: "SERVER_ERROR temporary failure\r\n"},
		{line: "get foo", status: StatusEBUSY, key: "foo", want: "SERVER_ERROR temporary failure\r\n"},
		// storage
		{line: "set k 0 0 1", status: StatusSuccess, want: "STORED\r\n"},
		{line: "set k 0 0 1", status: StatusE2BIG, want: "SERVER_ERROR object too large for cache\r\n"},
		{line: "set k 0 0 1", status: StatusENOMEM, want: "SERVER_ERROR out of memory storing object\r\n"},
		{line: "set k 0 0 1", status: StatusNotSupported, want: "SERVER_ERROR not supported\r\n"},
		{line: "set k 0 0 1", status: StatusUnknownCommand, want: "SERVER_ERROR unknown command\r\n"},
		{line: "set k 0 0 1", status: StatusLocked, want: "EXISTS\r\n"},
		{line: "set k 0 0 1 noreply", status: StatusE2BIG, want: ""},
		{line: "add k 0 0 1", status: StatusSuccess, want: "STORED\r\n"},
		{line: "add k 0 0 1", status: StatusKeyEEXISTS, want: "NOT_STORED\r\n"},
		{line: "replace k 0 0 1", status: StatusKeyENOENT, want: "NOT_STORED\r\n"},
		{line: "append k 0 0 1", status: StatusNotStored, want: "NOT_STORED\r\n"},
		{line: "append k 0 0 1", status: StatusKeyENOENT, want: "NOT_STORED\r\n"},
		{line: "prepend k 0 0 1", status: StatusNotStored, want: "NOT_STORED\r\n"},
		{line: "cas k 0 0 1 5", status: StatusSuccess, want: "STORED\r\n"},
		{line: "cas k 0 0 1 5", status: StatusKeyEEXISTS, want: "EXISTS\r\n"},
		{line: "cas k 0 0 1 5", status: StatusKeyENOENT, want: "NOT_FOUND\r\n"},
		{line: "cas k 0 0 1 5 noreply", status: StatusKeyEEXISTS, want: ""},
		{line: "cas k 0 0 1 0", status: StatusSuccess, want: "EXISTS\r\n"},
		{line: "cas k 0 0 1 0", status: StatusKeyENOENT, want: "NOT_FOUND\r\n"},
		// delete, touch, incr/decr
		{line: "delete k", status: StatusSuccess, want: "DELETED\r\n"},
		{line: "delete k", status: StatusKeyENOENT, want: "NOT_FOUND\r\n"},
		{line: "delete k", status: StatusLocked, want: "SERVER_ERROR item locked\r\n"},
		{line: "delete k noreply", status: StatusSuccess, want: ""},
		{line: "touch k 1", status: StatusSuccess, want: "TOUCHED\r\n"},
		{line: "touch k 1", status: StatusKeyENOENT, want: "NOT_FOUND\r\n"},
		{line: "incr k 1", status: StatusSuccess, value: counter(18446744073709551615), want: "18446744073709551615\r\n"},
		{line: "decr k 1", status: StatusSuccess, value: counter(0), want: "0\r\n"},
		{line: "incr k 1", status: StatusKeyENOENT, want: "NOT_FOUND\r\n"},
		{line: "incr k 1", status: StatusDeltaBadval, want: "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
		{line: "incr k 1", status: StatusENOMEM, want: "SERVER_ERROR out of memory\r\n"},
		{line: "incr k 1 noreply", status: StatusDeltaBadval, want: ""},
		{line: "incr k 1", status: StatusEINVAL, want: "SERVER_ERROR invalid arguments\r\n"},
		{line: "incr k 1", status: StatusNotMyVBucket, want: "SERVER_ERROR not my vbucket\r\n"},
		{line: "incr k 1", status: StatusNoBucket, want: "SERVER_ERROR no bucket\r\n"},
		{line: "incr k 1", status: StatusEAccess, want: "SERVER_ERROR access denied\r\n"},
		{line: "incr k 1", status: StatusAuthStale, want: "SERVER_ERROR authentication stale\r\n"},
		{line: "incr k 1", status: StatusEINTERNAL, want: "SERVER_ERROR internal error\r\n"},
		{line: "incr k 1", status: Status(0xbeef), want: "SERVER_ERROR unexpected status 0xbeef\r\n"},
		// mg
		{line: "mg k", status: StatusSuccess, value: []byte("abc"), want: "HD\r\n"},
		{line: "mg k v", status: StatusSuccess, value: []byte("abc"), want: "VA 3\r\nabc\r\n"},
		{line: "mg k s f v k Oxyz c", status: StatusSuccess, cas: 42, extras: flags5, value: []byte("abc"), want: "VA 3 s3 f5 kk Oxyz c42\r\nabc\r\n"},
		{line: "mg k T30 t v", status: StatusSuccess, value: []byte("a"), want: "VA 1 t30\r\na\r\n"},
		{line: "mg k T0 t", status: StatusSuccess, want: "HD t-1\r\n"},
		{line: "mg k v q", status: StatusSuccess, value: []byte("a"), want: "VA 1\r\na\r\n"},
		{line: "mg k v", status: StatusKeyENOENT, want: "EN\r\n"},
		{line: "mg k v k Oab s c f", status: StatusKeyENOENT, want: "EN kk Oab\r\n"},
		{line: "mg k v q k", status: StatusKeyENOENT, want: ""},
		{line: "mg k v q", status: StatusETMPFAIL, want: "SERVER_ERROR temporary failure\r\n"},
		{line: "mg k C42 v c", status: StatusSuccess, cas: 42, value: []byte("abc"), want: "HD c42\r\n"},
		{line: "mg k C41 v c", status: StatusSuccess, cas: 42, value: []byte("abc"), want: "VA 3 c42\r\nabc\r\n"},
		{line: "mg Zm9v b k v", key: "foo", status: StatusSuccess, value: []byte("1"), want: "VA 1 kZm9v b\r\n1\r\n"},
		{line: "mg Zm9v b k", key: "foo", status: StatusKeyENOENT, want: "EN kZm9v b\r\n"},
		{line: "mg k v O" + string(make32('x')), status: StatusSuccess, want: "CLIENT_ERROR opaque token too long\r\n"},
		{line: "mg k v q O" + string(make32('x')), status: StatusKeyENOENT, want: "CLIENT_ERROR opaque token too long\r\n"},
		// ms
		{line: "ms k 1", status: StatusSuccess, cas: 9, want: "HD\r\n"},
		{line: "ms k 1 q", status: StatusSuccess, want: ""},
		{line: "ms k 1 c k Oz s", status: StatusSuccess, cas: 9, want: "HD c9 kk Oz s1\r\n"},
		{line: "ms k 1 c k q", status: StatusKeyEEXISTS, cas: 9, want: "EX c0 kk\r\n"},
		{line: "ms k 1 ME c", status: StatusKeyEEXISTS, want: "NS c0\r\n"},
		{line: "ms k 1 MR", status: StatusKeyENOENT, want: "NS\r\n"},
		{line: "ms k 1 MR C5", status: StatusKeyENOENT, want: "NF\r\n"},
		{line: "ms k 1 C5", status: StatusKeyENOENT, want: "NF\r\n"},
		{line: "ms k 1 C5", status: StatusKeyEEXISTS, want: "EX\r\n"},
		{line: "ms k 1 MA", status: StatusNotStored, want: "NS\r\n"},
		{line: "ms k 1 C0 k", status: StatusSuccess, want: "EX kk\r\n"},
		{line: "ms k 1 C0", status: StatusKeyENOENT, want: "NF\r\n"},
		{line: "ms k 1 q", status: StatusE2BIG, want: "SERVER_ERROR object too large for cache\r\n"},
		{line: "ms Zm9v 1 b k", key: "foo", status: StatusSuccess, want: "HD kZm9v b\r\n"},
		// md
		{line: "md k", status: StatusSuccess, want: "HD\r\n"},
		{line: "md k q", status: StatusSuccess, want: ""},
		{line: "md k q k Oa", status: StatusKeyENOENT, want: "NF kk Oa\r\n"},
		{line: "md k C5 Oa", status: StatusKeyEEXISTS, want: "EX Oa\r\n"},
		{line: "md k C0", status: StatusSuccess, want: "EX\r\n"},
		{line: "md k C0", status: StatusKeyENOENT, want: "NF\r\n"},
		// ma
		{line: "ma k", status: StatusSuccess, value: counter(6), want: "HD\r\n"},
		{line: "ma k v", status: StatusSuccess, value: counter(16), want: "VA 2\r\n16\r\n"},
		{line: "ma k v c k Oa", status: StatusSuccess, cas: 3, value: counter(1), want: "VA 1 c3 kk Oa\r\n1\r\n"},
		{line: "ma k v q", status: StatusSuccess, value: counter(1), want: ""},
		{line: "ma k q k Oa c", status: StatusKeyENOENT, want: "NF kk Oa\r\n"},
		{line: "ma k", status: StatusKeyEEXISTS, want: "EX\r\n"},
		{line: "ma k q", status: StatusDeltaBadval, want: "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
		{line: "ma k O" + string(make32('x')), status: StatusSuccess, value: counter(1), want: "CLIENT_ERROR opaque token too long\r\n"},
		{line: "ma k O" + string(make32('x')), status: StatusDeltaBadval, want: "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
	} {
		var req TextRequest
		if err := ParseText([]byte(tc.line), 0, &req); err != nil {
			t.Errorf("ParseText(%q): %v", tc.line, err)
			continue
		}
		key := tc.key
		if key == "" {
			key = string(req.Key)
		}
		rc := req.Reply()
		resp := Header{Magic: MagicResponse, Opcode: req.Opcode(), Status: tc.status, CAS: tc.cas}
		got := string(AppendTextReply(nil, &rc, []byte(key), &resp, tc.extras, tc.value))
		if got != tc.want {
			t.Errorf("%q status %v: got %q, want %q", tc.line, tc.status, got, tc.want)
		}
	}
}

func make32(c byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = c
	}
	return b
}

// TestUnlinkReply: the slot that carries the DELETE after a too-large store
// answers the too-large error whatever the DELETE's status.
func TestUnlinkReply(t *testing.T) {
	var req TextRequest
	err := ParseText([]byte("set foo 0 0 100"), 10, &req)
	if err != ErrTextTooLargeSet || !err.Unlink || !err.Swallow || req.DataLen != 102 {
		t.Fatalf("err %+v datalen %d", err, req.DataLen)
	}
	pkt := AppendTextUnlink(nil, &req, 7)
	var h Header
	h.Decode(pkt)
	if h.Opcode != OpDelete || h.Opaque != 7 || string(pkt[HeaderLen:]) != "foo" {
		t.Fatalf("unlink packet %+v %q", h, pkt[HeaderLen:])
	}
	rc := req.UnlinkReply()
	for _, st := range []Status{StatusSuccess, StatusKeyENOENT} {
		resp := Header{Magic: MagicResponse, Opcode: OpDelete, Status: st}
		if got := string(AppendTextReply(nil, &rc, req.Key, &resp, nil, nil)); got != "SERVER_ERROR object too large for cache\r\n" {
			t.Errorf("status %v: %q", st, got)
		}
	}
	if err := ParseText([]byte("set foo 0 0 100 noreply"), 10, &req); err != ErrTextTooLargeSet {
		t.Fatal(err)
	}
	rc = req.UnlinkReply()
	if got := AppendTextReply(nil, &rc, req.Key, &Header{Status: StatusSuccess}, nil, nil); len(got) != 0 {
		t.Errorf("noreply unlink wrote %q", got)
	}
}

// TestLocalReplies pins the helpers for the replies a session makes itself.
func TestLocalReplies(t *testing.T) {
	var req TextRequest
	_ = ParseText([]byte("verbosity 1"), 0, &req)
	rc := req.Reply()
	out := AppendTextLine(nil, &rc, "OK")
	out = AppendTextVersion(out, "1.2.3")
	out = AppendTextStat(out, "version", "1.2.3")
	out = AppendTextStatUint(out, "curr_connections", 10)
	out = AppendTextStatInt(out, "offset", -5)
	out = AppendTextEnd(out)
	out = AppendTextFailure(out, &rc, "node down")
	want := "OK\r\nVERSION 1.2.3\r\nSTAT version 1.2.3\r\nSTAT curr_connections 10\r\nSTAT offset -5\r\nEND\r\nSERVER_ERROR node down\r\n"
	if string(out) != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
	_ = ParseText([]byte("verbosity 1 noreply"), 0, &req)
	rc = req.Reply()
	if out := AppendTextFailure(AppendTextLine(nil, &rc, "OK"), &rc, "x"); len(out) != 0 {
		t.Errorf("noreply wrote %q", out)
	}
	_ = ParseText([]byte("mg k q"), 0, &req)
	rc = req.Reply()
	if out := string(AppendTextFailure(nil, &rc, "timeout")); out != "SERVER_ERROR timeout\r\n" {
		t.Errorf("quiet meta failure: %q", out)
	}
}

// TestAppendTextToBinary pins the binary request of each text command.
func TestAppendTextToBinary(t *testing.T) {
	for _, tc := range []struct {
		line   string
		value  string
		op     Opcode
		extras []byte
		cas    uint64
		body   string // key + value
	}{
		{line: "get foo", op: OpGet, body: "foo"},
		{line: "gat 30 foo", op: OpGAT, extras: []byte{0, 0, 0, 30}, body: "foo"},
		{line: "touch foo -1", op: OpTouch, extras: []byte{0, 0x27, 0x8d, 0x01}, body: "foo"},
		{line: "set foo 5 60 3", value: "abc", op: OpSet, extras: []byte{0, 0, 0, 5, 0, 0, 0, 60}, body: "fooabc"},
		{line: "add foo 5 60 3", value: "abc", op: OpAdd, extras: []byte{0, 0, 0, 5, 0, 0, 0, 60}, body: "fooabc"},
		{line: "replace foo 0 0 1", value: "x", op: OpReplace, extras: make([]byte, 8), body: "foox"},
		{line: "append foo 9 9 1", value: "x", op: OpAppend, body: "foox"},
		{line: "prepend foo 9 9 1", value: "x", op: OpPrepend, body: "foox"},
		{line: "cas foo 1 2 1 77", value: "x", op: OpSet, extras: []byte{0, 0, 0, 1, 0, 0, 0, 2}, cas: 77, body: "foox"},
		{line: "cas foo 1 2 1 0", value: "x", op: OpGet, body: "foo"},
		{line: "delete foo", op: OpDelete, body: "foo"},
		{line: "incr foo 5", op: OpIncrement, extras: []byte{0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, body: "foo"},
		{line: "decr foo 1", op: OpDecrement, extras: []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, body: "foo"},
		{line: "ma foo N60 J7 D2 MD", op: OpDecrement, extras: []byte{0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 60}, body: "foo"},
		{line: "ms foo 1 ME C5 F1", value: "x", op: OpAdd, extras: []byte{0, 0, 0, 1, 0, 0, 0, 0}, body: "foox"},
		{line: "ms foo 1 MA C5", value: "x", op: OpAppend, cas: 5, body: "foox"},
		{line: "md foo C9", op: OpDelete, cas: 9, body: "foo"},
		{line: "mg Zm9v b T5 v", op: OpGAT, extras: []byte{0, 0, 0, 5}, body: "foo"},
	} {
		var req TextRequest
		if err := ParseText([]byte(tc.line), 0, &req); err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		pkt := AppendTextToBinary(nil, &req, req.Key, 0xabcd, []byte(tc.value))
		var h Header
		h.Decode(pkt)
		if h.Magic != MagicRequest || h.Opcode != tc.op || h.Opaque != 0xabcd || h.CAS != tc.cas || h.VBucket != 0 ||
			int(h.ExtrasLen) != len(tc.extras) || int(h.KeyLen) != len(req.Key) || int(h.BodyLen) != len(pkt)-HeaderLen {
			t.Errorf("%q: header %+v", tc.line, h)
			continue
		}
		if ex := pkt[HeaderLen : HeaderLen+len(tc.extras)]; string(ex) != string(tc.extras) {
			t.Errorf("%q: extras % x, want % x", tc.line, ex, tc.extras)
		}
		if body := string(pkt[HeaderLen+len(tc.extras):]); body != tc.body {
			t.Errorf("%q: body %q, want %q", tc.line, body, tc.body)
		}
	}
}

package memcached

import (
	"strconv"
	"strings"
	"testing"
)

// Benchmarks of the text codec's hot paths: frame + parse + translate of a
// request, and reply encoding. All must run at 0 allocs/op.

func BenchmarkTextGet(b *testing.B) {
	buf := []byte("get user:12345\r\n")
	var req TextRequest
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		end, _, st := TextFrame(buf, 1<<20)
		if st != FrameLine {
			b.Fatal("no line")
		}
		if err := ParseText(buf[:end], 0, &req); err != nil {
			b.Fatal(err)
		}
		out = AppendTextToBinary(out[:0], &req, req.Key, 1, nil)
	}
}

func BenchmarkTextSet(b *testing.B) {
	buf := []byte("set user:12345 0 0 10\r\n0123456789\r\n")
	var req TextRequest
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		end, next, _ := TextFrame(buf, 1<<20)
		if err := ParseText(buf[:end], 0, &req); err != nil {
			b.Fatal(err)
		}
		v, err := req.CheckData(buf[next : next+req.DataLen])
		if err != nil {
			b.Fatal(err)
		}
		out = AppendTextToBinary(out[:0], &req, req.Key, 1, v)
	}
}

func BenchmarkTextGet100Keys(b *testing.B) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(10000+i)
	}
	buf := []byte("get " + strings.Join(keys, " ") + "\r\n")
	var req TextRequest
	out := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		end, _, _ := TextFrame(buf, 1<<20)
		if err := ParseText(buf[:end], 0, &req); err != nil {
			b.Fatal(err)
		}
		out = out[:0]
		for k, pos := req.NextKey(0); k != nil; k, pos = req.NextKey(pos) {
			out = AppendTextToBinary(out, &req, k, 1, nil)
		}
	}
	if req.NumKeys != 100 {
		b.Fatalf("NumKeys = %d", req.NumKeys)
	}
}

func BenchmarkTextMetaGet(b *testing.B) {
	buf := []byte("mg user:12345 v f c k Oabc q\r\n")
	var req TextRequest
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		end, _, _ := TextFrame(buf, 1<<20)
		if err := ParseText(buf[:end], 0, &req); err != nil {
			b.Fatal(err)
		}
		out = AppendTextToBinary(out[:0], &req, req.Key, 1, nil)
	}
}

func BenchmarkTextReplyValue(b *testing.B) {
	var req TextRequest
	if err := ParseText([]byte("gets user:12345"), 0, &req); err != nil {
		b.Fatal(err)
	}
	rc := req.Reply()
	resp := Header{Magic: MagicResponse, Opcode: OpGet, Status: StatusSuccess, CAS: 123456789}
	extras := []byte{0, 0, 0, 5}
	value := []byte("0123456789")
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out = AppendTextReply(out[:0], &rc, []byte("user:12345"), &resp, extras, value)
	}
}

func BenchmarkTextReplyMeta(b *testing.B) {
	var req TextRequest
	if err := ParseText([]byte("mg user:12345 v f c k Oabc s"), 0, &req); err != nil {
		b.Fatal(err)
	}
	rc := req.Reply()
	resp := Header{Magic: MagicResponse, Opcode: OpGet, Status: StatusSuccess, CAS: 123456789}
	extras := []byte{0, 0, 0, 5}
	value := []byte("0123456789")
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out = AppendTextReply(out[:0], &rc, req.Key, &resp, extras, value)
	}
}

func BenchmarkTextReplyStored(b *testing.B) {
	var req TextRequest
	if err := ParseText([]byte("set user:12345 0 0 10"), 0, &req); err != nil {
		b.Fatal(err)
	}
	rc := req.Reply()
	resp := Header{Magic: MagicResponse, Opcode: OpSet, Status: StatusSuccess, CAS: 1}
	out := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		out = AppendTextReply(out[:0], &rc, req.Key, &resp, nil, nil)
	}
}

package kvconn

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// scriptServer answers the handshake of one PLAIN login with Duplex, and
// writes a clustermap notification before the reply to each opcode listed
// in pushBefore and after the last reply when pushAfter is set.
func scriptServer(t *testing.T, pushBefore map[memcached.Opcode]bool, pushAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		rd := memcached.NewReader(nc, memcached.ReaderOptions{})
		var p memcached.Packet
		rev := int64(10)
		push := func() []byte {
			var ex [16]byte
			binary.BigEndian.PutUint64(ex[:], 1)
			binary.BigEndian.PutUint64(ex[8:], uint64(rev))
			rev++
			return memcached.AppendServerRequest(nil, memcached.OpClustermapChangeNotification, 0, ex[:], []byte("default"), nil)
		}
		for {
			if err := rd.ReadRequest(&p); err != nil {
				return
			}
			var out []byte
			if pushBefore[p.Opcode] {
				out = push()
			}
			value := []byte(nil)
			switch p.Opcode {
			case memcached.OpHello:
				value = []byte{0, 0x07, 0, 0x08, 0, 0x0c, 0, 0x1f}
			case memcached.OpSASLList:
				value = []byte("PLAIN")
			}
			out = memcached.AppendResponse(out, &p.Header, memcached.StatusSuccess, 0, nil, nil, value)
			if p.Opcode == memcached.OpSelectBucket && pushAfter {
				out = append(out, push()...)
			}
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	})
	return ln.Addr().String()
}

// Pushes between the handshake's replies are skipped; one after the last
// reply stays buffered in Conn.Reader.
func TestDialPushDuringHandshake(t *testing.T) {
	features := []uint16{FeatureXError, FeatureSelectBucket, FeatureDuplex, FeatureClustermapNotificationBrief}
	before := map[memcached.Opcode]bool{memcached.OpSASLList: true, memcached.OpSASLAuth: true, memcached.OpSelectBucket: true}
	addr := scriptServer(t, before, true)
	kc, err := Dial(context.Background(), addr, Options{User: "u", Password: "p", Bucket: "default", Features: features})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer kc.Close()
	if kc.Mech != "PLAIN" || !kc.Has(FeatureClustermapNotificationBrief) {
		t.Fatalf("Mech %q, Features %#x", kc.Mech, kc.Features)
	}
	if kc.Reader.Buffered() == 0 {
		t.Fatal("the push after SELECT_BUCKET's reply is not buffered")
	}
	var p memcached.Packet
	if err := kc.Reader.ReadServerPacket(&p); err != nil {
		t.Fatal(err)
	}
	// Three pushes were skipped (revisions 10-12), the fourth is 13.
	if p.Magic != memcached.MagicServerRequest || p.Opcode != memcached.OpClustermapChangeNotification ||
		string(p.Key) != "default" || binary.BigEndian.Uint64(p.Extras[8:]) != 13 {
		t.Errorf("buffered packet: magic %#x op %#x key %q extras %x; want the push of revision 13", p.Magic, p.Opcode, p.Key, p.Extras)
	}
}

// Without Duplex asked for, a server request is a protocol violation.
func TestDialPushWithoutDuplex(t *testing.T) {
	addr := scriptServer(t, map[memcached.Opcode]bool{memcached.OpSASLList: true}, false)
	_, err := Dial(context.Background(), addr, Options{User: "u", Password: "p", Bucket: "default"})
	if !errors.Is(err, memcached.ErrBadMagic) || !strings.Contains(err.Error(), "read SASL_LIST_MECHS response") {
		t.Errorf("Dial error = %v, want a bad magic reading SASL_LIST_MECHS", err)
	}
}

func TestChooseMechanism(t *testing.T) {
	tests := []struct {
		list        string
		preferPlain bool
		want        string
	}{
		{"SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN", false, "SCRAM-SHA512"},
		{"PLAIN SCRAM-SHA256", false, "SCRAM-SHA256"},
		{"PLAIN SCRAM-SHA1", false, "SCRAM-SHA1"},
		{"GSSAPI PLAIN CRAM-MD5", false, "PLAIN"},
		{"PLAIN", false, "PLAIN"},
		{"SCRAM-SHA5121 PLAINX", false, ""},
		{"", false, ""},
		{"SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN", true, "PLAIN"},
		{"SCRAM-SHA1 SCRAM-SHA256", true, "SCRAM-SHA256"},
		{"", true, ""},
	}
	for _, tt := range tests {
		got := ""
		if i := chooseMechanism(tt.list, tt.preferPlain); i >= 0 {
			got = mechanisms[i].name
		}
		if got != tt.want {
			t.Errorf("chooseMechanism(%q, %v) = %q, want %q", tt.list, tt.preferPlain, got, tt.want)
		}
	}
}

func FuzzChooseMechanism(f *testing.F) {
	for _, s := range []string{"", "PLAIN", "SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN", "  SCRAM-SHA1\tPLAIN ", "GSSAPI"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, list string, preferPlain bool) {
		i := chooseMechanism(list, preferPlain)
		if i < -1 || i >= len(mechanisms) {
			t.Fatalf("chooseMechanism(%q, %v) = %d, out of range", list, preferPlain, i)
		}
		if i >= 0 && !strings.Contains(list, mechanisms[i].name) {
			t.Fatalf("chooseMechanism(%q, %v) = %s, not in the list", list, preferPlain, mechanisms[i].name)
		}
	})
}

// fuzzServer answers whatever the client writes with data, then closes.
func fuzzServer(data []byte) (client net.Conn, wait func()) {
	client, server := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(io.Discard, server) })
	wg.Go(func() {
		_, _ = server.Write(data)
		server.Close()
	})
	return client, func() { client.Close(); wg.Wait() }
}

func fuzzResp(op memcached.Opcode, opaque uint32, st memcached.Status, value string) []byte {
	return memcached.AppendResponse(nil, &memcached.Header{Opcode: op, Opaque: opaque}, st, 0, nil, nil, []byte(value))
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// The handshake survives any server bytes: it returns (an error, usually)
// and never panics or hangs, with and without Duplex.
func FuzzBootstrap(f *testing.F) {
	resp := fuzzResp
	push := memcached.AppendServerRequest(nil, memcached.OpClustermapChangeNotification, 0, make([]byte, 16), []byte("default"), nil)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusUnknownCommand, "")), false, false)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusSuccess, ""), resp(memcached.OpHello, 2, memcached.StatusSuccess, "\x00\x07"),
		resp(memcached.OpSelectBucket, 3, memcached.StatusSuccess, "")), false, false)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusSuccess, "\x00\x07\x00\x08"), resp(memcached.OpSASLList, 2, memcached.StatusSuccess, "PLAIN"),
		resp(memcached.OpSASLAuth, 3, memcached.StatusSuccess, ""), resp(memcached.OpSelectBucket, 4, memcached.StatusSuccess, "")), true, false)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusSuccess, "\x00\x0c\x00\x1f"), push, resp(memcached.OpSASLList, 2, memcached.StatusSuccess, "PLAIN"),
		push, resp(memcached.OpSASLAuth, 3, memcached.StatusSuccess, ""), resp(memcached.OpSelectBucket, 4, memcached.StatusSuccess, ""), push), true, true)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusSuccess, ""), resp(memcached.OpSASLList, 2, memcached.StatusSuccess, "SCRAM-SHA1"),
		resp(memcached.OpSASLAuth, 3, memcached.StatusAuthContinue, "r=abc,s=c2FsdA==,i=4096")), true, false)
	f.Add([]byte{0x81, 0x1f, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, true, true)
	f.Fuzz(func(t *testing.T, data []byte, auth, duplex bool) {
		o := Options{Bucket: "default", Agent: "fuzz", SCRAM: &SCRAMCache{}}
		if auth {
			o.User, o.Password = "user", "password"
		}
		if duplex {
			o.Features = []uint16{FeatureXError, FeatureDuplex, FeatureClustermapNotificationBrief}
		} else {
			o.Features = DefaultFeatures
		}
		nc, wait := fuzzServer(data)
		defer wait()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		b := &bootstrapper{w: nc, rd: memcached.NewReader(nc, memcached.ReaderOptions{MaxBody: 1 << 16}), o: &o, duplex: duplex}
		_ = b.run()
	})
}

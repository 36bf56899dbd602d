package vbmap

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
)

// Vectors from ../shared/PROTOCOL.md (go-couchbase and libvbucket tests) and
// more computed independently with Python's zlib.crc32.
var hashVectors = []struct {
	key  string
	n    int
	want uint16
}{
	// go-couchbase, 256 vBuckets.
	{"k0", 256, 9}, {"k1", 256, 14}, {"k2", 256, 7}, {"k3", 256, 0}, {"k4", 256, 100}, {"k5", 256, 99},
	// libvbucket, 4 vBuckets.
	{"hello", 4, 0}, {"doctor", 4, 0}, {"name", 4, 3}, {"continue", 4, 3},
	{"yesterday", 4, 0}, {"tomorrow", 4, 1}, {"another key", 4, 2},
	// 1024 vBuckets.
	{"k0", 1024, 265}, {"hello", 1024, 528}, {"foo", 1024, 115},
	// zlib.crc32, several counts including a non power of two.
	{"", 1024, 0}, {"a", 64, 55}, {"a", 128, 55}, {"a", 1024, 183}, {"a", 1000, 807},
	{"hello", 64, 16}, {"hello", 1000, 840},
	{"user::1234567890", 64, 63}, {"user::1234567890", 1024, 319}, {"user::1234567890", 1000, 63},
	{strings.Repeat("k", 250), 64, 23}, {strings.Repeat("k", 250), 1024, 151}, {strings.Repeat("k", 250), 1000, 175},
	{"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 128, 78},
	{"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 1024, 718},
	{"anything", 1, 0},
}

func TestVBucketVectors(t *testing.T) {
	for _, v := range hashVectors {
		if got := VBucket([]byte(v.key), v.n); got != v.want {
			t.Errorf("VBucket(%q, %d) = %d, want %d", v.key, v.n, got, v.want)
		}
		m := uniformMap(t, v.n, 1)
		if got := m.VBucket([]byte(v.key)); got != v.want {
			t.Errorf("Map(%d).VBucket(%q) = %d, want %d", v.n, v.key, got, v.want)
		}
	}
}

func TestVBucketNonPositiveCount(t *testing.T) {
	for _, n := range []int{0, -1} {
		if got := VBucket([]byte("k0"), n); got != 0 {
			t.Errorf("VBucket(k0, %d) = %d, want 0", n, got)
		}
	}
}

// refCRC32 is a bitwise reflected CRC-32 (poly 0xEDB88320), independent of
// hash/crc32's table and assembly implementations.
func refCRC32(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xEDB88320
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestVBucketMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	counts := []int{1, 4, 64, 128, 256, 1000, 1024, 4096, 65536}
	maps := make([]*Map, len(counts))
	for i, n := range counts {
		maps[i] = uniformMap(t, n, 3)
	}
	key := make([]byte, 0, 300)
	for range 2000 {
		key = key[:r.IntN(300)]
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		h := (refCRC32(key) >> 16) & 0x7fff
		for i, n := range counts {
			want := uint16(h % uint32(n))
			if got := VBucket(key, n); got != want {
				t.Fatalf("VBucket(%x, %d) = %d, want %d", key, n, got, want)
			}
			if got := maps[i].VBucket(key); got != want {
				t.Fatalf("Map(%d).VBucket(%x) = %d, want %d", n, key, got, want)
			}
		}
	}
}

// uniformMap builds a map of n vBuckets over nodes nodes via Parse.
func uniformMap(tb testing.TB, n, nodes int) *Map {
	tb.Helper()
	m, err := Parse(uniformConfig(n, nodes, 1, ""), ParseOptions{})
	if err != nil {
		tb.Fatalf("uniformMap(%d, %d): %v", n, nodes, err)
	}
	return m
}

// uniformConfig returns a config JSON of n vBuckets spread round-robin over
// nodes nodes at 127.0.0.1:20000+i, with the given rev (0 = omitted) and
// extra top-level fields (e.g. `"revEpoch":1,`).
func uniformConfig(n, nodes int, rev int64, extra string) []byte {
	var b bytes.Buffer
	b.WriteString("{")
	b.WriteString(extra)
	if rev > 0 {
		fmt.Fprintf(&b, `"rev":%d,`, rev)
	}
	b.WriteString(`"name":"default","nodeLocator":"vbucket","vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":1,"serverList":[`)
	for i := range nodes {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"127.0.0.1:%d"`, 20000+i)
	}
	b.WriteString(`],"vBucketMap":[`)
	for vb := range n {
		if vb > 0 {
			b.WriteByte(',')
		}
		replica := -1
		if nodes > 1 {
			replica = (vb + 1) % nodes
		}
		fmt.Fprintf(&b, "[%d,%d]", vb%nodes, replica)
	}
	b.WriteString("]}}")
	return b.Bytes()
}

var sinkVB uint16

func BenchmarkVBucket(b *testing.B) {
	key := []byte("user::1234567890") // 16 bytes
	b.ReportAllocs()
	for b.Loop() {
		sinkVB = VBucket(key, 1024)
	}
}

func BenchmarkMapVBucket(b *testing.B) {
	for _, n := range []int{64, 1000, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := uniformMap(b, n, 3)
			key := []byte("user::1234567890")
			b.ReportAllocs()
			for b.Loop() {
				sinkVB = m.VBucket(key)
			}
		})
	}
}

func TestChecksumIEEEMatchesStdlib(t *testing.T) {
	buf := make([]byte, 300)
	r := rand.New(rand.NewPCG(3, 4))
	for n := range len(buf) {
		for i := range buf[:n] {
			buf[i] = byte(r.Uint32())
		}
		if got, want := checksumIEEE(buf[:n]), crc32.ChecksumIEEE(buf[:n]); got != want {
			t.Fatalf("checksumIEEE(len %d) = %#x, want %#x", n, got, want)
		}
		if got, want := checksumIEEE(buf[:n]), refCRC32(buf[:n]); got != want {
			t.Fatalf("checksumIEEE(len %d) = %#x, reference %#x", n, got, want)
		}
	}
}

var sinkCRC uint32

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{16, 63, 64, 250} {
		key := bytes.Repeat([]byte{'k'}, n)
		b.Run(fmt.Sprintf("vbmap/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkCRC = checksumIEEE(key)
			}
		})
		b.Run(fmt.Sprintf("stdlib/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkCRC = crc32.ChecksumIEEE(key)
			}
		})
	}
}

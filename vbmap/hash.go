package vbmap

import (
	"encoding/binary"
	"hash/crc32"
)

// VBucket returns the vBucket of key in a bucket with numVBuckets vBuckets:
// ((crc32.ChecksumIEEE(key) >> 16) & 0x7fff) % numVBuckets. It returns 0 when
// numVBuckets is not positive.
func VBucket(key []byte, numVBuckets int) uint16 {
	if numVBuckets <= 0 {
		return 0
	}
	h := (checksumIEEE(key) >> 16) & 0x7fff
	return uint16(h % uint32(numVBuckets))
}

// slicingMin is the key length from which hash/crc32 (CLMUL-accelerated on
// amd64 and arm64 for 64 bytes and more) beats the table below. Shorter keys,
// the common case, take the slicing-by-8 path: about 3x faster than
// crc32.ChecksumIEEE for a 16-byte key (see BenchmarkChecksum).
const slicingMin = 64

// ieeeTable8 is the slicing-by-8 table of the reflected IEEE polynomial. It
// is computed once and only read.
var ieeeTable8 = makeSlicing8(crc32.IEEE)

func makeSlicing8(poly uint32) *[8][256]uint32 {
	t := new([8][256]uint32)
	for i := range 256 {
		crc := uint32(i)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ poly
			} else {
				crc >>= 1
			}
		}
		t[0][i] = crc
	}
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ crc>>8
			t[j][i] = crc
		}
	}
	return t
}

// checksumIEEE equals crc32.ChecksumIEEE(p).
func checksumIEEE(p []byte) uint32 {
	if len(p) >= slicingMin {
		return crc32.ChecksumIEEE(p)
	}
	t := ieeeTable8
	crc := ^uint32(0)
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint32(p)
		crc = t[0][p[7]] ^ t[1][p[6]] ^ t[2][p[5]] ^ t[3][p[4]] ^
			t[4][crc>>24] ^ t[5][crc>>16&0xff] ^ t[6][crc>>8&0xff] ^ t[7][crc&0xff]
		p = p[8:]
	}
	for _, c := range p {
		crc = t[0][byte(crc)^c] ^ crc>>8
	}
	return ^crc
}

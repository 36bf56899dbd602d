package vbmap

import "hash/crc32"

// VBucket returns the vBucket of key in a bucket with numVBuckets vBuckets:
// ((crc32.ChecksumIEEE(key) >> 16) & 0x7fff) % numVBuckets. It returns 0 when
// numVBuckets is not positive.
func VBucket(key []byte, numVBuckets int) uint16 {
	if numVBuckets <= 0 {
		return 0
	}
	h := (crc32.ChecksumIEEE(key) >> 16) & 0x7fff
	return uint16(h % uint32(numVBuckets))
}

package sim

import "hash/crc32"

// vbucketOf is the Couchbase vBucket hash: the oracle uses it to find a key's
// vBucket. (vbmap.VBucket is the same function; sim does not import vbmap.)
func vbucketOf(key []byte, numVBuckets int) int {
	return int(((crc32.ChecksumIEEE(key) >> 16) & 0x7fff) % uint32(numVBuckets))
}

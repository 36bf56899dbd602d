package admin

import (
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

// FuzzKeyParam: whatever the query, the key parser either names the bad
// parameter or returns a key within memcached's limits.
func FuzzKeyParam(f *testing.F) {
	f.Add("user:1", "", true, false)
	f.Add("", "AP94", false, true)
	f.Add("", "AP-_", false, true)
	f.Add("a", "YQ==", true, true)
	f.Add("", "!!!", false, true)
	f.Fuzz(func(t *testing.T, plain, b64 string, hasPlain, hasB64 bool) {
		key, field, err := keyParam(plain, b64, hasPlain, hasB64)
		if err != nil {
			if field != "key" && field != "key_b64" {
				t.Fatalf("error %v names field %q", err, field)
			}
			if key != nil {
				t.Fatalf("error %v with a key %q", err, key)
			}
			return
		}
		if len(key) == 0 || len(key) > memcached.MaxKeyLen {
			t.Fatalf("key of %d bytes accepted", len(key))
		}
		if !hasB64 && string(key) != plain {
			t.Fatalf("key %q, want the plain parameter %q", key, plain)
		}
	})
}

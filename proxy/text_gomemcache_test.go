package proxy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/vbproxy/vbproxy/sim"
)

// TestTextGomemcache drives the proxy over the simulated cluster with
// github.com/bradfitz/gomemcache, a Go text-protocol client used
// unmodified: every call it has, with the outcomes it defines
// (ErrCacheMiss, ErrNotStored, ErrCASConflict), GetMulti across nodes, and
// concurrent use of its connection pool.
func TestTextGomemcache(t *testing.T) {
	_, _, addr, src := simCluster(t, sim.Options{}, Options{})
	mc := memcache.New(addr)
	mc.Timeout = 5 * time.Second
	t.Cleanup(func() { _ = mc.Close() })

	must(t, mc.Ping())
	must(t, mc.Set(&memcache.Item{Key: "gm-a", Value: []byte("alpha"), Flags: 42}))
	it, err := mc.Get("gm-a")
	must(t, err)
	if string(it.Value) != "alpha" || it.Flags != 42 || it.CasID == 0 {
		t.Fatalf("Get gm-a = %q flags %d cas %d, want alpha, 42, a CAS", it.Value, it.Flags, it.CasID)
	}
	if _, err := mc.Get("gm-missing"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Get of a missing key: %v, want ErrCacheMiss", err)
	}

	// Add and Replace.
	if err := mc.Add(&memcache.Item{Key: "gm-a", Value: []byte("x")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Add of an existing key: %v, want ErrNotStored", err)
	}
	must(t, mc.Add(&memcache.Item{Key: "gm-b", Value: []byte("beta")}))
	if err := mc.Replace(&memcache.Item{Key: "gm-missing", Value: []byte("x")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Replace of a missing key: %v, want ErrNotStored", err)
	}
	must(t, mc.Replace(&memcache.Item{Key: "gm-b", Value: []byte("BETA")}))
	checkGet(t, mc, "gm-b", "BETA")

	// Append and Prepend.
	must(t, mc.Append(&memcache.Item{Key: "gm-b", Value: []byte("++")}))
	must(t, mc.Prepend(&memcache.Item{Key: "gm-b", Value: []byte("--")}))
	checkGet(t, mc, "gm-b", "--BETA++")
	if err := mc.Append(&memcache.Item{Key: "gm-missing", Value: []byte("x")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Append to a missing key: %v, want ErrNotStored", err)
	}

	// CompareAndSwap: the CAS from Get wins once, then conflicts.
	it, err = mc.Get("gm-a")
	must(t, err)
	it.Value = []byte("swapped")
	must(t, mc.CompareAndSwap(it))
	it.Value = []byte("stale")
	if err := mc.CompareAndSwap(it); !errors.Is(err, memcache.ErrCASConflict) {
		t.Fatalf("CompareAndSwap with a stale CAS: %v, want ErrCASConflict", err)
	}
	checkGet(t, mc, "gm-a", "swapped")

	// Increment and Decrement.
	must(t, mc.Set(&memcache.Item{Key: "gm-n", Value: []byte("10")}))
	if v, err := mc.Increment("gm-n", 5); err != nil || v != 15 {
		t.Fatalf("Increment = %d, %v; want 15", v, err)
	}
	if v, err := mc.Decrement("gm-n", 20); err != nil || v != 0 {
		t.Fatalf("Decrement below 0 = %d, %v; want 0", v, err)
	}
	if _, err := mc.Increment("gm-missing", 1); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Increment of a missing key: %v, want ErrCacheMiss", err)
	}
	if _, err := mc.Increment("gm-a", 1); err == nil || !strings.Contains(err.Error(), "non-numeric") {
		t.Fatalf("Increment of a non-number: %v, want the non-numeric error", err)
	}

	// Touch and GetAndTouch.
	must(t, mc.Touch("gm-a", 100))
	if err := mc.Touch("gm-missing", 100); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Touch of a missing key: %v, want ErrCacheMiss", err)
	}
	it, err = mc.GetAndTouch("gm-a", 100)
	must(t, err)
	if string(it.Value) != "swapped" {
		t.Fatalf("GetAndTouch = %q, want swapped", it.Value)
	}
	must(t, mc.Set(&memcache.Item{Key: "gm-exp", Value: []byte("x"), Expiration: -1}))
	if _, err := mc.Get("gm-exp"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Get after a negative expiration: %v, want ErrCacheMiss", err)
	}

	// Delete.
	must(t, mc.Delete("gm-b"))
	if err := mc.Delete("gm-b"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Delete of a deleted key: %v, want ErrCacheMiss", err)
	}

	// GetMulti across the three nodes, with misses.
	keys := keysOnEveryNode(t, src.Current(), "gm-multi-", 10)
	for i, k := range keys {
		if i%3 != 2 {
			must(t, mc.Set(&memcache.Item{Key: k, Value: []byte("v:" + k), Flags: uint32(i)}))
		}
	}
	got, err := mc.GetMulti(append(keys, "gm-missing"))
	must(t, err)
	for i, k := range keys {
		it, ok := got[k]
		switch {
		case i%3 == 2 && ok:
			t.Errorf("GetMulti: %s present, want a miss", k)
		case i%3 != 2 && (!ok || string(it.Value) != "v:"+k || it.Flags != uint32(i)):
			t.Errorf("GetMulti: %s = %+v, want v:%s flags %d", k, it, k, i)
		}
	}
	if len(got) != 20 {
		t.Errorf("GetMulti returned %d items, want 20", len(got))
	}

	// flush_all is refused under the default flush policy.
	if err := mc.DeleteAll(); err == nil || !strings.Contains(err.Error(), "flush_all not allowed") {
		t.Errorf("DeleteAll: %v, want the flush_all refusal", err)
	}

	// The pool used by 20 goroutines at once.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for g := range 20 {
		wg.Go(func() {
			for i := range 50 {
				k := fmt.Sprintf("gm-conc-%d-%d", g, i)
				if err := mc.Set(&memcache.Item{Key: k, Value: []byte(k)}); err != nil {
					errs <- fmt.Errorf("Set %s: %w", k, err)
					return
				}
				if it, err := mc.Get(k); err != nil || string(it.Value) != k {
					errs <- fmt.Errorf("Get %s: %v %v", k, it, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func checkGet(t *testing.T, mc *memcache.Client, key, want string) {
	t.Helper()
	it, err := mc.Get(key)
	if err != nil || string(it.Value) != want {
		t.Fatalf("Get %s = %v %v, want %q", key, it, err, want)
	}
}

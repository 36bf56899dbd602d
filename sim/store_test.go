package sim

import (
	"strconv"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

const sec = int64(1e9)

func TestStoreModes(t *testing.T) {
	const now = 1000 * sec
	tests := []struct {
		name      string
		existing  bool
		mode      storeMode
		cas       uint64 // 0, or existingCAS, or a wrong one
		want      memcached.Status
		wantValue string
	}{
		{"set new", false, modeSet, 0, memcached.StatusSuccess, "new"},
		{"set existing", true, modeSet, 0, memcached.StatusSuccess, "new"},
		{"set cas match", true, modeSet, 7, memcached.StatusSuccess, "new"},
		{"set cas mismatch", true, modeSet, 8, memcached.StatusKeyEEXISTS, "old"},
		{"set cas missing", false, modeSet, 7, memcached.StatusKeyENOENT, ""},
		{"add new", false, modeAdd, 0, memcached.StatusSuccess, "new"},
		{"add existing", true, modeAdd, 0, memcached.StatusKeyEEXISTS, "old"},
		{"add with cas", false, modeAdd, 7, memcached.StatusEINVAL, ""},
		{"replace missing", false, modeReplace, 0, memcached.StatusKeyENOENT, ""},
		{"replace existing", true, modeReplace, 0, memcached.StatusSuccess, "new"},
		{"replace cas mismatch", true, modeReplace, 9, memcached.StatusKeyEEXISTS, "old"},
		{"append missing", false, modeAppend, 0, memcached.StatusNotStored, ""},
		{"append existing", true, modeAppend, 0, memcached.StatusSuccess, "oldnew"},
		{"append cas mismatch", true, modeAppend, 9, memcached.StatusKeyEEXISTS, "old"},
		{"prepend existing", true, modePrepend, 7, memcached.StatusSuccess, "newold"},
		{"prepend missing", false, modePrepend, 0, memcached.StatusNotStored, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCollStore()
			if tt.existing {
				s.items["k"] = item{value: []byte("old"), flags: 5, cas: 7}
			}
			m, got := s.store(tt.mode, []byte("k"), []byte("new"), 9, 0, tt.cas, 100, now)
			if got != tt.want {
				t.Fatalf("status %s, want %s", got, tt.want)
			}
			it, ok := s.get([]byte("k"), now)
			if gotV := string(it.value); gotV != tt.wantValue || ok != (tt.wantValue != "") {
				t.Errorf("stored %q (present %v), want %q", gotV, ok, tt.wantValue)
			}
			if got == memcached.StatusSuccess {
				if m.it.cas != 100 {
					t.Errorf("cas %d, want 100", m.it.cas)
				}
				wantFlags := uint32(9)
				if tt.mode == modeAppend || tt.mode == modePrepend {
					wantFlags = 5
				}
				if it.flags != wantFlags {
					t.Errorf("flags %d, want %d", it.flags, wantFlags)
				}
			}
		})
	}
}

func TestStoreAppendTooLarge(t *testing.T) {
	s := newCollStore()
	s.items["k"] = item{value: make([]byte, MaxValueLen), cas: 1}
	if _, got := s.store(modeAppend, []byte("k"), []byte("x"), 0, 0, 0, 2, 0); got != memcached.StatusE2BIG {
		t.Fatalf("append past the limit: %s, want E2BIG", got)
	}
}

func TestStoreDelete(t *testing.T) {
	tests := []struct {
		name     string
		existing bool
		cas      uint64
		want     memcached.Status
	}{
		{"missing", false, 0, memcached.StatusKeyENOENT},
		{"existing", true, 0, memcached.StatusSuccess},
		{"cas match", true, 7, memcached.StatusSuccess},
		{"cas mismatch", true, 8, memcached.StatusKeyEEXISTS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCollStore()
			if tt.existing {
				s.items["k"] = item{value: []byte("v"), cas: 7}
			}
			m, got := s.del([]byte("k"), tt.cas, 0)
			if got != tt.want {
				t.Fatalf("status %s, want %s", got, tt.want)
			}
			_, present := s.items["k"]
			if wantPresent := tt.existing && got != memcached.StatusSuccess; present != wantPresent {
				t.Errorf("present %v, want %v", present, wantPresent)
			}
			if m.deleted != (got == memcached.StatusSuccess) {
				t.Errorf("mutation.deleted %v, want %v", m.deleted, got == memcached.StatusSuccess)
			}
		})
	}
}

func TestStoreArith(t *testing.T) {
	tests := []struct {
		name    string
		old     string // "" = missing
		incr    bool
		delta   uint64
		initial uint64
		exp     uint32
		want    memcached.Status
		wantV   uint64
	}{
		{"incr creates", "", true, 5, 10, 0, memcached.StatusSuccess, 10},
		{"decr creates", "", false, 5, 10, 0, memcached.StatusSuccess, 10},
		{"no create", "", true, 5, 10, noCreate, memcached.StatusKeyENOENT, 0},
		{"incr", "41", true, 1, 0, 0, memcached.StatusSuccess, 42},
		{"incr wraps", "18446744073709551615", true, 2, 0, 0, memcached.StatusSuccess, 1},
		{"decr", "10", false, 3, 0, 0, memcached.StatusSuccess, 7},
		{"decr floors at zero", "3", false, 10, 0, 0, memcached.StatusSuccess, 0},
		{"non numeric", "abc", true, 1, 0, 0, memcached.StatusDeltaBadval, 0},
		{"too long", "123456789012345678901", true, 1, 0, 0, memcached.StatusDeltaBadval, 0},
		{"overflowing", "18446744073709551616", true, 1, 0, 0, memcached.StatusDeltaBadval, 0},
		{"empty", "\x00", true, 1, 0, 0, memcached.StatusDeltaBadval, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCollStore()
			if tt.old != "" {
				v := tt.old
				if v == "\x00" {
					v = ""
				}
				s.items["k"] = item{value: []byte(v), flags: 3, cas: 1}
			}
			got, _, st := s.arith(tt.incr, []byte("k"), tt.delta, tt.initial, tt.exp, 0, 2, 0)
			if st != tt.want || got != tt.wantV {
				t.Fatalf("got %d %s, want %d %s", got, st, tt.wantV, tt.want)
			}
			if st == memcached.StatusSuccess {
				if v := string(s.items["k"].value); v != strconv.FormatUint(tt.wantV, 10) {
					t.Errorf("stored %q, want %d", v, tt.wantV)
				}
				if tt.old != "" && s.items["k"].flags != 3 {
					t.Errorf("flags %d, want 3 (kept)", s.items["k"].flags)
				}
			}
		})
	}
}

func TestStoreArithCAS(t *testing.T) {
	s := newCollStore()
	s.items["k"] = item{value: []byte("1"), cas: 7}
	if _, _, st := s.arith(true, []byte("k"), 1, 0, 0, 8, 9, 0); st != memcached.StatusKeyEEXISTS {
		t.Errorf("wrong cas: %s, want KEY_EEXISTS", st)
	}
	if v, _, st := s.arith(true, []byte("k"), 1, 0, 0, 7, 9, 0); st != memcached.StatusSuccess || v != 2 {
		t.Errorf("right cas: %d %s, want 2 SUCCESS", v, st)
	}
}

func TestExpiry(t *testing.T) {
	const now = 2_000_000_000 * sec
	tests := []struct {
		exp  uint32
		want int64
	}{
		{0, 0},
		{1, now + sec},
		{relativeExpiryLimit, now + relativeExpiryLimit*sec},
		{relativeExpiryLimit + 1, (relativeExpiryLimit + 1) * sec}, // absolute, long past
		{2_000_000_100, 2_000_000_100 * sec},
	}
	for _, tt := range tests {
		if got := expiryAt(tt.exp, now); got != tt.want {
			t.Errorf("expiryAt(%d) = %d, want %d", tt.exp, got, tt.want)
		}
	}
	s := newCollStore()
	s.items["k"] = item{value: []byte("v"), exp: now + sec}
	if _, ok := s.get([]byte("k"), now); !ok {
		t.Error("item missing before its expiry")
	}
	if _, ok := s.get([]byte("k"), now+sec); ok {
		t.Error("item present at its expiry")
	}
	if _, ok := s.items["k"]; ok {
		t.Error("expired item not removed")
	}
}

func TestTouch(t *testing.T) {
	s := newCollStore()
	if _, st := s.touch([]byte("k"), 5, 1, 0); st != memcached.StatusKeyENOENT {
		t.Errorf("touch missing: %s, want KEY_ENOENT", st)
	}
	s.items["k"] = item{value: []byte("v"), cas: 1}
	m, st := s.touch([]byte("k"), 5, 2, 0)
	if st != memcached.StatusSuccess || m.it.exp != 5 || m.it.cas != 2 || string(m.it.value) != "v" {
		t.Errorf("touch: %+v %s, want exp 5 cas 2 value v", m.it, st)
	}
}

func TestParseCounter(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"1 ", 0, false},
		{"00000000000000000001", 1, true},
	}
	for _, tt := range tests {
		got, ok := parseCounter([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCounter(%q) = %d %v, want %d %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseCounter(f *testing.F) {
	for _, s := range []string{"0", "42", "18446744073709551615", "18446744073709551616", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseCounter([]byte(s))
		want, err := strconv.ParseUint(s, 10, 64)
		wantOK := err == nil && len(s) <= 20 && s != "" && s[0] != '+'
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("parseCounter(%q) = %d %v, strconv says %d %v", s, got, ok, want, err)
		}
	})
}

package vbmap

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestPeekRevision(t *testing.T) {
	tests := []struct {
		in     string
		want   Revision
		wantOK bool
	}{
		{`{"rev":1073,"revEpoch":1}`, Revision{1, 1073}, true},
		{`{"revEpoch":2, "rev" : 5}`, Revision{2, 5}, true},
		{` {"rev":7}`, Revision{0, 7}, true},
		{`{"a":{"rev":9},"rev":3}`, Revision{0, 3}, true},             // nested rev ignored
		{`{"a":[{"rev":9}],"b":"rev","rev":4}`, Revision{0, 4}, true}, // string value "rev" is not a key
		{`{"a":"x\"rev\":8","rev":2}`, Revision{0, 2}, true},          // escaped quotes
		{`{"rev":1,"rev":6}`, Revision{0, 6}, true},                   // last wins
		{`{"a":{"rev":9}}`, Revision{}, false},
		{`{"rev":"12"}`, Revision{}, false},
		{`{"rev":1`, Revision{}, false},
		{`{"rev":1}}`, Revision{}, false},
		{`[{"rev":1}]`, Revision{}, false},
		{`{"x":"unterminated`, Revision{}, false},
		{``, Revision{}, false},
	}
	for _, tt := range tests {
		got, ok := peekRevision([]byte(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("peekRevision(%s) = (%v, %v), want (%v, %v)", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

// On every valid config in testdata the peek agrees with encoding/json.
func TestPeekRevisionMatchesJSON(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkPeek(t, data, true)
	}
}

// checkPeek: when peekRevision answers, it agrees with encoding/json; with
// requireOK it must answer whenever encoding/json finds a rev.
func checkPeek(t *testing.T, data []byte, requireOK bool) {
	t.Helper()
	var want struct {
		Rev      *int64 `json:"rev"`
		RevEpoch int64  `json:"revEpoch"`
	}
	if json.Unmarshal(data, &want) != nil || want.Rev == nil {
		return // the peek may say anything; Parse decides
	}
	got, ok := peekRevision(data)
	if !ok && !requireOK {
		return
	}
	if !ok || got != (Revision{want.RevEpoch, *want.Rev}) {
		t.Fatalf("peekRevision = (%v, %v), encoding/json says %d/%d for %.200s", got, ok, want.RevEpoch, *want.Rev, data)
	}
}

func FuzzPeekRevision(f *testing.F) {
	f.Add([]byte(`{"rev":1073,"revEpoch":1,"vBucketServerMap":{"vBucketMap":[[0,1]]}}`))
	f.Add([]byte(`{"a":"\"rev\":1","rev":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPeek(t, data, false)
	})
}

func TestPeekRevisionDefersOddKeys(t *testing.T) {
	for _, in := range []string{`{"REV":5}`, `{"rev":1,"Rev":5}`, `{"re\u0076":5}`, `{"rev":1,"revepoch":2}`} {
		if got, ok := peekRevision([]byte(in)); ok {
			t.Errorf("peekRevision(%s) = (%v, true), want false (left to Parse)", in, got)
		}
	}
}

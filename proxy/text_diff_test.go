package proxy

import (
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/internal/textdiff"
)

// diffCases are the textdiff cases a proxy in front of memcached must
// answer byte for byte as memcached: every case but those vbproxy answers
// differently by design (ProxyDiffers, logged with the reason), except that
// flush_all is included because the proxy allows it here.
func diffCases(t *testing.T, cases []textdiff.Case, wantFlush bool) []textdiff.Case {
	var out []textdiff.Case
	flush := 0
	for _, c := range cases {
		switch {
		case c.ProxyDiffers == "":
		case strings.HasPrefix(c.Name, "flush_all"):
			flush++ // differs only under a flush policy that refuses it
		default:
			t.Logf("excluded %s: %s", c.Name, c.ProxyDiffers)
			continue
		}
		out = append(out, c)
	}
	if wantFlush && flush == 0 {
		t.Fatalf("no flush_all case in the table")
	}
	return out
}

// TestTextDiffMemcached sends every hand-written textdiff case and 300
// generated ones to a real memcached and to vbproxy in front of three real
// memcached servers (all started with textdiff.MemcachedArgs, the same -I)
// with a static map: the replies must be byte-identical after the runner's
// normalisation (CAS values, the version string, stats lines).
func TestTextDiffMemcached(t *testing.T) {
	direct := mctest.Start(t, textdiff.MemcachedArgs...)
	var nodes []string
	for range 3 {
		nodes = append(nodes, mctest.Start(t, textdiff.MemcachedArgs...))
	}
	_, addr := startProxy(t, Options{Map: newTestSource(staticMap(t, 1, nodes, 1024)), AllowFlush: true})
	t.Run("cases", func(t *testing.T) {
		textdiff.Run(t, direct, addr, diffCases(t, textdiff.Cases(), true))
	})
	t.Run("generated", func(t *testing.T) {
		textdiff.Run(t, direct, addr, diffCases(t, textdiff.Generate(14, 300), false))
	})
}

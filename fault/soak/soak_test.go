package soak

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/internal/netns"
)

var (
	soakDuration = flag.Duration("soak.duration", 60*time.Second, "how long TestSoak runs (make soak sets SOAK)")
	soakSeed     = flag.Uint64("soak.seed", 0, "random seed of the workload and the driver (0: from the clock)")
	soakOut      = flag.String("soak.out", os.Getenv("SOAK_REPORT"), "also write the soak's report to this `file`")
)

// TestSoak runs the soak (60 s in make test) and fails unless its verdict
// is PASS: no lost acknowledged write, no stale read, CAS and incr
// consistent, no unexpected status.
func TestSoak(t *testing.T) {
	lab := netns.New(t)
	bin, err := fault.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := Run(lab, Options{Duration: *soakDuration, Seed: *soakSeed, Bin: bin, Dir: t.TempDir(), Out: &out})
	t.Log("\n" + out.String())
	if *soakOut != "" {
		if werr := os.WriteFile(*soakOut, []byte(out.String()), 0o644); werr != nil {
			t.Error(werr)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !res.Pass || !strings.HasSuffix(last, ": PASS") {
		t.Errorf("soak verdict: %s", last)
	}
	if res.Ops == 0 {
		t.Errorf("the soak made no request")
	}
}

package textdiff

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/internal/mctest"
)

// TestRunIdenticalServers runs every hand-written and generated case
// against two real memcached servers started alike: the runner must find no
// difference, which shows the cases are deterministic and the
// normalisation sufficient.
func TestRunIdenticalServers(t *testing.T) {
	a := mctest.Start(t, MemcachedArgs...)
	b := mctest.Start(t, MemcachedArgs...)
	Run(t, a, b, Cases())
	Run(t, a, b, Generate(1, 40))
}

// TestCompareFindsDifferences pins that Compare reports a difference when
// the servers answer differently: the second memcached has the default 1 MB
// item limit, so the 1.5 MB value is STORED on one side only.
func TestCompareFindsDifferences(t *testing.T) {
	a := mctest.Start(t, MemcachedArgs...)
	b := mctest.Start(t) // default -I 1m
	c := caseNamed(t, "set_value_over_1mb_default")
	diffs, err := Compare(a, b, c, Prefix(RunID(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 {
		t.Fatalf("got %d differences, want 1: %q", len(diffs), diffs)
	}
	for _, want := range []string{"memcached: \"STORED\\r\\n", "proxied:   \"SERVER_ERROR object too large for cache\\r\\n"} {
		if !strings.Contains(diffs[0], want) {
			t.Errorf("difference %q does not contain %q", diffs[0], want)
		}
	}
}

// TestRunFailsOnDifference runs Run in a child test process against servers
// that differ and checks that the child fails and names the case.
func TestRunFailsOnDifference(t *testing.T) {
	if os.Getenv("TEXTDIFF_CHILD") == "1" {
		t.Skip("only the child runs the differing servers")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildRunDiffers$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TEXTDIFF_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child passed against differing servers:\n%s", out)
	}
	for _, want := range []string{"--- FAIL: TestChildRunDiffers/set_value_over_1mb_default", "SERVER_ERROR object too large for cache"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestChildRunDiffers is the child of TestRunFailsOnDifference; it does
// nothing in a normal run.
func TestChildRunDiffers(t *testing.T) {
	if os.Getenv("TEXTDIFF_CHILD") != "1" {
		return
	}
	a := mctest.Start(t, MemcachedArgs...)
	b := mctest.Start(t)
	Run(t, a, b, []Case{caseNamed(t, "set_value_over_1mb_default")})
}

// TestNormalize pins what normalisation rewrites and what it keeps.
func TestNormalize(t *testing.T) {
	st := &state{prefix: "p_", lastCAS: map[string]string{}}
	var names casNames
	raw := "VALUE p_a 0 1 77\r\nx\r\nVALUE p_b 0 3 77\r\nc99\r\nEND\r\n" +
		"HD c77 kp_a\r\nHD c78 kp_a\r\nVA 2 c5 kp_b\r\nc7\r\nEX c0\r\n" +
		"VERSION 1.6.18\r\nSTAT pid 1\r\nSTAT uptime 2\r\nEND\r\nHD kcAA= b c12\r\n"
	got := normalize([]byte(raw), st, &names)
	want := "VALUE p_a 0 1 <cas p_a #1>\r\nx\r\nVALUE p_b 0 3 <cas p_b #1>\r\nc99\r\nEND\r\n" +
		"HD c<cas p_a #1> kp_a\r\nHD c<cas p_a #2> kp_a\r\nVA 2 c<cas p_b #2> kp_b\r\nc7\r\nEX c0\r\n" +
		"VERSION <version>\r\nSTAT <stats>\r\nEND\r\nHD kcAA= b c<cas p\x00 #1>\r\n"
	if got != want {
		t.Errorf("normalize:\n got %q\nwant %q", got, want)
	}
	if st.lastCAS["p_a"] != "78" || st.lastCAS["p_b"] != "5" {
		t.Errorf("lastCAS = %v, want p_a=78 p_b=5", st.lastCAS)
	}
}

// TestExpand pins the templates.
func TestExpand(t *testing.T) {
	st := &state{prefix: "tdX_", lastCAS: map[string]string{"tdX_a": "42"}}
	for _, tc := range []struct{ in, want string }{
		{"get {k}a\r\n", "get tdX_a\r\n"},
		{"{key:6}", "tdX_xx"},
		{"{b64:a}", "dGRYX2E="},
		{"cas {k}a 0 0 1 {casof:a}", "cas tdX_a 0 0 1 42"},
		{"{casof:b}", unknownCAS},
		{"{bytes:12}", "012345678901"},
		{"{fill:3: }x", "   x"},
		{"get {keys:3}", "get tdX_m0 tdX_m1 tdX_m2"},
		{"set{nosync}", "set"},
		{"{notatemplate}", "{notatemplate}"},
	} {
		if got := expand(tc.in, st); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestGenerateIsDeterministic: the same seed gives the same cases, another
// seed others.
func TestGenerateIsDeterministic(t *testing.T) {
	a, b, c := Generate(7, 20), Generate(7, 20), Generate(8, 20)
	for i := range a {
		if strings.Join(a[i].Steps, "|") != strings.Join(b[i].Steps, "|") {
			t.Fatalf("case %d differs between two runs with seed 7", i)
		}
	}
	same := 0
	for i := range a {
		if strings.Join(a[i].Steps, "|") == strings.Join(c[i].Steps, "|") {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("seeds 7 and 8 generated the same cases")
	}
}

// TestCaseNamesUnique: the lead excludes cases by name.
func TestCaseNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		if seen[c.Name] {
			t.Errorf("duplicate case name %q", c.Name)
		}
		seen[c.Name] = true
		if len(c.Steps) == 0 {
			t.Errorf("case %q has no steps", c.Name)
		}
	}
	if n := len(Reproducible(Cases(), false)); n == 0 || n == len(Cases()) {
		t.Errorf("Reproducible kept %d of %d cases", n, len(Cases()))
	}
}

func caseNamed(t *testing.T, name string) Case {
	t.Helper()
	for _, c := range Cases() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return Case{}
}

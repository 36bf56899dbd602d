package kubecheck

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// goHelp is what Go's flag package prints for -help.
const goHelp = `Usage:
  vbproxy -config vbproxy.yaml [flags]
          -user Administrator -password-file FILE
-listen and -bucket set the first listener.

Flags:
  -admin string
    	admin HTTP address (overrides admin.address)
  -allow-flush
    	let FLUSH through
  -cluster value
    	cluster manager URL; repeatable or comma-separated (-listen is separate)
  -config string
    	configuration file
  -pool-size int
    	connections per node (default 2)
  --log-level=info
`

func TestParseHelpFlags(t *testing.T) {
	got := ParseHelpFlags(goHelp)
	want := []string{"admin", "allow-flush", "cluster", "config", "log-level", "pool-size"}
	if !slices.Equal(got, want) {
		t.Errorf("ParseHelpFlags = %v, want %v", got, want)
	}
	if got := ParseHelpFlags(""); len(got) != 0 {
		t.Errorf("ParseHelpFlags(\"\") = %v, want none", got)
	}
}

func TestCheckArgsFlags(t *testing.T) {
	known := []string{"config", "log-level"}
	tests := []struct {
		args []string
		bad  string // "" = ok
	}{
		{[]string{"-config", "/etc/vbproxy/vbproxy.yaml"}, ""},
		{[]string{"--config=/x", "-log-level", "debug"}, ""},
		{[]string{"-config", "/x", "--", "-whatever"}, ""},
		{[]string{"-", "x"}, ""},
		{[]string{"-configfile", "/x"}, "-configfile"},
		{[]string{"-config", "/x", "-v"}, "-v"},
	}
	for _, tt := range tests {
		err := CheckArgsFlags(tt.args, known)
		if tt.bad == "" && err != nil || tt.bad != "" && (err == nil || !strings.Contains(err.Error(), `"`+tt.bad+`"`)) {
			t.Errorf("CheckArgsFlags(%q) = %v, want bad %q", tt.args, err, tt.bad)
		}
	}
}

func FuzzParseHelpFlags(f *testing.F) {
	f.Add(goHelp)
	f.Add("-\n--\n  -=x\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range ParseHelpFlags(s) {
			if !validFlagName(n) {
				t.Fatalf("ParseHelpFlags returned %q", n)
			}
		}
	})
}

func TestParseDockerfile(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\nARG V=1\n\nFROM --platform=$BUILDPLATFORM golang:${V} AS build\n" +
		"RUN a \\\n    # a comment inside\n    b \\\n    c\n" +
		"FROM scratch\nCOPY --from=build /x /x\nUSER 1:1\nENTRYPOINT [\"/x\"]\n"
	stages, err := ParseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].Name != "build" || stages[0].Base != "golang:${V}" || stages[1].Base != "scratch" {
		t.Fatalf("stages = %+v", stages)
	}
	run := stages[0].Find("RUN")
	if len(run) != 1 || run[0].Args != "a b c" || run[0].Line != 5 {
		t.Errorf("RUN = %+v, want one at line 5 with args \"a b c\"", run)
	}
	if u := stages[1].Find("USER"); len(u) != 1 || u[0].Args != "1:1" {
		t.Errorf("USER = %+v", u)
	}
	bad := map[string]string{
		"":                                    "no FROM",
		"RUN x\nFROM a\n":                     "RUN before the first FROM",
		"FROM a b\n":                          "want IMAGE [AS NAME]",
		"FROM a\nRUN <<EOF\nx\nEOF\n":         "heredocs",
		"# only a comment\n\n":                "no FROM",
		"FROM a AS b c\n":                     "want IMAGE [AS NAME]",
		"FROM a\nCOPY <<EOF /x\nhello\nEOF\n": "heredocs",
	}
	for in, want := range bad {
		if _, err := ParseDockerfile(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDockerfile(%q) = %v, want %q", in, err, want)
		}
	}
}

func FuzzParseDockerfile(f *testing.F) {
	f.Add("FROM a AS b\nRUN x \\\n y\n")
	f.Add("ARG X\nFROM scratch\nCMD [\"/x\"]\n\\")
	f.Fuzz(func(t *testing.T, s string) {
		stages, err := ParseDockerfile(s)
		if err != nil {
			return
		}
		for _, st := range stages {
			if st.Base == "" {
				t.Fatalf("stage without a base: %+v", st)
			}
			for _, in := range st.Instructions {
				if in.Cmd == "" || in.Cmd == "FROM" || in.Line < 1 {
					t.Fatalf("bad instruction %+v", in)
				}
			}
		}
	})
}

func TestParsePrometheusDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"1d", 24 * time.Hour, true},
		{"1w2d", 9 * 24 * time.Hour, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1h1ms", time.Hour + time.Millisecond, true},
		{"0", 0, true},
		{"", 0, false},
		{"30", 0, false},
		{"s", 0, false},
		{"1s1m", 0, false}, // out of order
		{"1s1s", 0, false},
		{"1.5s", 0, false},
		{"-1s", 0, false},
		{"30 s", 0, false},
		{"1x", 0, false},
		{"999999999999y", 0, false},
	}
	for _, tt := range tests {
		got, err := ParsePrometheusDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePrometheusDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParsePrometheusDuration(f *testing.F) {
	for _, s := range []string{"30s", "1y2w3d4h5m6s7ms", "0", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParsePrometheusDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParsePrometheusDuration(%q) = %v", s, d)
		}
	})
}

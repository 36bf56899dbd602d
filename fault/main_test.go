package fault

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var reportPath = flag.String("fault.report", os.Getenv("FAULT_REPORT"),
	"append every test's figures to this `file` (docs/reliability.md quotes them)")

// vbproxyBin is the binary every test runs, built once by TestMain from this
// tree (or VBPROXY_BIN).
var vbproxyBin string

// report collects the figures.
var report *Report

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "vbproxy-fault-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		os.Exit(1)
	}
	vbproxyBin, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	report = &Report{Path: *reportPath}
	rev, _ := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err := report.Header(strings.TrimSpace(string(rev))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

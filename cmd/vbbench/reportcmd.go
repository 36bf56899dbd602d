package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vbproxy/vbproxy/bench/report"
)

// metaFlags collects repeated -set key=value flags.
type metaFlags map[string]string

func (m metaFlags) String() string { return fmt.Sprint(map[string]string(m)) }

func (m metaFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	m[k] = v
	return nil
}

// runReport renders BENCHMARKS.md (and the SVG chart) from a results file
// written by scripts/bench-compare.sh.
func runReport(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("vbbench report", flag.ContinueOnError)
	fset.SetOutput(stderr)
	results := fset.String("results", "", "results file: one JSON record per line (required)")
	out := fset.String("out", "BENCHMARKS.md", "report to write; its Notes section is kept")
	notesFrom := fset.String("notes-from", "", "take the hand-written notes from this file instead of -out")
	svgPath := fset.String("svg", "", "write the chart here (\"\" = no chart)")
	svgHref := fset.String("svg-href", "", "the chart's path as linked from the report (default: -svg relative to -out's directory)")
	mainConns := fset.Int("main-conns", 16, "connections of the point the goals are checked at")
	mainPipeline := fset.Int("main-pipeline", 1, "pipeline depth of the throughput and p99 goals")
	pipelined := fset.Int("pipelined", 16, "pipeline depth of the vbproxy-vs-direct goal")
	meta := metaFlags{}
	fset.Var(meta, "set", "a `key=value` fact for the report (nproc, cpu, kernel, go, memcached, nutcracker, memcaslap, vbproxy, mode, method, setup.*); repeatable")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *results == "" {
		fmt.Fprintln(stderr, "vbbench report: -results is required")
		return exitUsage
	}
	if err := writeReport(*results, *out, *notesFrom, *svgPath, *svgHref, meta,
		report.Options{MainConns: *mainConns, MainPipeline: *mainPipeline, PipelinedDepth: *pipelined}); err != nil {
		fmt.Fprintf(stderr, "vbbench report: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return exitOK
}

func writeReport(results, out, notesFrom, svgPath, svgHref string, meta map[string]string, o report.Options) error {
	f, err := os.Open(results)
	if err != nil {
		return err
	}
	recs, err := report.Read(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", results, err)
	}
	s, err := report.Aggregate(recs)
	if err != nil {
		return err
	}
	for k, v := range meta {
		s.Meta[k] = v
	}
	if notesFrom == "" {
		notesFrom = out
	}
	prev, err := os.ReadFile(notesFrom)
	switch {
	case err == nil:
		o.Notes = report.ExtractNotes(prev)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	if svgPath != "" {
		var buf bytes.Buffer
		if err := report.SVG(&buf, s); err != nil {
			return err
		}
		if err := writeFileAtomic(svgPath, buf.Bytes()); err != nil {
			return err
		}
		o.ChartPath = svgHref
		if o.ChartPath == "" {
			rel, err := filepath.Rel(filepath.Dir(out), svgPath)
			if err != nil {
				rel = svgPath
			}
			o.ChartPath = filepath.ToSlash(rel)
		}
	}
	var buf bytes.Buffer
	if err := report.Markdown(&buf, s, o); err != nil {
		return err
	}
	return writeFileAtomic(out, buf.Bytes())
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

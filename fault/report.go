package fault

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Report appends figures to a file, one line each: "<test>: <name>: <value>".
// docs/reliability.md quotes the lines of the last run. The zero value and a
// Report with no path only log (through the test's t.Logf).
type Report struct {
	Path string // "" = log only

	mu sync.Mutex
}

// Record logs a figure and appends it to the report file.
func (r *Report) Record(t testing.TB, name, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: %s: %s", t.Name(), name, fmt.Sprintf(format, args...))
	t.Log("FIGURE " + line)
	if r == nil || r.Path == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report %s: %v", r.Path, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("report %s: %v", r.Path, err)
	}
}

// Header appends a line naming the run (time and revision) to the file.
func (r *Report) Header(revision string) error {
	if r == nil || r.Path == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("fault: report %s: %w", r.Path, err)
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "# fault run %s at %s\n", time.Now().UTC().Format(time.RFC3339), revision)
	return err
}

// MS formats a duration in milliseconds with one decimal, for figures.
func MS(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

package textdiff

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stepTimeout bounds the wait for one step's replies (and for the close of
// a Closes case).
const stepTimeout = 5 * time.Second

// splitPause separates the writes of a {nosync} step and the next one.
const splitPause = 20 * time.Millisecond

// Markers appended to a step's replies.
const (
	markClosed  = "<connection closed>"
	markTimeout = "<no reply within 5s>"
	markOpen    = "<connection still open>"
)

// Run sends every case to direct and to proxied (host:port addresses) and
// fails a subtest named after the case for each step whose normalised
// replies differ, with both replies quoted.
func Run(t *testing.T, direct, proxied string, cases []Case) {
	t.Helper()
	run := RunID()
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			diffs, err := Compare(direct, proxied, c, Prefix(run, i))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffs {
				t.Error(d)
			}
		})
	}
}

// RunID returns a random identifier for the key prefixes of one run, so
// that runs against long-lived servers do not see each other's keys.
func RunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Prefix is the key prefix of case i in a run.
func Prefix(run string, i int) string { return "td" + run + "c" + strconv.Itoa(i) + "_" }

// Compare runs c against both servers and returns one message per step
// whose normalised replies differ (none when they all match). err is set
// when a server cannot be reached.
func Compare(direct, proxied string, c Case, prefix string) (diffs []string, err error) {
	want, err := Exec(direct, c, prefix)
	if err != nil {
		return nil, fmt.Errorf("direct %s: %w", direct, err)
	}
	got, err := Exec(proxied, c, prefix)
	if err != nil {
		return nil, fmt.Errorf("proxied %s: %w", proxied, err)
	}
	for i := range want {
		if got[i] != want[i] {
			diffs = append(diffs, fmt.Sprintf("%s step %d %s:\n  memcached: %s\n  proxied:   %s",
				c.Name, i, clip(expandedStep(c, i, prefix)), clip(want[i]), clipAt(got[i], want[i])))
		}
	}
	return diffs, nil
}

func expandedStep(c Case, i int, prefix string) string {
	return strconv.Quote(expand(c.Steps[i], &state{prefix: prefix, lastCAS: map[string]string{}}))
}

// Exec runs c on a new connection to addr and returns the normalised
// replies of each step. A step that closes the connection or gets no reply
// in time ends with a marker, and the steps after it get the marker alone.
func Exec(addr string, c Case, prefix string) ([]string, error) {
	conn, err := net.DialTimeout("tcp", addr, stepTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st := &state{prefix: prefix, lastCAS: map[string]string{}}
	var names casNames
	out := make([]string, len(c.Steps))
	dead := ""
	for i, step := range c.Steps {
		if dead != "" {
			out[i] = dead
			continue
		}
		last := i == len(c.Steps)-1
		nosync := strings.HasSuffix(step, "{nosync}") && !last
		_ = conn.SetWriteDeadline(time.Now().Add(stepTimeout))
		if _, werr := conn.Write([]byte(expand(step, st))); werr != nil && !closedErr(werr) {
			return nil, fmt.Errorf("step %d: write: %w", i, werr)
		}
		if nosync {
			time.Sleep(splitPause)
			continue
		}
		var reply []byte
		var mark string
		if last && c.Closes {
			reply, mark = readToEOF(conn)
		} else {
			id := strconv.Itoa(i)
			sentinel := "mg " + prefix + "sentinel O" + id + " k\r\n"
			want := "EN O" + id + " k" + prefix + "sentinel\r\n"
			_, _ = conn.Write([]byte(sentinel))
			reply, mark = readUntil(conn, []byte(want))
		}
		// The replies to a {nosync} step arrive with the next step's.
		out[i] = normalize(reply, st, &names) + mark
		if mark != "" {
			dead = mark
		}
	}
	return out, nil
}

// readUntil reads until the data ends with want, which it strips. On EOF
// or timeout it returns what it read and a marker.
func readUntil(conn net.Conn, want []byte) ([]byte, string) {
	_ = conn.SetReadDeadline(time.Now().Add(stepTimeout))
	var buf []byte
	chunk := make([]byte, 64<<10)
	for {
		n, err := conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if bytes.HasSuffix(buf, want) {
			return buf[:len(buf)-len(want)], ""
		}
		if err != nil {
			if closedErr(err) {
				return buf, markClosed
			}
			return buf, markTimeout
		}
	}
}

// readToEOF reads until the server closes the connection.
func readToEOF(conn net.Conn) ([]byte, string) {
	_ = conn.SetReadDeadline(time.Now().Add(stepTimeout))
	var buf []byte
	chunk := make([]byte, 64<<10)
	for {
		n, err := conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			if closedErr(err) {
				return buf, markClosed
			}
			return buf, markOpen
		}
	}
}

// closedErr reports whether err means the peer closed the connection (EOF,
// or a reset after it closed with unread data).
func closedErr(err error) bool {
	if errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe")
}

// clip quotes s, shortened to its first 600 bytes.
func clip(s string) string {
	if len(s) > 600 {
		return strconv.Quote(s[:600]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// clipAt quotes got from a little before its first difference with want.
func clipAt(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	if i < 200 {
		return clip(got)
	}
	return fmt.Sprintf("(first %d bytes equal) ...", i-100) + clip(got[i-100:])
}

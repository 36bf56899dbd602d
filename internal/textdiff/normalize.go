package textdiff

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
)

// casNames gives CAS values stable names on one connection: the n-th
// distinct CAS seen for a key is "<cas K #n>". Two servers that ran the same
// sequence then print the same names, even though their CAS counters differ
// (and a proxy spreads keys over servers with counters of their own, which
// is why the numbering is per key).
type casNames struct {
	byKey map[string]map[string]int
}

func (c *casNames) name(key, cas string) string {
	if cas == "0" {
		return "0"
	}
	if c.byKey == nil {
		c.byKey = map[string]map[string]int{}
	}
	m := c.byKey[key]
	if m == nil {
		m = map[string]int{}
		c.byKey[key] = m
	}
	n, ok := m[cas]
	if !ok {
		n = len(m) + 1
		m[cas] = n
	}
	return "<cas " + key + " #" + strconv.Itoa(n) + ">"
}

var metaCodes = map[string]bool{"HD": true, "VA": true, "EN": true, "NF": true, "NS": true, "EX": true, "MN": true}

// normalize rewrites the replies of one step: CAS values become names, the
// VERSION string and the lines of a stats reply become placeholders. Data
// blocks (after VALUE and VA lines) are kept verbatim. It records the CAS
// values it sees in st for {casof:...}.
func normalize(raw []byte, st *state, names *casNames) string {
	var out strings.Builder
	inStats := false
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			out.Write(raw) // a partial line: kept as is
			break
		}
		line := string(raw[:i+1])
		raw = raw[i+1:]
		body := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		fields := strings.Split(body, " ")
		if fields[0] == "STAT" {
			if !inStats {
				out.WriteString("STAT <stats>\r\n")
			}
			inStats = true
			continue
		}
		inStats = false
		data := -1
		switch {
		case fields[0] == "VERSION":
			line = "VERSION <version>\r\n"
		case fields[0] == "VALUE" && len(fields) >= 4:
			data = atoiOr(fields[3], -1)
			if len(fields) == 5 {
				st.lastCAS[fields[1]] = fields[4]
				fields[4] = names.name(fields[1], fields[4])
				line = strings.Join(fields, " ") + "\r\n"
			}
		case metaCodes[fields[0]]:
			if fields[0] == "VA" && len(fields) >= 2 {
				data = atoiOr(fields[1], -1)
			}
			line = normalizeMeta(fields, st, names) + "\r\n"
		}
		out.WriteString(line)
		if data >= 0 {
			n := data + 2
			if n > len(raw) {
				n = len(raw)
			}
			out.Write(raw[:n])
			raw = raw[n:]
		}
	}
	return out.String()
}

// normalizeMeta renames the c<cas> return flag of a meta reply, using the
// k<key> flag of the same reply (base64-decoded when followed by b) as the
// key.
func normalizeMeta(fields []string, st *state, names *casNames) string {
	key := "?"
	binary := false
	for _, f := range fields[1:] {
		if f == "b" {
			binary = true
		}
	}
	for _, f := range fields[1:] {
		if strings.HasPrefix(f, "k") {
			key = f[1:]
			if binary {
				if dec, err := base64.StdEncoding.DecodeString(key); err == nil {
					key = string(dec)
				}
			}
		}
	}
	for i, f := range fields[1:] {
		if len(f) > 1 && f[0] == 'c' && isDigits(f[1:]) {
			if key != "?" && f[1:] != "0" {
				st.lastCAS[key] = f[1:]
			}
			fields[i+1] = "c" + names.name(key, f[1:])
		}
	}
	return strings.Join(fields, " ")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return def
	}
	return n
}

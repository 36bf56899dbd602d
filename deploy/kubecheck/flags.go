package kubecheck

import (
	"fmt"
	"slices"
	"strings"
)

// ParseHelpFlags returns the flag names (without dashes), sorted and unique,
// listed in the output of a Go program's -help. A flag line, as the flag
// package's PrintDefaults writes it, is indented by one to four spaces and
// holds "-name", "-name type" or "--name=default"; prose and usage examples
// that merely mention flags (more words, other indentation, tab-indented
// usage text) are not flag lines.
func ParseHelpFlags(out string) []string {
	var names []string
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		t := strings.TrimLeft(line, " ")
		if indent := len(line) - len(t); indent < 1 || indent > 4 || !strings.HasPrefix(t, "-") {
			continue
		}
		if f := strings.Fields(t); len(f) > 2 || strings.ContainsRune(t, '\t') {
			continue
		}
		t = strings.TrimPrefix(strings.TrimPrefix(t, "-"), "-")
		end := strings.IndexAny(t, " =")
		if end < 0 {
			end = len(t)
		}
		if name := t[:end]; validFlagName(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func validFlagName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CheckArgsFlags reports every flag in args (up to a "--") whose name is not
// in known. A flag is an argument starting with '-' (other than "-" itself);
// "-name=value" counts as "name".
func CheckArgsFlags(args, known []string) error {
	var unknown []string
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, _, _ = strings.Cut(name, "=")
		if !slices.Contains(known, name) {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("kubecheck: flags %q are not among the program's flags %v", unknown, known)
	}
	return nil
}

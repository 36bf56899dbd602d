package main

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pathEntry is a field written on a line of the YAML document.
type pathEntry struct {
	path  string     // "listeners[1].bucket"
	key   string     // "bucket"; "" for a list item
	value *yaml.Node // the field's value
}

// fieldPaths maps each line of the YAML document to the fields written on
// it, so that decoder errors, which only carry a line, can name the field.
func fieldPaths(root *yaml.Node) map[int][]pathEntry {
	paths := make(map[int][]pathEntry)
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				paths[k.Line] = append(paths[k.Line], pathEntry{p, k.Value, v})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				paths[c.Line] = append(paths[c.Line], pathEntry{p, "", c})
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return paths
}

// findField picks the field an error on a line is about: the one with the
// given key, else the one whose value is the given scalar, else the first
// with a value of the given kind, else the last on the line.
func findField(entries []pathEntry, key, scalar string, kind yaml.Kind) string {
	if len(entries) == 0 {
		return ""
	}
	for _, e := range entries {
		if key != "" && e.key == key {
			return e.path
		}
	}
	for _, e := range entries {
		if scalar != "" && e.value.Kind == yaml.ScalarNode && e.value.Value == scalar {
			return e.path
		}
	}
	for _, e := range entries {
		if kind != 0 && e.value.Kind == kind {
			return e.path
		}
	}
	return entries[len(entries)-1].path
}

var (
	reYAMLLine  = regexp.MustCompile(`^line (\d+): (.*)$`)
	reUnknown   = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	reCannot    = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	reDuplicate = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	reDuration  = regexp.MustCompile(`^invalid duration "(.*)":`)
	// reKeyed is the message of a config type's own UnmarshalYAML
	// (ProxyMode): "KEY: what is wrong".
	reKeyed = regexp.MustCompile(`^([a-z_]+): (.*)$`)
)

// readableYAMLError turns one yaml.v3 decoder message into a FieldError
// naming the field, what was wanted and the line. fatal reports an error
// after which the decoded values cannot be trusted (a duplicate key stops
// the decoding of its whole mapping).
func readableYAMLError(msg string, paths map[int][]pathEntry) (fe FieldError, fatal bool) {
	m := reYAMLLine.FindStringSubmatch(msg)
	if m == nil {
		return FieldError{Msg: msg}, false
	}
	line, _ := strconv.Atoi(m[1])
	rest := m[2]
	at := fmt.Sprintf(" (line %d)", line)
	entries := paths[line]
	if d := reDuplicate.FindStringSubmatch(rest); d != nil {
		f := findField(entries, d[1], "", 0)
		if f == "" {
			return FieldError{Msg: msg}, true
		}
		return FieldError{Field: f, Msg: fmt.Sprintf("set twice (lines %s and %d)", d[2], line)}, true
	}
	if u := reUnknown.FindStringSubmatch(rest); u != nil {
		f := findField(entries, u[1], "", 0)
		if f == "" {
			return FieldError{Msg: msg}, false
		}
		text := "unknown field" + at
		if known := yamlKeys(u[2]); known != "" {
			text += "; valid fields here: " + known
		}
		return FieldError{Field: f, Msg: text}, false
	}
	if c := reCannot.FindStringSubmatch(rest); c != nil {
		f := findField(entries, "", c[2], yamlKind(c[1]))
		if f == "" {
			return FieldError{Msg: msg}, false
		}
		return FieldError{Field: f, Msg: fmt.Sprintf("want %s, got %s%s", describeGoType(c[3]), describeYAML(c[1], c[2]), at)}, false
	}
	if k := reKeyed.FindStringSubmatch(rest); k != nil {
		if f := findField(entries, k[1], "", 0); f != "" && strings.HasSuffix(f, k[1]) {
			return FieldError{Field: f, Msg: k[2] + at}, false
		}
	}
	scalar := ""
	kind := yaml.Kind(0)
	if d := reDuration.FindStringSubmatch(rest); d != nil {
		scalar = d[1]
	} else {
		kind = yaml.MappingNode
		for _, e := range entries {
			if e.value.Kind == yaml.SequenceNode {
				kind = yaml.SequenceNode
			}
		}
	}
	f := findField(entries, "", scalar, kind)
	if f == "" {
		return FieldError{Msg: msg}, false
	}
	return FieldError{Field: f, Msg: rest + at}, false
}

func yamlKind(tag string) yaml.Kind {
	switch tag {
	case "!!map":
		return yaml.MappingNode
	case "!!seq":
		return yaml.SequenceNode
	}
	return 0
}

// yamlKeys lists the YAML keys of a config struct named as yaml.v3 names it
// ("main.ClusterConfig").
func yamlKeys(typeName string) string {
	t, ok := configTypeByName(typeName)
	if !ok {
		return ""
	}
	keys := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return strings.Join(keys, ", ")
}

func configTypeByName(name string) (reflect.Type, bool) {
	for _, v := range []any{Config{}, ListenerConfig{}, ListenerTLSConfig{}, CertUserConfig{}, UserConfig{}, ClusterConfig{},
		ClusterTLSConfig{}, UpstreamConfig{}, LimitsConfig{}, AdminConfig{}, AdminTLSConfig{}, LogConfig{}, ShutdownConfig{}} {
		if t := reflect.TypeOf(v); t.String() == name {
			return t, true
		}
	}
	return nil, false
}

func describeGoType(t string) string {
	switch {
	case t == "int" || strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case t == "main.Duration":
		return "a duration such as \"2.5s\""
	case t == "main.ProxyMode":
		return "off, optional or required"
	case t == "[]string":
		return "a list of strings"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	default:
		return "a mapping of fields"
	}
}

func describeYAML(tag, value string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!null":
		return "nothing"
	}
	if value != "" {
		return strconv.Quote(value)
	}
	return strings.TrimPrefix(tag, "!!")
}

package kubecheck

import (
	"fmt"
	"strings"
)

// Instruction is one Dockerfile instruction, continuation lines joined.
type Instruction struct {
	Line int    // 1-based line of the keyword
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string // the rest, trimmed
}

// Stage is a FROM and the instructions up to the next FROM.
type Stage struct {
	Base         string // image reference after FROM (flags such as --platform dropped)
	Name         string // after AS, "" when unnamed
	Instructions []Instruction
}

// ParseDockerfile splits a Dockerfile into stages of instructions. It handles
// comments, blank lines, parser directives and backslash continuations (with
// comment lines inside them), which is all deploy/Dockerfile uses; heredocs
// are an error.
func ParseDockerfile(src string) ([]Stage, error) {
	var stages []Stage
	var cur *Instruction
	lines := strings.Split(src, "\n")
	for i, raw := range lines {
		line := strings.TrimRight(raw, " \t\r")
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") || (t == "" && cur == nil) {
			continue // comment (or directive), or blank between instructions
		}
		cont := strings.HasSuffix(line, "\\")
		if cont {
			t = strings.TrimSpace(strings.TrimSuffix(t, "\\"))
		}
		if cur == nil {
			kw, rest, _ := strings.Cut(t, " ")
			if kw == "" {
				continue
			}
			cur = &Instruction{Line: i + 1, Cmd: strings.ToUpper(kw), Args: strings.TrimSpace(rest)}
		} else if t != "" {
			cur.Args = strings.TrimSpace(cur.Args + " " + t)
		}
		if cont && i < len(lines)-1 {
			continue
		}
		if strings.Contains(cur.Args, "<<") && (cur.Cmd == "RUN" || cur.Cmd == "COPY") {
			return nil, fmt.Errorf("kubecheck: Dockerfile line %d: heredocs are not supported", cur.Line)
		}
		if cur.Cmd == "FROM" {
			s, err := parseFrom(*cur)
			if err != nil {
				return nil, err
			}
			stages = append(stages, s)
		} else if len(stages) == 0 {
			if cur.Cmd != "ARG" {
				return nil, fmt.Errorf("kubecheck: Dockerfile line %d: %s before the first FROM", cur.Line, cur.Cmd)
			}
		} else {
			last := &stages[len(stages)-1]
			last.Instructions = append(last.Instructions, *cur)
		}
		cur = nil
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("kubecheck: Dockerfile has no FROM")
	}
	return stages, nil
}

func parseFrom(in Instruction) (Stage, error) {
	var words []string
	for _, w := range strings.Fields(in.Args) {
		if !strings.HasPrefix(w, "--") {
			words = append(words, w)
		}
	}
	switch {
	case len(words) == 1:
		return Stage{Base: words[0]}, nil
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		return Stage{Base: words[0], Name: words[2]}, nil
	}
	return Stage{}, fmt.Errorf("kubecheck: Dockerfile line %d: FROM %q: want IMAGE [AS NAME]", in.Line, in.Args)
}

// Find returns the stage's instructions with the given command.
func (s Stage) Find(cmd string) []Instruction {
	var out []Instruction
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

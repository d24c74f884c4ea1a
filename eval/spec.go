package eval

import (
	"fmt"
	"strings"
)

// FromSpec returns the cases written as examples in a spec or a
// pseudo-program, the way PAW's documentation and compiler write them:
//
//	Examples:
//	Input: Find the latest report
//	Output: search
//
// A value runs on over following lines until a blank line, the next
// Input:/Output: line or a bracketed marker line ([END_PSEUDO_PROGRAM],
// [INPUT]); an Input without an Output is skipped. name labels the cases'
// Source ("spec.txt:4", the line of the Input). It returns ErrNoCases when
// the text has no complete example.
func FromSpec(text, name string) ([]Case, error) {
	var (
		cases   []Case
		cur     *Case
		inLine  int
		field   string // "input", "output" or "" (between examples)
		value   []string
		flushed = func() {
			v := strings.TrimSpace(strings.Join(value, "\n"))
			switch field {
			case "input":
				cur = &Case{Input: v, Source: fmt.Sprintf("%s:%d", name, inLine)}
			case "output":
				if cur != nil {
					cur.Expected, cur.HasExpected = v, true
					cases = append(cases, *cur)
					cur = nil
				}
			}
			field, value = "", nil
		}
	)
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		switch key, rest := exampleField(t); {
		case key != "":
			flushed()
			if key == "input" {
				cur, inLine = nil, i+1
			}
			field, value = key, []string{rest}
		case t == "" || (strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]")):
			flushed()
		case field != "":
			value = append(value, line)
		}
	}
	flushed()
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s: %w: no Input:/Output: examples", name, ErrNoCases)
	}
	return cases, nil
}

// exampleField recognizes "Input: …" and "Output: …" (any case).
func exampleField(line string) (key, rest string) {
	for _, k := range []string{"input", "output"} {
		if len(line) > len(k) && strings.EqualFold(line[:len(k)], k) && line[len(k)] == ':' {
			return k, strings.TrimSpace(line[len(k)+1:])
		}
	}
	return "", ""
}

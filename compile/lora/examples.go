package lora

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/paw-dev/paw/eval"
)

// ErrTeacher means the teacher gave nothing usable.
var ErrTeacher = errors.New("lora: teacher gave no usable answer")

// Teacher writes text for a prompt: an OpenAI-compatible chat model
// (package upstream) or a local instruct model run by paw's engine.
type Teacher interface {
	Complete(ctx context.Context, system, user string) (string, error)
}

// TeacherFunc is a Teacher from a function.
type TeacherFunc func(ctx context.Context, system, user string) (string, error)

// Complete calls f.
func (f TeacherFunc) Complete(ctx context.Context, system, user string) (string, error) {
	return f(ctx, system, user)
}

// SpecExamples returns the Input:/Output: examples written in a spec (as
// eval.FromSpec reads them) whose input and output are not empty.
func SpecExamples(spec string) []Example {
	cases, err := eval.FromSpec(spec, "spec")
	if err != nil {
		return nil // a spec without examples
	}
	var exs []Example
	for _, c := range cases {
		if strings.TrimSpace(c.Input) != "" && strings.TrimSpace(c.Expected) != "" { // "Input:" with nothing after it
			exs = append(exs, Example{Input: c.Input, Output: c.Expected})
		}
	}
	return exs
}

// Dedup keeps the first example of each input: a second output for the same
// input would contradict it, and a repeated input could land on both sides
// of the held-out split.
func Dedup(exs []Example) []Example {
	seen := map[string]bool{}
	var out []Example
	for _, ex := range exs {
		k := strings.TrimSpace(ex.Input)
		if k == "" || strings.TrimSpace(ex.Output) == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, ex)
	}
	return out
}

// teacherBatch is how many examples one teacher request asks for.
const teacherBatch = 20

// generateSystem is the teacher's instruction for writing examples.
const generateSystem = "You write training data for a function described in words. " +
	"Answer ONLY with JSON lines, one object per line, each {\"input\": \"...\", \"output\": \"...\"}: " +
	"no prose, no numbering, no code fences. Make the inputs diverse (length, wording, topic, edge cases) " +
	"and different from the examples shown; every output must be exactly what the function returns for its input, " +
	"in the same format as the examples' outputs."

// Generate asks t for n examples of the function in spec, beyond known,
// in rounds of up to 20, and returns the new ones, de-duplicated against
// known and each other. It stops early when a round adds nothing new.
func Generate(ctx context.Context, t Teacher, spec string, known []Example, n int) ([]Example, error) {
	have := Dedup(known)
	var out []Example
	for round := 0; len(out) < n; round++ {
		want := min(teacherBatch, n-len(out))
		var b strings.Builder
		fmt.Fprintf(&b, "Function: %s\n\n", strings.TrimSpace(spec))
		if len(have) > 0 {
			b.WriteString("Examples:\n")
			for _, ex := range have[max(0, len(have)-8):] {
				line, _ := json.Marshal(ex)
				b.Write(line)
				b.WriteByte('\n')
			}
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "Write %d new examples as JSON lines (batch %d).", want, round+1)
		text, err := t.Complete(ctx, generateSystem, b.String())
		if err != nil {
			return out, fmt.Errorf("teacher: %w", err)
		}
		before := len(have)
		have = Dedup(append(have, ParseExamples(text)...))
		if len(have) == before {
			if len(out) == 0 {
				return nil, fmt.Errorf("%w: %q", ErrTeacher, clip(text, 200))
			}
			break
		}
		out = append(out, have[before:]...)
	}
	return out[:min(n, len(out))], nil
}

// labelSystem is the teacher's instruction for answering one input.
const labelSystem = "You are the function described below. Reply with its output for the user's input and nothing else.\n\nFunction: "

// Label asks t for the output of each input (when the inputs are known but
// their outputs are not). Inputs it answers with nothing are dropped.
func Label(ctx context.Context, t Teacher, spec string, inputs []string) ([]Example, error) {
	var out []Example
	for _, in := range inputs {
		text, err := t.Complete(ctx, labelSystem+strings.TrimSpace(spec), in)
		if err != nil {
			return out, fmt.Errorf("teacher: %w", err)
		}
		if o := strings.TrimSpace(text); o != "" {
			out = append(out, Example{Input: in, Output: o})
		}
	}
	return out, nil
}

// ParseExamples reads the examples in a teacher's answer, tolerantly: JSON
// lines (inside code fences, after bullets or numbers, with trailing
// commas), a JSON array, or Input:/Output: pairs. Non-string outputs are
// kept as their JSON text. What cannot be read is skipped.
func ParseExamples(text string) []Example {
	text = strings.TrimSpace(text)
	var arr []map[string]any
	if err := json.Unmarshal([]byte(text), &arr); err == nil {
		return fromMaps(arr)
	}
	var objs []map[string]any
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '{'); i > 0 && i <= 6 { // "- {", "12. {"
			line = line[i:]
		}
		line = strings.TrimRight(line, ", ")
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			objs = append(objs, m)
		}
	}
	if exs := fromMaps(objs); len(exs) > 0 {
		return exs
	}
	return SpecExamples(text)
}

func fromMaps(ms []map[string]any) []Example {
	var out []Example
	for _, m := range ms {
		in, ok1 := field(m, "input")
		o, ok2 := field(m, "output")
		if ok1 && ok2 && strings.TrimSpace(in) != "" && strings.TrimSpace(o) != "" {
			out = append(out, Example{Input: in, Output: o})
		}
	}
	return out
}

// field is m[key] (any case) as text: a string as is, anything else as JSON.
func field(m map[string]any, key string) (string, bool) {
	for k, v := range m {
		if !strings.EqualFold(k, key) || v == nil {
			continue
		}
		if s, ok := v.(string); ok {
			return s, true
		}
		b, err := json.Marshal(v)
		return string(b), err == nil
	}
	return "", false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Gather collects a compile's examples: the spec's own Input:/Output:
// examples, then given, then, with a teacher, the outputs of unlabeled
// inputs and teacher-written examples until there are want in all;
// de-duplicated by input. When the teacher fails, Gather returns the
// examples it has along with the teacher's error (wrapping ErrTeacher when
// its text was unusable), so a compile can go on without it.
func Gather(ctx context.Context, spec string, given []Example, unlabeled []string, t Teacher, want int) ([]Example, error) {
	exs := Dedup(append(SpecExamples(spec), given...))
	if t == nil {
		return exs, nil
	}
	labeled, err := Label(ctx, t, spec, unlabeled)
	exs = Dedup(append(exs, labeled...))
	if err != nil || len(exs) >= want {
		return exs, err
	}
	more, err := Generate(ctx, t, spec, exs, want-len(exs))
	return append(exs, more...), err
}

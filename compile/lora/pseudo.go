package lora

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// DefaultPseudoBudget is a pseudo-program's default size limit in the
// interpreter's tokens.
const DefaultPseudoBudget = 256

// Pseudo-program markers of PAW's format.
const (
	pseudoBegin = "[PSEUDO_PROGRAM]"
	pseudoEnd   = "[END_PSEUDO_PROGRAM]"
)

// ErrBudget means the pseudo-program cannot fit its token budget.
var ErrBudget = errors.New("lora: pseudo-program over its token budget")

// Pseudo assembles a pseudo-program in PAW's format from the spec and
// examples.
func Pseudo(spec string, examples []Example) string {
	var b strings.Builder
	b.WriteString(pseudoBegin + "\nTask: ")
	b.WriteString(strings.TrimSpace(spec))
	if len(examples) > 0 {
		b.WriteString("\n\nExamples:")
		for _, ex := range examples {
			fmt.Fprintf(&b, "\nInput: %s\nOutput: %s", strings.TrimSpace(ex.Input), strings.TrimSpace(ex.Output))
		}
	}
	b.WriteString("\n" + pseudoEnd)
	return b.String()
}

// PseudoWithin assembles the pseudo-program with the first of examples
// (pseudoExamples at most) that fit within budget tokens as count measures
// them. It fails with ErrBudget when the task alone does not fit.
func PseudoWithin(spec string, examples []Example, budget int, count func(string) int) (string, error) {
	best := Pseudo(spec, nil)
	if n := count(best); n > budget {
		return "", fmt.Errorf("%w: the task alone is %d tokens, the budget %d", ErrBudget, n, budget)
	}
	for k := 1; k <= min(pseudoExamples, len(examples)); k++ {
		p := Pseudo(spec, examples[:k])
		if count(p) > budget {
			break
		}
		best = p
	}
	return best, nil
}

// pseudoSystem is the teacher's instruction for writing a pseudo-program.
const pseudoSystem = "You write pseudo-programs: short, precise instructions that a small model follows to " +
	"compute a function. Answer with the pseudo-program only, in exactly this format:\n" +
	pseudoBegin + "\nTask: <what to do with the input and what to return, in one to three sentences>\n\n" +
	"Examples:\nInput: <input>\nOutput: <output>\n" + pseudoEnd

// WritePseudo asks t for a pseudo-program for spec, shown a few examples,
// and returns it when it is in PAW's format and within budget tokens.
func WritePseudo(ctx context.Context, t Teacher, spec string, examples []Example, budget int, count func(string) int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Function: %s\n\nKnown examples:\n", strings.TrimSpace(spec))
	for _, ex := range examples[:min(8, len(examples))] {
		fmt.Fprintf(&b, "Input: %s\nOutput: %s\n", strings.TrimSpace(ex.Input), strings.TrimSpace(ex.Output))
	}
	fmt.Fprintf(&b, "\nWrite its pseudo-program, at most %d tokens (about %d words), with at most %d examples.",
		budget, budget*2/3, pseudoExamples)
	text, err := t.Complete(ctx, pseudoSystem, b.String())
	if err != nil {
		return "", fmt.Errorf("teacher: %w", err)
	}
	i, j := strings.Index(text, pseudoBegin), strings.LastIndex(text, pseudoEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("%w: no %s…%s in %q", ErrTeacher, pseudoBegin, pseudoEnd, clip(text, 200))
	}
	p := strings.TrimSpace(text[i : j+len(pseudoEnd)])
	if !strings.HasPrefix(p, pseudoBegin+"\nTask:") {
		return "", fmt.Errorf("%w: the pseudo-program does not start with %q", ErrTeacher, pseudoBegin+"\\nTask:")
	}
	if n := count(p); n > budget {
		return "", fmt.Errorf("%w: the teacher's is %d tokens, the budget %d", ErrBudget, n, budget)
	}
	return p, nil
}

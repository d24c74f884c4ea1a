package mapper

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
)

// MaxPseudoTokens bounds a generated pseudo-program unless told otherwise.
const MaxPseudoTokens = 512

// Markers around a pseudo-program.
const (
	pseudoBegin = "[PSEUDO_PROGRAM]"
	pseudoEnd   = "[END_PSEUDO_PROGRAM]"
)

// pseudoPrompt is paw's own request for a pseudo-program (the user turn).
const pseudoPrompt = `Turn the specification below into instructions for a small model that will carry out the task on one input at a time. That model will never see the specification: everything it needs must be in what you write.

Specification:
%s

Write a short, self-contained statement of the task: what the input is, exactly what to output and in which format, and how to treat unusual or ambiguous inputs. Then give 3 to 6 examples that cover typical and edge cases. Stay under about 250 tokens. Reply with exactly this and nothing else:

[PSEUDO_PROGRAM]
Task: <the task>

Examples:
Input: <input>
Output: <output>
(more examples)
[END_PSEUDO_PROGRAM]`

// Writer writes pseudo-programs with an instruct model (Qwen3-4B-Instruct-2507
// for the official compilers): greedy, chat template, no thinking.
type Writer struct {
	Model   *llama.Model
	Threads int // 0 = one per core
	// MaxTokens bounds the reply; 0 = MaxPseudoTokens.
	MaxTokens int
	// Tokens is the length of the last reply, in tokens.
	Tokens int
}

// Write returns the pseudo-program for spec: the reply's text from the
// [PSEUDO_PROGRAM] marker to [END_PSEUDO_PROGRAM] (added when the reply
// stops short of it).
func (w *Writer) Write(ctx context.Context, spec string) (string, error) {
	m := w.Model
	prompt := imStart + "user\n" + fmt.Sprintf(pseudoPrompt, spec) + imEnd + "\n" + imStart + "assistant\n"
	toks, err := m.Tokenize(prompt, m.AddBOS(), true)
	if err != nil {
		return "", fmt.Errorf("pseudo-program: %w", err)
	}
	limit := cmp.Or(w.MaxTokens, MaxPseudoTokens)
	n := len(toks) + limit
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: n, NBatch: min(n, 512), Threads: w.Threads})
	if err != nil {
		return "", fmt.Errorf("pseudo-program: %w", err)
	}
	defer c.Close()
	s, err := llama.NewSampler(m, llama.SamplerParams{})
	if err != nil {
		return "", fmt.Errorf("pseudo-program: %w", err)
	}
	defer s.Close()
	b := llama.NewBatch(c.NBatch(), 1)
	defer b.Close()
	// The prompt in batches of NBatch, logits at its last token.
	for i := 0; i < len(toks); i += c.NBatch() {
		b.Clear()
		j := min(i+c.NBatch(), len(toks))
		if err := b.AddSeq(toks[i:j], i, 0, j == len(toks)); err != nil {
			return "", fmt.Errorf("pseudo-program: %w", err)
		}
		if err := c.Decode(ctx, b); err != nil {
			return "", fmt.Errorf("pseudo-program: %w", err)
		}
	}
	var out []llama.Token
	for pos := len(toks); len(out) < limit; pos++ {
		t := s.Sample(c, -1)
		if t < 0 || m.IsEOG(t) {
			break
		}
		out = append(out, t)
		b.Clear()
		if _, err := b.Add(t, pos, []int{0}, true); err != nil {
			return "", fmt.Errorf("pseudo-program: %w", err)
		}
		if err := c.Decode(ctx, b); err != nil {
			return "", fmt.Errorf("pseudo-program: %w", err)
		}
	}
	w.Tokens = len(out)
	text, err := m.Detokenize(out, false)
	if err != nil {
		return "", fmt.Errorf("pseudo-program: %w", err)
	}
	return ExtractPseudo(text), nil
}

// ExtractPseudo returns the pseudo-program in a model's reply: from its
// [PSEUDO_PROGRAM] marker (added when missing) to [END_PSEUDO_PROGRAM]
// (added when the reply stops short of it). Bytes that are not UTF-8 (a
// reply cut inside a character) and the template's input placeholder,
// which a program's text may not hold, are replaced.
func ExtractPseudo(reply string) string {
	reply = strings.ToValidUTF8(reply, "\uFFFD")
	reply = strings.ReplaceAll(reply, program.Placeholder, "")
	if i := strings.Index(reply, pseudoBegin); i >= 0 {
		reply = reply[i+len(pseudoBegin):]
	}
	if i := strings.Index(reply, pseudoEnd); i >= 0 {
		reply = reply[:i]
	}
	return pseudoBegin + "\n" + strings.TrimSpace(reply) + "\n" + pseudoEnd
}

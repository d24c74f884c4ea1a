package mapper

import (
	"context"
	"fmt"
	"strings"

	"github.com/paw-dev/paw/internal/llama"
)

// Chat markup of the Qwen3 compiler (ChatML).
const (
	imStart = "<|im_start|>"
	imEnd   = "<|im_end|>"
)

// Encoder reads the compiler encoder's hidden states for a spec and its
// pseudo-program.
type Encoder struct {
	Model  *llama.Model
	Layers []int // the compiler layer read for each interpreter layer (LayerMap)
	Prefix []llama.Token
	// Threads for the forward pass; 0 = one per core.
	Threads int
}

// NewEncoder prepares m, a compiler encoder whose vocabulary ends with
// prefix prefix tokens ("<prefix_1>"…), to feed mp.
func NewEncoder(m *llama.Model, mp *Mapper) (*Encoder, error) {
	if m.NEmbd() != mp.Hidden {
		return nil, fmt.Errorf("%w: the compiler's hidden size is %d, the mapper's %d", ErrShape, m.NEmbd(), mp.Hidden)
	}
	if m.NLayer() < mp.Layers || m.NVocab() <= mp.Prefix {
		return nil, fmt.Errorf("%w: compiler of %d layers and %d tokens for %d interpreter layers and %d prefix tokens",
			ErrShape, m.NLayer(), m.NVocab(), mp.Layers, mp.Prefix)
	}
	e := &Encoder{Model: m, Layers: LayerMap(m.NLayer(), mp.Layers)}
	// The prefix tokens are the vocabulary's last rows (ids 151669–151732
	// of the official compiler); where they are named, the names must agree.
	first := m.NVocab() - mp.Prefix
	for i := range mp.Prefix {
		id := llama.Token(first + i)
		if txt := m.TokenText(id); strings.HasPrefix(txt, "<prefix_") && txt != fmt.Sprintf("<prefix_%d>", i+1) {
			return nil, fmt.Errorf("%w: token %d is %q, want <prefix_%d>", ErrShape, id, txt, i+1)
		}
		e.Prefix = append(e.Prefix, id)
	}
	return e, nil
}

// Tokens returns the encoder's input: the chat-rendered user turn
// "[SPEC]\n{spec}\n[END_SPEC]\n\n[PSEUDO_PROGRAM]" with the generation
// prompt, the pseudo-program's tokens (its text after the opening
// [PSEUDO_PROGRAM] marker, which the user turn already ends with; no
// special tokens parsed), EOS <|im_end|> and the prefix tokens, each piece
// tokenized on its own.
func (e *Encoder) Tokens(spec, pseudo string) ([]llama.Token, error) {
	m := e.Model
	special := func(s string) (llama.Token, error) {
		t, err := m.Tokenize(s, false, true)
		if err != nil || len(t) != 1 {
			return 0, fmt.Errorf("%w: the compiler's vocabulary lacks %s", ErrShape, s)
		}
		return t[0], nil
	}
	start, err := special(imStart)
	if err != nil {
		return nil, err
	}
	end, err := special(imEnd)
	if err != nil {
		return nil, err
	}
	var out []llama.Token
	for _, piece := range []any{
		start, "user\n[SPEC]\n" + spec + "\n[END_SPEC]\n\n[PSEUDO_PROGRAM]", end, "\n", start, "assistant\n",
		strings.TrimPrefix(pseudo, "[PSEUDO_PROGRAM]"), end,
	} {
		switch p := piece.(type) {
		case llama.Token:
			out = append(out, p)
		case string:
			t, err := m.Tokenize(p, false, false)
			if err != nil {
				return nil, fmt.Errorf("encode: %w", err)
			}
			out = append(out, t...)
		}
	}
	return append(out, e.Prefix...), nil
}

// Encode runs the encoder once and returns the states the mapper averages:
// for each interpreter layer, its compiler layer's states at the prefix
// positions.
func (e *Encoder) Encode(ctx context.Context, spec, pseudo string) ([]float32, error) {
	toks, err := e.Tokens(spec, pseudo)
	if err != nil {
		return nil, err
	}
	states, err := e.Model.CaptureHidden(ctx, toks, llama.CaptureParams{Layers: e.Layers, Last: len(e.Prefix), Threads: e.Threads})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return states, nil
}

// Package basemodel runs a raw base model, with no program: Complete
// continues a text, and Bench measures the engine's prompt and generation
// speed (paw generate, paw bench --model, and the bench/ module's
// comparison with another llama.cpp build). Programs run in package interp.
package basemodel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paw-dev/paw/internal/llama"
)

// DefaultMaxTokens bounds a generation when no limit is given.
const DefaultMaxTokens = 512

// ErrOptions reports invalid options.
var ErrOptions = errors.New("basemodel: invalid options")

// CheckSampling rejects a negative token limit or temperature (NaN
// included). The error names the value and carries no sentinel: each caller
// wraps it in its own (ErrOptions here, interp.ErrOptions for programs).
func CheckSampling(maxTokens int, temperature float32) error {
	if maxTokens < 0 {
		return fmt.Errorf("max tokens %d (want 0 for the default %d, or more)", maxTokens, DefaultMaxTokens)
	}
	if !(temperature >= 0) {
		return fmt.Errorf("temperature %v (want 0 for greedy, or more)", temperature)
	}
	return nil
}

// CompleteOptions configures Complete. The zero value decodes greedily up to
// DefaultMaxTokens tokens on every core.
type CompleteOptions struct {
	MaxTokens   int     // 0 = DefaultMaxTokens
	Temperature float32 // 0 = greedy
	Seed        uint32
	Threads     int // 0 = one per core
}

// Completion is the result of Complete.
type Completion struct {
	Text         string
	PromptTokens int
	Tokens       int // generated, excluding the end-of-generation token
	Elapsed      time.Duration
}

// Complete continues prompt with the raw base model at modelPath, stopping at
// the model's end of generation or after MaxTokens. Special-token text in
// prompt is kept as plain text.
func Complete(ctx context.Context, modelPath, prompt string, o CompleteOptions) (Completion, error) {
	start := time.Now()
	if err := CheckSampling(o.MaxTokens, o.Temperature); err != nil {
		return Completion{}, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	m, err := llama.LoadModel(modelPath, llama.ModelParams{})
	if err != nil {
		return Completion{}, err
	}
	defer m.Close()
	toks, err := m.Tokenize(prompt, true, false)
	if err != nil {
		return Completion{}, fmt.Errorf("tokenize prompt: %w", err)
	}
	if len(toks) == 0 {
		return Completion{}, fmt.Errorf("complete: empty prompt and model %s adds no BOS token", modelPath)
	}
	nctx := min(m.NCtxTrain(), len(toks)+o.MaxTokens)
	if len(toks) >= nctx {
		return Completion{}, fmt.Errorf("complete: prompt of %d tokens does not fit the model's %d-token context", len(toks), m.NCtxTrain())
	}
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: nctx, NBatch: max(len(toks), 1), Threads: o.Threads})
	if err != nil {
		return Completion{}, err
	}
	defer c.Close()
	s, err := llama.NewSampler(m, llama.SamplerParams{Temperature: o.Temperature, Seed: o.Seed})
	if err != nil {
		return Completion{}, err
	}
	defer s.Close()
	b := llama.NewBatch(len(toks), 1)
	defer b.Close()
	if err := b.AddSeq(toks, 0, 0, true); err != nil {
		return Completion{}, err
	}
	var out []llama.Token
	for pos := len(toks); len(out) < o.MaxTokens && pos < nctx; pos++ {
		if err := c.Decode(ctx, b); err != nil {
			return Completion{}, fmt.Errorf("decode at position %d: %w", pos, err)
		}
		t := s.Sample(c, b.Len()-1)
		if m.IsEOG(t) {
			break
		}
		out = append(out, t)
		b.Clear()
		if _, err := b.Add(t, pos, []int{0}, true); err != nil {
			return Completion{}, err
		}
	}
	text, err := m.Detokenize(out, false)
	if err != nil {
		return Completion{}, err
	}
	return Completion{Text: strings.TrimSpace(text), PromptTokens: len(toks), Tokens: len(out), Elapsed: time.Since(start)}, nil
}

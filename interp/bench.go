package interp

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/paw-dev/paw/internal/llama"
)

// BenchOptions configures BenchModel. The zero value measures 128 prompt and
// 32 generated tokens, 5 repetitions after a warm-up, on every core.
type BenchOptions struct {
	PromptTokens int // 0 = 128
	GenTokens    int // 0 = 32
	Reps         int // 0 = 5
	Threads      int // 0 = one per core
}

// BenchResult holds medians over the repetitions, like llama-bench's pp/tg.
type BenchResult struct {
	Model        string    `json:"model"`
	Desc         string    `json:"desc"`
	Threads      int       `json:"threads"`
	PromptTokens int       `json:"prompt_tokens"`
	GenTokens    int       `json:"gen_tokens"`
	Reps         int       `json:"reps"`
	PromptTPS    float64   `json:"prompt_tps"`
	GenTPS       float64   `json:"gen_tps"`
	PromptRuns   []float64 `json:"prompt_tps_runs"`
	GenRuns      []float64 `json:"gen_tps_runs"`
}

// BenchModel measures raw engine speed on a model file: prompt processing
// (one batch of PromptTokens) and generation (one token per decode).
func BenchModel(ctx context.Context, path string, o BenchOptions) (BenchResult, error) {
	if o.PromptTokens <= 0 {
		o.PromptTokens = 128
	}
	if o.GenTokens <= 0 {
		o.GenTokens = 32
	}
	if o.Reps <= 0 {
		o.Reps = 5
	}
	m, err := llama.LoadModel(path, llama.ModelParams{})
	if err != nil {
		return BenchResult{}, err
	}
	defer m.Close()
	n := o.PromptTokens + o.GenTokens
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: n, NBatch: o.PromptTokens, Threads: o.Threads})
	if err != nil {
		return BenchResult{}, err
	}
	defer c.Close()
	b := llama.NewBatch(o.PromptTokens, 1)
	defer b.Close()
	// Fixed, ordinary token ids: speed does not depend on which.
	toks := make([]llama.Token, n)
	for i := range toks {
		toks[i] = llama.Token(1000 + (i*7919)%max(m.NVocab()-1000, 1))
	}
	r := BenchResult{Model: path, Desc: m.Desc(), Threads: c.Threads(), PromptTokens: o.PromptTokens,
		GenTokens: o.GenTokens, Reps: o.Reps}
	for rep := -1; rep < o.Reps; rep++ { // rep -1 is the warm-up
		c.ClearKV()
		b.Clear()
		if err := b.AddSeq(toks[:o.PromptTokens], 0, 0, true); err != nil {
			return r, err
		}
		start := time.Now()
		if err := c.Decode(ctx, b); err != nil {
			return r, fmt.Errorf("bench prompt: %w", err)
		}
		pp := float64(o.PromptTokens) / time.Since(start).Seconds()
		start = time.Now()
		for i := range o.GenTokens {
			b.Clear()
			pos := o.PromptTokens + i
			if _, err := b.Add(toks[pos], pos, []int{0}, true); err != nil {
				return r, err
			}
			if err := c.Decode(ctx, b); err != nil {
				return r, fmt.Errorf("bench generation: %w", err)
			}
		}
		tg := float64(o.GenTokens) / time.Since(start).Seconds()
		if rep >= 0 {
			r.PromptRuns = append(r.PromptRuns, pp)
			r.GenRuns = append(r.GenRuns, tg)
		}
	}
	r.PromptTPS, r.GenTPS = median(r.PromptRuns), median(r.GenRuns)
	return r, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

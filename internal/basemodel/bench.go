package basemodel

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/paw-dev/paw/internal/llama"
)

// BenchOptions configures BenchModel and Bench. The zero value measures 128
// prompt and 32 generated tokens, 5 repetitions after a warm-up, on every core.
type BenchOptions struct {
	PromptTokens int // 0 = 128
	GenTokens    int // 0 = 32
	// PrefixTokens are decoded, untimed, before the prompt, as a program's
	// cached pseudo-program is (0 = none).
	PrefixTokens int
	Reps         int  // 0 = 5
	Threads      int  // 0 = one per core
	UBatch       int  // physical micro-batch; 0 = the whole prompt
	FlashAttn    bool // BenchModel only
}

func (o *BenchOptions) defaults() {
	if o.PromptTokens <= 0 {
		o.PromptTokens = 128
	}
	if o.GenTokens <= 0 {
		o.GenTokens = 32
	}
	if o.Reps <= 0 {
		o.Reps = 5
	}
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

// BenchEngine is what the benchmark procedure needs from a llama.cpp
// binding: paw's own (BenchModel) or another build's (bench/ measures the
// prebuilt peer with the same procedure).
type BenchEngine interface {
	Desc() string
	NVocab() int
	Threads() int
	ClearKV()
	// Decode runs toks at positions pos.. in sequence 0, logits on the last only.
	Decode(ctx context.Context, toks []int32, pos int) error
}

// BenchModel measures raw engine speed on a model file with paw's engine:
// prompt processing (one batch of PromptTokens) and generation (one token
// per decode).
func BenchModel(ctx context.Context, path string, o BenchOptions) (BenchResult, error) {
	o.defaults()
	m, err := llama.LoadModel(path, llama.ModelParams{})
	if err != nil {
		return BenchResult{}, err
	}
	defer m.Close()
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: o.PrefixTokens + o.PromptTokens + o.GenTokens,
		NBatch: max(o.PromptTokens, o.PrefixTokens), NUBatch: o.UBatch, Threads: o.Threads, FlashAttn: o.FlashAttn})
	if err != nil {
		return BenchResult{}, err
	}
	defer c.Close()
	b := llama.NewBatch(max(o.PromptTokens, o.PrefixTokens), 1)
	defer b.Close()
	r, err := Bench(ctx, benchEngine{m, c, b}, o)
	r.Model = path
	return r, err
}

// Bench runs the procedure on e: per repetition (the first is a warm-up) a
// fresh KV cache, PrefixTokens untimed tokens, one batch of PromptTokens
// timed, then GenTokens one-token decodes timed; medians of the tokens/s.
// e's contexts must hold PrefixTokens+PromptTokens+GenTokens tokens and
// batches of max(PromptTokens, PrefixTokens).
func Bench(ctx context.Context, e BenchEngine, o BenchOptions) (BenchResult, error) {
	o.defaults()
	n := o.PrefixTokens + o.PromptTokens + o.GenTokens
	// Fixed, ordinary token ids: speed does not depend on which. Past the
	// first 1000 (special and byte tokens in real vocabularies), or the first
	// half of a smaller vocabulary, such as a test fixture's.
	toks := make([]int32, n)
	lo := min(1000, e.NVocab()/2)
	for i := range toks {
		toks[i] = int32(lo + (i*7919)%max(e.NVocab()-lo, 1))
	}
	r := BenchResult{Desc: e.Desc(), Threads: e.Threads(), PromptTokens: o.PromptTokens,
		GenTokens: o.GenTokens, Reps: o.Reps}
	pre, pp := o.PrefixTokens, o.PromptTokens
	for rep := -1; rep < o.Reps; rep++ { // rep -1 is the warm-up
		e.ClearKV()
		if pre > 0 {
			if err := e.Decode(ctx, toks[:pre], 0); err != nil {
				return r, fmt.Errorf("bench prefix: %w", err)
			}
		}
		start := time.Now()
		if err := e.Decode(ctx, toks[pre:pre+pp], pre); err != nil {
			return r, fmt.Errorf("bench prompt: %w", err)
		}
		ppTPS := float64(pp) / time.Since(start).Seconds()
		start = time.Now()
		for i := range o.GenTokens {
			pos := pre + pp + i
			if err := e.Decode(ctx, toks[pos:pos+1], pos); err != nil {
				return r, fmt.Errorf("bench generation: %w", err)
			}
		}
		tgTPS := float64(o.GenTokens) / time.Since(start).Seconds()
		if rep >= 0 {
			r.PromptRuns = append(r.PromptRuns, ppTPS)
			r.GenRuns = append(r.GenRuns, tgTPS)
		}
	}
	r.PromptTPS, r.GenTPS = median(r.PromptRuns), median(r.GenRuns)
	return r, nil
}

// benchEngine is paw's binding as a BenchEngine.
type benchEngine struct {
	m *llama.Model
	c *llama.Context
	b *llama.Batch
}

func (e benchEngine) Desc() string { return e.m.Desc() }
func (e benchEngine) NVocab() int  { return e.m.NVocab() }
func (e benchEngine) Threads() int { return e.c.Threads() }
func (e benchEngine) ClearKV()     { e.c.ClearKV() }
func (e benchEngine) Decode(ctx context.Context, toks []int32, pos int) error {
	e.b.Clear()
	for i, t := range toks {
		if _, err := e.b.Add(llama.Token(t), pos+i, []int{0}, i == len(toks)-1); err != nil {
			return err
		}
	}
	return e.c.Decode(ctx, e.b)
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

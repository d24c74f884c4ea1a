package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/paw-dev/paw/interp"
)

// engine is the little a benchmark needs from a llama.cpp binding.
type engine interface {
	Desc() string
	NVocab() int
	Threads() int
	ClearKV()
	// Decode runs toks at positions pos.. in sequence 0, logits on the last only.
	Decode(toks []int32, pos int) error
	Close()
}

type newEngine func(model string, o opts) (engine, error)

// benchLoop is interp.BenchModel's procedure over any engine: per repetition
// (the first is a warm-up) a fresh KV cache, o.prefix untimed tokens, one
// batch of o.pp prompt tokens, then o.tg one-token decodes; medians of the
// tokens/s.
func benchLoop(open newEngine, model string, o opts) (interp.BenchResult, error) {
	e, err := open(model, o)
	if err != nil {
		return interp.BenchResult{}, err
	}
	defer e.Close()
	n := o.prefix + o.pp + o.tg
	// The same token ids as interp.BenchModel.
	toks := make([]int32, n)
	for i := range toks {
		toks[i] = int32(1000 + (i*7919)%max(e.NVocab()-1000, 1))
	}
	r := interp.BenchResult{Model: model, Desc: e.Desc(), Threads: e.Threads(), PromptTokens: o.pp,
		GenTokens: o.tg, Reps: o.reps}
	for rep := -1; rep < o.reps; rep++ {
		e.ClearKV()
		if o.prefix > 0 {
			if err := e.Decode(toks[:o.prefix], 0); err != nil {
				return r, fmt.Errorf("bench prefix: %w", err)
			}
		}
		start := time.Now()
		if err := e.Decode(toks[o.prefix:o.prefix+o.pp], o.prefix); err != nil {
			return r, fmt.Errorf("bench prompt: %w", err)
		}
		pp := float64(o.pp) / time.Since(start).Seconds()
		start = time.Now()
		for i := range o.tg {
			pos := o.prefix + o.pp + i
			if err := e.Decode(toks[pos:pos+1], pos); err != nil {
				return r, fmt.Errorf("bench generation: %w", err)
			}
		}
		tg := float64(o.tg) / time.Since(start).Seconds()
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

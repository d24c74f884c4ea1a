package basemodel

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// fakeEngine records the procedure's calls; DecodeFunc, when set, answers
// each decode.
type fakeEngine struct {
	DecodeFunc func(toks []int32, pos int) error
	clears     int
	decodes    [][2]int // position and length of each decode
	nvocab     int
}

var _ BenchEngine = (*fakeEngine)(nil)

func (e *fakeEngine) Desc() string { return "fake" }
func (e *fakeEngine) NVocab() int  { return e.nvocab }
func (e *fakeEngine) Threads() int { return 3 }
func (e *fakeEngine) ClearKV()     { e.clears++ }
func (e *fakeEngine) Decode(_ context.Context, toks []int32, pos int) error {
	e.decodes = append(e.decodes, [2]int{pos, len(toks)})
	for _, t := range toks {
		if t < 0 || int(t) >= e.nvocab {
			return errors.New("token outside the vocabulary")
		}
	}
	if e.DecodeFunc != nil {
		return e.DecodeFunc(toks, pos)
	}
	return nil
}

// TestBench: per repetition, a fresh cache, the untimed prefix, the prompt
// in one batch, then one-token decodes; one warm-up repetition is dropped.
func TestBench(t *testing.T) {
	e := &fakeEngine{nvocab: 1200}
	r, err := Bench(context.Background(), e, BenchOptions{PrefixTokens: 3, PromptTokens: 5, GenTokens: 2, Reps: 2})
	if err != nil {
		t.Fatal(err)
	}
	rep := [][2]int{{0, 3}, {3, 5}, {8, 1}, {9, 1}}
	want := slices.Concat(rep, rep, rep) // warm-up and two repetitions
	if !slices.Equal(e.decodes, want) || e.clears != 3 {
		t.Errorf("decodes %v after %d cache clears, want %v after 3", e.decodes, e.clears, want)
	}
	if r.Desc != "fake" || r.Threads != 3 || r.PromptTokens != 5 || r.GenTokens != 2 || r.Reps != 2 ||
		len(r.PromptRuns) != 2 || len(r.GenRuns) != 2 || r.PromptTPS <= 0 || r.GenTPS <= 0 {
		t.Errorf("result %+v", r)
	}

	d, err := Bench(context.Background(), &fakeEngine{nvocab: 50}, BenchOptions{})
	if err != nil || d.PromptTokens != 128 || d.GenTokens != 32 || d.Reps != 5 || len(d.PromptRuns) != 5 {
		t.Errorf("zero options: %+v, %v; want 128 prompt and 32 generated tokens, 5 repetitions", d, err)
	}

	boom := errors.New("boom")
	failing := &fakeEngine{nvocab: 1200, DecodeFunc: func(toks []int32, pos int) error {
		if len(toks) == 1 {
			return boom
		}
		return nil
	}}
	if _, err := Bench(context.Background(), failing, BenchOptions{}); !errors.Is(err, boom) {
		t.Errorf("a failing generation decode: err = %v, want it wrapped", err)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}

// TestBenchModel runs the procedure on a real (tiny) model with paw's engine.
func TestBenchModel(t *testing.T) {
	path := tinyModel(t)
	r, err := BenchModel(context.Background(), path, BenchOptions{PrefixTokens: 4, PromptTokens: 8, GenTokens: 4, Reps: 2, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != path || r.Desc == "" || r.Threads != 1 || len(r.PromptRuns) != 2 || r.PromptTPS <= 0 || r.GenTPS <= 0 {
		t.Errorf("BenchModel = %+v", r)
	}
}

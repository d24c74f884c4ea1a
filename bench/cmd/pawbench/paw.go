package main

import (
	"context"

	"github.com/paw-dev/paw/internal/llama"
)

// pawEngine is paw's own binding; used instead of interp.BenchModel only when
// a knob it does not expose (n_ubatch, flash attention) is set.
type pawEngine struct {
	m *llama.Model
	c *llama.Context
	b *llama.Batch
}

func newPawEngine(model string, o opts) (engine, error) {
	m, err := llama.LoadModel(model, llama.ModelParams{})
	if err != nil {
		return nil, err
	}
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: o.prefix + o.pp + o.tg, NBatch: max(o.pp, o.prefix), NUBatch: o.ubatch,
		Threads: o.threads, FlashAttn: o.flash})
	if err != nil {
		m.Close()
		return nil, err
	}
	return &pawEngine{m: m, c: c, b: llama.NewBatch(max(o.pp, o.prefix), 1)}, nil
}

func (e *pawEngine) Desc() string { return e.m.Desc() }
func (e *pawEngine) NVocab() int  { return e.m.NVocab() }
func (e *pawEngine) Threads() int { return e.c.Threads() }
func (e *pawEngine) ClearKV()     { e.c.ClearKV() }
func (e *pawEngine) Close()       { e.b.Close(); e.c.Close(); e.m.Close() }
func (e *pawEngine) Decode(toks []int32, pos int) error {
	e.b.Clear()
	t := make([]llama.Token, len(toks))
	for i, x := range toks {
		t[i] = llama.Token(x)
	}
	if err := e.b.AddSeq(t, pos, 0, true); err != nil {
		return err
	}
	return e.c.Decode(context.Background(), e.b)
}

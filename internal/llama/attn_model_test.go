package llama_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
)

// TestFastAttentionInModel decodes a 200-token prompt (after a 40-token
// prefix in the cache) with flash attention on a qwen3 fixture whose heads
// (64) paw's kernel takes: paw's backend must compute every layer's attention
// of the prompt, and the logits at every position must equal those of the
// unfused attention (mul_mat + soft_max, F32) within float tolerance, with the
// same greedy token except where the top two are within that tolerance.
// (ggml-cpu's own flash attention, which rounds Q and the V sums to F16, is
// ~8x further from them.)
func TestFastAttentionInModel(t *testing.T) {
	if llama.AttentionKernel() == "ggml" {
		t.Skip("no AVX2/AVX-512 kernel on this CPU")
	}
	cfg := fixture.Config{Arch: fixture.ArchQwen3, Layers: 2, Embd: 256, Heads: 4, HeadsKV: 2, HeadDim: 64, FFN: 512,
		CtxTrain: 2048, Type: gguf.TypeF32, Vocab: fixture.VocabSynthetic, Name: "qwen3-hd64"}
	m := load(t, fixturetest.Cached(t, "qwen3-hd64", cfg))
	rng := rand.New(rand.NewPCG(7, 19))
	toks := make([]llama.Token, 240)
	for i := range toks {
		toks[i] = llama.Token(rng.IntN(m.NVocab()))
	}
	const prefix = 40
	run := func(flash, fast bool) (logits [][]float32, nodes int64) {
		llama.SetFastAttention(fast)
		defer llama.SetFastAttention(true)
		c := newContext(t, m, llama.ContextParams{NCtx: 512, NBatch: 256, FlashAttn: flash, Threads: 2})
		b := llama.NewBatch(len(toks), 1)
		defer b.Close()
		if err := b.AddSeq(toks[:prefix], 0, 0, false); err != nil {
			t.Fatal(err)
		}
		if err := c.Decode(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		b.Clear()
		for i, tok := range toks[prefix:] {
			if _, err := b.Add(tok, prefix+i, []int{0}, true); err != nil {
				t.Fatal(err)
			}
		}
		before := llama.AttentionNodes()
		if err := c.Decode(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		nodes = llama.AttentionNodes() - before
		for i := range len(toks) - prefix {
			l, err := c.Logits(i)
			if err != nil {
				t.Fatal(err)
			}
			logits = append(logits, l)
		}
		return logits, nodes
	}
	ggmlFA, nodesGGML := run(true, false)
	got, nodesPaw := run(true, true)
	want, _ := run(false, true) // unfused attention: F32 scores and sums
	if nodesGGML != 0 || nodesPaw != int64(cfg.Layers) {
		t.Fatalf("paw's backend computed %d attention nodes with its kernel off, %d on; want 0 and %d (one per layer)",
			nodesGGML, nodesPaw, cfg.Layers)
	}
	const tol = 1e-3 // logits here reach ~2.5
	worst, worstGGML, flips := 0.0, 0.0, 0
	for i := range got {
		worst = max(worst, maxAbsDiff(got[i], want[i]))
		worstGGML = max(worstGGML, maxAbsDiff(ggmlFA[i], want[i]))
		g, w := argmax(got[i]), argmax(want[i])
		if g != w {
			if want[i][w]-want[i][g] > tol {
				t.Errorf("position %d: greedy token %d, unfused attention's %d (gap %.3g)", prefix+i, g, w, want[i][w]-want[i][g])
			}
			flips++
		}
	}
	if worst > tol {
		t.Errorf("logits differ from unfused attention's by up to %.3g (tolerance %g)", worst, tol)
	}
	t.Logf("%d positions: max |logit diff| from unfused attention %.2g (ggml-cpu's flash attention: %.2g), %d near-tie flips",
		len(got), worst, worstGGML, flips)
}

func argmax(x []float32) int { return slices.Index(x, slices.Max(x)) }

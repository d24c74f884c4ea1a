package llama_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
)

// trainFixtures are the tiny random models the training graph is checked on:
// qwen3 (QK-norm, NEOX rope, GQA, tied head), llama (normal rope, GQA,
// untied head) and gpt2 (layer norms, learned positions, fused QKV, biases, GELU).
func trainFixtures(t *testing.T) map[string]fixture.Config {
	t.Helper()
	q, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	l := fixture.Config{Arch: fixture.ArchLlama, Layers: 2, Embd: 64, Heads: 4, HeadsKV: 2, FFN: 96, CtxTrain: 256,
		Untied: true, Seed: 3, Name: "llama-tiny"}
	g, err := fixture.Preset("gpt2-tiny")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]fixture.Config{"qwen3": q, "llama": l, "gpt2": g}
}

func newTrainer(t *testing.T, path string, p llama.TrainParams) *llama.Trainer {
	t.Helper()
	tr, err := llama.NewTrainer(path, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// randomLoRA fills every LoRA tensor with values of standard deviation std,
// so that gradients reach both A and B.
func randomLoRA(t *testing.T, tr *llama.Trainer, seed uint64, std float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	for i, lt := range tr.LoRA() {
		v := make([]float32, lt.Ne0*lt.Ne1)
		for j := range v {
			v[j] = float32(r.NormFloat64() * std)
		}
		if err := tr.SetWeights(i, v); err != nil {
			t.Fatal(err)
		}
	}
}

// trainSeqs are two packed sequences with their prompts masked.
func trainSeqs(vocab int) []llama.Sequence {
	r := rand.New(rand.NewPCG(9, 9))
	var seqs []llama.Sequence
	for _, n := range []int{7, 5} {
		s := llama.Sequence{}
		for i := range n {
			s.Tokens = append(s.Tokens, llama.Token(r.IntN(vocab)))
			tg := llama.Token(-1)
			if i >= n/2 {
				tg = llama.Token(r.IntN(vocab))
			}
			s.Targets = append(s.Targets, tg)
		}
		seqs = append(seqs, s)
	}
	return seqs
}

// TestTrainerGradient checks the autodiff gradients of the LoRA tensors
// against central finite differences of the loss.
func TestTrainerGradient(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range trainFixtures(t) {
		t.Run(name, func(t *testing.T) {
			tr := newTrainer(t, fixturetest.Cached(t, "train-"+name, cfg), llama.TrainParams{Rank: 4, Alpha: 8, Threads: 2})
			randomLoRA(t, tr, 1, 0.05)
			seqs := trainSeqs(tr.Info().Vocab)
			if _, err := tr.Backward(ctx, seqs); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(2, 2))
			var worst float64
			lts := tr.LoRA()
			for _, i := range []int{0, 1, len(lts)/2 + 1, len(lts) - 2, len(lts) - 1} {
				grad := tr.Grad(i)
				w := tr.Weights(i)
				// The largest gradient entries, where float32 rounding matters least.
				for range 3 {
					j := r.IntN(len(w))
					for range 20 {
						if k := r.IntN(len(w)); math.Abs(float64(grad[k])) > math.Abs(float64(grad[j])) {
							j = k
						}
					}
					const h = 1e-2
					at := func(v float32) float64 {
						w2 := append([]float32(nil), w...)
						w2[j] = v
						if err := tr.SetWeights(i, w2); err != nil {
							t.Fatal(err)
						}
						l, err := tr.Loss(ctx, seqs)
						if err != nil {
							t.Fatal(err)
						}
						return l
					}
					fd := (at(w[j]+h) - at(w[j]-h)) / (2 * h)
					if err := tr.SetWeights(i, w); err != nil {
						t.Fatal(err)
					}
					// The loss is float32: a finite difference resolves about
					// ulp(loss)/h ≈ 3e-5, so tiny gradients are judged on that floor.
					diff := math.Abs(fd - float64(grad[j]))
					if math.Abs(fd) > 1e-3 {
						worst = max(worst, diff/math.Abs(fd))
					}
					if diff > 0.03*math.Abs(fd)+6e-5 {
						rel := diff / math.Max(math.Abs(fd), 1e-9)
						t.Errorf("%s[%d]: autodiff %.6g, finite difference %.6g (rel err %.3g)", lts[i].Name, j, grad[j], fd, rel)
					}
				}
			}
			t.Logf("%s: worst relative gradient error %.3g%% over the checked entries with |gradient| > 1e-3", name, 100*worst)
		})
	}
}

// TestTrainerMatchesLlamaCpp checks that paw's graph computes the same
// logits as llama.cpp's decode for the same base model and LoRA adapter.
func TestTrainerMatchesLlamaCpp(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range trainFixtures(t) {
		t.Run(name, func(t *testing.T) {
			base := fixturetest.Cached(t, "train-"+name, cfg)
			adapterPath := filepath.Join(t.TempDir(), "adapter.gguf")
			ad := fixture.Adapter{Rank: 8, Alpha: 16, Seed: 5, Scale: 0.05}
			if err := fixture.WriteAdapter(adapterPath, cfg, ad); err != nil {
				t.Fatal(err)
			}
			tr := newTrainer(t, base, llama.TrainParams{Rank: ad.Rank, Alpha: ad.Alpha, Threads: 2})
			f, err := gguf.Open(adapterPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for i, lt := range tr.LoRA() {
				v, err := f.TensorFloat32(lt.Name)
				if err != nil {
					t.Fatalf("%s: %v", lt.Name, err)
				}
				if err := tr.SetWeights(i, v); err != nil {
					t.Fatal(err)
				}
			}

			m := load(t, base)
			a, err := llama.LoadAdapter(m, adapterPath)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			c := newContext(t, m, llama.ContextParams{NCtx: 64, Threads: 2})
			if err := c.SetAdapter(a, 1); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(4, 4))
			toks := make([]llama.Token, 12)
			all := make([]llama.Token, len(toks))
			for i := range toks {
				toks[i] = llama.Token(r.IntN(m.NVocab()))
			}
			b := llama.NewBatch(len(toks), 1)
			defer b.Close()
			for i, tok := range toks {
				if _, err := b.Add(tok, i, []int{0}, true); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Decode(ctx, b); err != nil {
				t.Fatal(err)
			}
			got, err := tr.Logits(ctx, []llama.Sequence{{Tokens: toks, Targets: all}})
			if err != nil {
				t.Fatal(err)
			}
			nv := tr.Info().Vocab
			var maxErr, maxAbs float64
			for i := range toks {
				want, err := c.Logits(i)
				if err != nil {
					t.Fatal(err)
				}
				for j, w := range want {
					maxErr = max(maxErr, math.Abs(float64(w-got[i*nv+j])))
					maxAbs = max(maxAbs, math.Abs(float64(w)))
				}
			}
			t.Logf("%s: max abs logit error %.3g (largest logit %.3g) over %d positions", name, maxErr, maxAbs, len(toks))
			if maxErr > 1e-3*max(1, maxAbs) {
				t.Errorf("paw graph logits differ from llama.cpp's by %.3g", maxErr)
			}
			// Without the adapter on paw's side the logits must differ: the test sees the LoRA term.
			for i := range tr.LoRA() {
				_ = tr.SetWeights(i, make([]float32, len(tr.Weights(i))))
			}
			plain, err := tr.Logits(ctx, []llama.Sequence{{Tokens: toks, Targets: all}})
			if err != nil {
				t.Fatal(err)
			}
			var diff float64
			for i := range plain {
				diff = max(diff, math.Abs(float64(plain[i]-got[i])))
			}
			if diff < 10*maxErr {
				t.Errorf("the adapter changes logits by only %.3g, error is %.3g", diff, maxErr)
			}
		})
	}
}

// TestTrainerBackwardRewrite compares the backward pass paw computes (input
// gradients through frozen weights as mul_mats against transposed copies)
// with ggml's own autodiff on the same batch, for every architecture, and
// checks that the rewrite took place: no out_prod reads a frozen weight.
func TestTrainerBackwardRewrite(t *testing.T) {
	ctx := context.Background()
	fixtures := trainFixtures(t)
	// Quantized, with a vocabulary that does not fill Q8_0 blocks: the
	// transposed copies are Q8_0 and the head is padded, as on GPT-2 124M.
	// (Not in the finite-difference test: the activations are quantized
	// too, so the loss moves in steps as large as the differences.)
	gq := fixtures["gpt2"]
	gq.Type, gq.VocabSize, gq.Name = gguf.TypeQ8_0, 1001, "gpt2-tiny-q8"
	fixtures["gpt2-q8"] = gq
	for name, cfg := range fixtures {
		t.Run(name, func(t *testing.T) {
			tr := newTrainer(t, fixturetest.Cached(t, "train-"+name, cfg), llama.TrainParams{Rank: 4, Alpha: 8, Threads: 2})
			randomLoRA(t, tr, 1, 0.05)
			seqs := trainSeqs(tr.Info().Vocab)
			grads := func(autodiff bool) [][]float32 {
				llama.SetAutodiffOnly(tr, autodiff)
				if _, err := tr.Backward(ctx, seqs); err != nil {
					t.Fatal(err)
				}
				var out [][]float32
				for i := range tr.LoRA() {
					out = append(out, tr.Grad(i))
				}
				return out
			}
			want := grads(true)
			llama.Profile(tr, true)
			got := grads(false)
			var rewritten int64
			for _, o := range llama.ProfileTimes(tr) {
				if strings.HasPrefix(o.Op, "bwd OUT_PROD") && !strings.HasSuffix(o.Op, "f32") {
					t.Errorf("%d %s nodes left: an input gradient still goes through out_prod", o.Runs, o.Op)
				}
				if o.Op == "bwd MUL_MAT "+map[bool]string{true: "q8_0", false: "f32"}[cfg.Type == gguf.TypeQ8_0] {
					rewritten += o.Runs
				}
			}
			llama.Profile(tr, false)
			if rewritten == 0 {
				t.Error("no input gradient was computed as a mul_mat against a transposed weight")
			}
			// Per tensor: the norm of the difference relative to the norm of
			// autodiff's gradient.
			var worst float64
			worstName := ""
			for i, lt := range tr.LoRA() {
				var d, n float64
				for j := range want[i] {
					d += math.Pow(float64(got[i][j]-want[i][j]), 2)
					n += math.Pow(float64(want[i][j]), 2)
				}
				if rel := math.Sqrt(d / max(n, 1e-30)); rel > worst {
					worst, worstName = rel, lt.Name
				}
			}
			t.Logf("%s: max relative difference from autodiff's gradient %.3g (%s)", name, worst, worstName)
			// F32 weights: the same sums in another order. Q8_0: the copy is
			// rounded once more.
			limit := 1e-4
			if cfg.Type == gguf.TypeQ8_0 {
				limit = 2e-2
			}
			if worst > limit {
				t.Errorf("%s: the rewritten gradient differs from autodiff's by %.3g (limit %.3g)", worstName, worst, limit)
			}
		})
	}
}

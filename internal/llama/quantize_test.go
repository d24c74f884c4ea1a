package llama_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
)

// kquantQwen3 is a 2-layer qwen3 fixture whose matrix rows are multiples of
// 256, so that llama.cpp's K-quants (Q6_K) apply to every matrix.
func kquantQwen3(t testing.TB) string {
	t.Helper()
	cfg := fixture.Config{Arch: fixture.ArchQwen3, Layers: 2, Embd: 256, Heads: 4, HeadsKV: 2, HeadDim: 64, FFN: 512,
		CtxTrain: 2048, Type: gguf.TypeF32, Vocab: fixture.VocabSynthetic, Name: "qwen3-kquant"}
	return fixturetest.Cached(t, "qwen3-kquant", cfg)
}

// matrixTypes counts the types of a GGUF's 2-D tensors.
func matrixTypes(t *testing.T, path string) map[gguf.Type]int {
	t.Helper()
	r, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := map[gguf.Type]int{}
	for _, ti := range r.Tensors {
		if len(ti.Shape) == 2 {
			n[ti.Type]++
		}
	}
	return n
}

// lastLogits decodes prompt and returns the last position's logits and n greedy tokens.
func lastLogits(t *testing.T, path string, prompt string, n int) ([]float32, []llama.Token) {
	t.Helper()
	m := load(t, path)
	c := newContext(t, m, llama.ContextParams{NCtx: 256})
	toks := tokenize(t, m, prompt)
	b := llama.NewBatch(len(toks), 1)
	defer b.Close()
	if err := b.AddSeq(toks, 0, 0, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Decode(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	row, err := c.Logits(len(toks) - 1)
	if err != nil {
		t.Fatal(err)
	}
	return row, greedy(t, c, toks, n)
}

// TestQuantizeModel: a Q6_K model requantized to Q8_0 by llama.cpp loads,
// every matrix is Q8_0, its logits move less than Q6_K's own rounding moved
// them from the F32 weights, and greedy tokens agree.
func TestQuantizeModel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f32 := kquantQwen3(t)
	q6 := filepath.Join(dir, "q6_k.gguf")
	q8 := filepath.Join(dir, "q8_0.gguf")
	if err := llama.QuantizeModel(ctx, f32, q6, "Q6_K", 1); err != nil {
		t.Fatal(err)
	}
	if err := llama.QuantizeModel(ctx, q6, q8, "q8_0", 1); err != nil {
		t.Fatal(err)
	}
	if got := matrixTypes(t, q6); got[gguf.TypeQ6_K] == 0 {
		t.Fatalf("Q6_K output's matrix types: %v", got)
	}
	if got := matrixTypes(t, q8); len(got) != 1 || got[gguf.TypeQ8_0] == 0 {
		t.Fatalf("Q8_0 output's matrix types: %v, want only Q8_0", got)
	}
	const prompt = "the quick brown fox jumps over the lazy dog"
	ref, _ := lastLogits(t, f32, prompt, 1)
	l6, tok6 := lastLogits(t, q6, prompt, 8)
	l8, tok8 := lastLogits(t, q8, prompt, 8)
	d68, d6f := maxAbsDiff(l6, l8), maxAbsDiff(l6, ref)
	t.Logf("max |logit diff|: Q8_0 vs Q6_K %.3g, Q6_K vs F32 %.3g", d68, d6f)
	// Q8_0 rounds 4× finer than Q6_K, so requantizing must move the logits
	// less than Q6_K's own rounding did (and a copy would move them not at all).
	if d68 == 0 || d68 >= d6f {
		t.Errorf("requantizing moved logits by %g, want nonzero and below Q6_K's own error %g", d68, d6f)
	}
	for i := range tok6 {
		if tok6[i] != tok8[i] {
			t.Errorf("greedy token %d: Q6_K %d, Q8_0 %d", i, tok6[i], tok8[i])
		}
	}
}

// TestQuantizeModelErrors: a bad type or a missing source fails before
// anything is written, and a file llama.cpp cannot read leaves no output and
// no temporary file behind.
func TestQuantizeModelErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dst := filepath.Join(dir, "out.gguf")
	if err := llama.QuantizeModel(ctx, kquantQwen3(t), dst, "q3_xs", 1); !errors.Is(err, llama.ErrInvalidParam) {
		t.Errorf("unknown type: err = %v, want ErrInvalidParam", err)
	}
	if err := llama.QuantizeModel(ctx, filepath.Join(dir, "missing.gguf"), dst, "q8_0", 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing source: err = %v, want ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, []byte("GGUF not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := llama.QuantizeModel(ctx, bad, dst, "q8_0", 1); !errors.Is(err, llama.ErrQuantize) {
		t.Errorf("unreadable source: err = %v, want ErrQuantize", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := llama.QuantizeModel(cancelled, kquantQwen3(t), dst, "q8_0", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "bad.gguf" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

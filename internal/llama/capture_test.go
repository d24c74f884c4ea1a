package llama_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
)

// compilerFixture is a 4-layer qwen3 whose vocabulary has 64 extra rows
// at the end, like the PAW compiler's prefix tokens.
func compilerFixture(t *testing.T) (string, fixture.Config) {
	t.Helper()
	cfg := fixture.Config{Arch: fixture.ArchQwen3, Layers: 4, Embd: 64, Heads: 4, HeadsKV: 2, HeadDim: 16, FFN: 128,
		CtxTrain: 2048, Type: gguf.TypeF32, Vocab: fixture.VocabSynthetic, Seed: 17, Untied: true}
	cfg.VocabSize = tinyQwen3(t).NVocab() + 64
	return fixturetest.Cached(t, "qwen3-compiler", cfg), cfg
}

// truncated writes a copy of the model at src keeping its first n layers.
func truncated(t *testing.T, src string, n int) string {
	t.Helper()
	r, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dst := filepath.Join(t.TempDir(), fmt.Sprintf("first%d.gguf", n))
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter(f)
	for _, kv := range r.KV {
		v := kv.Value
		if strings.HasSuffix(kv.Key, ".block_count") {
			v = uint32(n)
		}
		if kv.Key == gguf.KeyAlignment {
			continue
		}
		if err := w.AddKV(kv.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	var keep []gguf.TensorInfo
	for _, ti := range r.Tensors {
		if rest, ok := strings.CutPrefix(ti.Name, "blk."); ok {
			if l, _ := strconv.Atoi(rest[:strings.IndexByte(rest, '.')]); l >= n {
				continue
			}
		}
		keep = append(keep, ti)
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape...); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range keep {
		b, err := r.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteTensor(ti.Name, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// rmsNorm is the model's final norm of each row of x.
func rmsNorm(x, w []float32, eps float64) []float32 {
	out := make([]float32, len(x))
	d := len(w)
	for r := 0; r < len(x); r += d {
		var ss float64
		for _, v := range x[r : r+d] {
			ss += float64(v) * float64(v)
		}
		s := 1 / math.Sqrt(ss/float64(d)+eps)
		for i, v := range x[r : r+d] {
			out[r+i] = float32(float64(v)*s) * w[i]
		}
	}
	return out
}

func maxDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

// TestCaptureHidden: the states captured at every layer equal independent
// computations. An intermediate layer t's residual stream, normed with the
// final norm, equals the output embeddings of the same model cut after
// layer t; the last layer's states (post-norm) times the output matrix
// equal the logits of an ordinary decode.
func TestCaptureHidden(t *testing.T) {
	path, cfg := compilerFixture(t)
	m := load(t, path)
	const n, last = 100, 64
	tokens := make([]llama.Token, n)
	for i := range tokens {
		tokens[i] = llama.Token((i*7919 + 13) % m.NVocab())
	}
	// The prefix rows come last, as in the compiler's input.
	for i := range last {
		tokens[n-last+i] = llama.Token(m.NVocab() - last + i)
	}
	layers := []int{0, 1, 2, 3}
	ctx := context.Background()
	states, err := m.CaptureHidden(ctx, tokens, llama.CaptureParams{Layers: layers, Last: last, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	block := last * cfg.Embd
	if len(states) != len(layers)*block {
		t.Fatalf("%d state values, want %d", len(states), len(layers)*block)
	}
	r, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	normW, err := r.TensorFloat32("output_norm.weight")
	if err != nil {
		t.Fatal(err)
	}
	eps, _ := r.Float("qwen3.attention.layer_norm_rms_epsilon")
	for _, l := range layers[:len(layers)-1] {
		cut := load(t, truncated(t, path, l+1))
		ref, err := cut.CaptureHidden(ctx, tokens, llama.CaptureParams{Layers: []int{l}, Last: last, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := rmsNorm(states[l*block:(l+1)*block], normW, eps)
		diff, scale := maxDiff(got, ref)
		t.Logf("layer %d: max abs error %.3g (values up to %.3g)", l, diff, scale)
		if diff > 1e-4*scale {
			t.Errorf("layer %d: normed capture differs from the cut model's output by %.3g (values up to %.3g)", l, diff, scale)
		}
	}

	// The last layer: logits = output · state.
	out, err := r.TensorFloat32("output.weight")
	if err != nil {
		out, err = r.TensorFloat32("token_embd.weight")
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: n, NBatch: n, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := llama.NewBatch(n, 1)
	defer b.Close()
	for i, tok := range tokens {
		if _, err := b.Add(tok, i, []int{0}, i >= n-last); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Decode(ctx, b); err != nil {
		t.Fatal(err)
	}
	final := states[(len(layers)-1)*block:]
	var worst, scale float64
	for j := range last {
		logits, err := c.Logits(n - last + j)
		if err != nil {
			t.Fatal(err)
		}
		h := final[j*cfg.Embd : (j+1)*cfg.Embd]
		for v := range logits {
			var s float64
			for d, x := range h {
				s += float64(out[v*cfg.Embd+d]) * float64(x)
			}
			worst = max(worst, math.Abs(s-float64(logits[v])))
			scale = max(scale, math.Abs(float64(logits[v])))
		}
	}
	t.Logf("last layer: logits from the captured states, max abs error %.3g (logits up to %.3g)", worst, scale)
	if worst > 1e-4*scale {
		t.Errorf("last layer: logits from the captured states differ by %.3g (logits up to %.3g)", worst, scale)
	}
}

// TestCaptureHiddenRefuses: bad layers or lengths are ErrInvalidParam.
func TestCaptureHiddenRefuses(t *testing.T) {
	m := tinyQwen3(t)
	tokens := []llama.Token{1, 2, 3}
	for _, p := range []llama.CaptureParams{{Layers: []int{0}, Last: 4}, {Layers: []int{2}, Last: 1}, {Last: 1}} {
		if _, err := m.CaptureHidden(context.Background(), tokens, p); !errors.Is(err, llama.ErrInvalidParam) {
			t.Errorf("%+v: %v, want ErrInvalidParam", p, err)
		}
	}
}

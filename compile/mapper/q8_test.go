package mapper

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/interp"
)

// encoderReport compares what a quantized encoder gives with what the
// reference (unquantized) one gives: the states per interpreter layer and
// the adapters the mapper makes of them.
type encoderReport struct {
	rel, cos   []float64 // per layer: ‖q−r‖/‖r‖ and cosine of the states
	gap        []float64 // per layer: the reference's nearest other layer, ‖r_k−r_l‖/‖r_l‖
	aRel, bRel float64   // ‖ΔA‖/‖A‖ and ‖ΔB‖/‖B‖ over every module
	aCos, bCos float64
}

// relCos returns ‖a−b‖/‖b‖ and the cosine of a and b.
func relCos(a, b []float32) (rel, cos float64) {
	var d, aa, bb, ab float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		d += (x - y) * (x - y)
		aa, bb, ab = aa+x*x, bb+y*y, ab+x*y
	}
	return math.Sqrt(d / bb), ab / math.Sqrt(aa*bb)
}

func compareEncoders(ref, q []float32, refAd, qAd *Adapter, layers int) encoderReport {
	var r encoderReport
	n := len(ref) / layers
	at := func(s []float32, l int) []float32 { return s[l*n : (l+1)*n] }
	for l := range layers {
		rel, cos := relCos(at(q, l), at(ref, l))
		gap := math.Inf(1)
		for k := range layers {
			if k != l {
				g, _ := relCos(at(ref, k), at(ref, l))
				gap = min(gap, g)
			}
		}
		r.rel, r.cos, r.gap = append(r.rel, rel), append(r.cos, cos), append(r.gap, gap)
	}
	var qa, ra, qb, rb []float32
	for i := range refAd.Modules {
		ra, qa = append(ra, refAd.Modules[i].A...), append(qa, qAd.Modules[i].A...)
		rb, qb = append(rb, refAd.Modules[i].B...), append(qb, qAd.Modules[i].B...)
	}
	r.aRel, r.aCos = relCos(qa, ra)
	r.bRel, r.bCos = relCos(qb, rb)
	return r
}

func (r encoderReport) log(t *testing.T) {
	t.Helper()
	for l := range r.rel {
		t.Logf("layer %2d: states rel error %.2e, cosine %.6f (nearest other layer %.2f away)", l, r.rel[l], r.cos[l], r.gap[l])
	}
	t.Logf("adapter A: rel error %.2e, cosine %.6f; B: rel error %.2e, cosine %.6f", r.aRel, r.aCos, r.bRel, r.bCos)
}

// TestQ8EncoderError measures, on real pretrained weights (stories260K, a
// 5-layer Llama of d 64 whose width fits the qwen3-tiny mapper), what
// running the compiler encoder in Q8_0 instead of F32 changes: the states
// read at each mapped layer (layer 1 through cb_eval, layer 4 after the
// final norm), the mapper's A and B, and the interpreter's greedy outputs
// with the two adapters.
//
// Bounds: Q8_0 rounds each weight to 1/254 of its block's largest value,
// an RMS error near 0.5% of a weight for bell-shaped rows, and llama.cpp
// also rounds the activations to Q8_0 in each product, so a state moves by
// about 1% per matrix product it passes; errors of successive layers add up,
// and the 5% bound leaves room for that while failing for Q4_0's ~8% per
// weight, or states read at another layer (the nearest other layer is ≥ 10×
// farther away).
func TestQ8EncoderError(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "fixtures", "stories260K")
	if _, err := os.Stat(filepath.Join(src, "stories260K.bin")); err != nil {
		t.Skipf("stories260K fixture not found beside the repository: %v", err)
	}
	f32 := filepath.Join(t.TempDir(), "stories260K.gguf")
	if err := fixture.Stories260K(src, f32); err != nil {
		t.Fatal(err)
	}
	q8 := requant(t, f32, gguf.TypeQ8_0)
	c := &Compiler{Name: "stories-q8", MapperPath: "testdata/qwen3-tiny/lora_mapper.pt", MetaPath: "testdata/qwen3-tiny/meta.json"}
	mp, err := c.Mapper()
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.",
		"Tom had a big red ball. He wanted to share it with his friend, but the ball rolled away.",
	}
	type run struct {
		states []float32
		ad     *Adapter
	}
	encode := func(path string) []run {
		m := loadModel(t, path)
		e, err := NewEncoder(m, mp)
		if err != nil {
			t.Fatal(err)
		}
		var out []run
		for _, text := range texts {
			toks, err := m.Tokenize(text, true, false)
			if err != nil {
				t.Fatal(err)
			}
			states, err := m.CaptureHidden(context.Background(), append(toks, e.Prefix...),
				llama.CaptureParams{Layers: e.Layers, Last: len(e.Prefix), Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			ad, err := mp.Map(context.Background(), states)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, run{states, ad})
		}
		return out
	}
	ref, q := encode(f32), encode(q8)
	for i := range texts {
		r := compareEncoders(ref[i].states, q[i].states, ref[i].ad, q[i].ad, mp.Layers)
		r.log(t)
		for l := range r.rel {
			if r.rel[l] > 0.05 || r.cos[l] < 0.998 || r.rel[l] <= 0 || r.gap[l] < 10*r.rel[l] {
				t.Errorf("text %d layer %d: Q8_0 states rel error %.2e, cosine %.6f (nearest other layer %.2f): want 0 < error ≤ 5%%, cosine ≥ 0.998, and 10× below the gap",
					i, l, r.rel[l], r.cos[l], r.gap[l])
			}
		}
		if r.aRel > 0.05 || r.bRel > 0.05 {
			t.Errorf("text %d: adapter rel error A %.2e, B %.2e, want ≤ 5%%", i, r.aRel, r.bRel)
		}
	}

	// The interpreter's greedy outputs with each adapter; with the adapter of
	// the other text for scale (how much a different program changes them).
	interpCfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", interpCfg)
	eng, err := interp.New(interp.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	outputs := func(ad *Adapter) []string {
		res, err := c.export(texts[0], "[PSEUDO_PROGRAM]\n[END_PSEUDO_PROGRAM]", "supplied", ad, nil)
		if err != nil {
			t.Fatal(err)
		}
		fn, err := eng.Load(context.Background(), res.Program, base)
		if err != nil {
			t.Fatal(err)
		}
		defer fn.Close()
		var out []string
		for _, in := range []string{"hello", "a b c", "the cat sat", "1 2 3 4", "yes or no", "red", "Lily", "sun and rain",
			"x", "what is this", "9", "blue sky", "one two", "dog", "ok ok", "stop"} {
			r, err := fn.Call(context.Background(), in, interp.CallOptions{MaxTokens: 16})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r.Output)
		}
		return out
	}
	same := func(a, b []string) (n int) {
		for i := range a {
			if a[i] == b[i] {
				n++
			}
		}
		return n
	}
	refOut, qOut, otherOut := outputs(ref[0].ad), outputs(q[0].ad), outputs(ref[1].ad)
	agree, control := same(refOut, qOut), same(refOut, otherOut)
	t.Logf("interpreter greedy outputs (16 tokens) equal with the F32- and Q8_0-encoded adapters: %d/%d; with another text's adapter: %d/%d",
		agree, len(refOut), control, len(refOut))
	// A random interpreter's logits are nearly flat, so a 0.5% change of the
	// adapter flips some greedy choices; a real program's are peaked.
	if 2*agree < len(refOut) || agree <= control {
		t.Errorf("greedy outputs agree %d/%d (want at least half), another program's %d/%d (want fewer)", agree, len(refOut), control, len(refOut))
	}
}

package mapper

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/llama"
)

// writeHF writes the GGUF model at src as a Hugging Face Qwen3 checkpoint
// in BF16, in two shards with an index, its vocabulary as tokenizer.json
// with the last 64 rows named <prefix_1>…<prefix_64>.
func writeHF(t *testing.T, src string) string {
	t.Helper()
	bf16 := requant(t, src, gguf.TypeBF16)
	dir := t.TempDir()
	if err := fixture.WriteHF(bf16, dir, 2, 64); err != nil {
		t.Fatal(err)
	}
	return dir
}

// requant writes a copy of the GGUF model at src whose tensors are typ:
// every tensor for F16 and BF16; for block types, as llama.cpp's quantizer
// does, only the matrices whose rows fill whole blocks (the others stay F32).
func requant(t *testing.T, src string, typ gguf.Type) string {
	t.Helper()
	r, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), strings.ToLower(typ.String())+".gguf")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter(f)
	for _, kv := range r.KV {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	types := map[string]gguf.Type{}
	for _, ti := range r.Tensors {
		types[ti.Name] = gguf.TypeF32
		if (typ.BlockSize() == 1 || len(ti.Shape) == 2) && ti.Shape[0]%uint64(typ.BlockSize()) == 0 {
			types[ti.Name] = typ
		}
		if err := w.AddTensor(ti.Name, types[ti.Name], ti.Shape...); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range r.Tensors {
		v, err := r.TensorFloat32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := gguf.Quantize(types[ti.Name], v)
		if err == nil {
			err = w.WriteTensor(ti.Name, b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConvertHF: a sharded BF16 checkpoint of the encoder fixture converts
// to a GGUF whose tensors are the BF16 values, whose prefix tokens keep
// their ids and names, and whose final states match the original model's.
func TestConvertHF(t *testing.T) {
	c, _ := tinyCompiler(t)
	dir := writeHF(t, c.EncoderPath)
	out := filepath.Join(t.TempDir(), "compiler.gguf")
	if err := ConvertHF(dir, out, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	orig, err := gguf.Open(c.EncoderPath)
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	conv, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer conv.Close()
	if len(conv.Tensors) != len(orig.Tensors) {
		t.Fatalf("%d tensors, want %d", len(conv.Tensors), len(orig.Tensors))
	}
	for _, ti := range orig.Tensors {
		want, _ := orig.TensorFloat32(ti.Name)
		bf, _ := gguf.Quantize(gguf.TypeBF16, want)
		want, _ = gguf.Dequantize(gguf.TypeBF16, bf, len(want))
		got, err := conv.TensorFloat32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s[%d] = %v, want %v", ti.Name, i, got[i], want[i])
			}
		}
	}
	for _, k := range []string{"block_count", "embedding_length", "feed_forward_length", "attention.head_count_kv", "attention.key_length"} {
		a, _ := orig.Uint("qwen3." + k)
		b, _ := conv.Uint("qwen3." + k)
		if a != b {
			t.Errorf("qwen3.%s = %d, want %d", k, b, a)
		}
	}

	m := loadModel(t, out)
	mp, err := c.Mapper()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewEncoder(m, mp); err != nil {
		t.Errorf("the converted compiler: %v", err)
	}
	if got := m.TokenText(llama.Token(m.NVocab() - 64)); got != "<prefix_1>" {
		t.Errorf("token %d is %q, want <prefix_1>", m.NVocab()-64, got)
	}
	// The same tokens through both models: final states equal up to BF16 rounding.
	toks := []llama.Token{1, 5, 9, 200, 7, 3}
	final := func(m *llama.Model) []float32 {
		states, err := m.CaptureHidden(context.Background(), toks, llama.CaptureParams{Layers: []int{m.NLayer() - 1}, Last: 1, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		return states
	}
	a, b := final(loadModel(t, c.EncoderPath)), final(m)
	var diff, scale float64
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(a[i])))
	}
	t.Logf("final hidden state, converted vs original: max abs difference %.3g (values up to %.3g)", diff, scale)
	if diff > 0.05*scale {
		t.Errorf("final hidden state differs by %.3g (values up to %.3g)", diff, scale)
	}
	// Q8_0, the compiler type meant for CPUs, loads too.
	q8 := filepath.Join(t.TempDir(), "q8.gguf")
	if err := ConvertHF(dir, q8, gguf.TypeQ8_0); err != nil {
		t.Fatal(err)
	}
	loadModel(t, q8)
}

// TestEncoderGGUF: a compiler directory's checkpoint converts once per
// weight type: Q8_0 to compiler.gguf (the default), others beside it.
func TestEncoderGGUF(t *testing.T) {
	c, _ := tinyCompiler(t)
	dir := t.TempDir()
	if err := os.Rename(writeHF(t, c.EncoderPath), filepath.Join(dir, "compiler")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ       gguf.Type
		name      string
		converted bool
	}{{gguf.TypeQ8_0, "compiler.gguf", true}, {gguf.TypeQ8_0, "compiler.gguf", false}, {gguf.TypeBF16, "compiler-bf16.gguf", true}} {
		path, converted, err := EncoderGGUF(dir, tc.typ)
		if err != nil || path != filepath.Join(dir, tc.name) || converted != tc.converted {
			t.Fatalf("EncoderGGUF(%v) = %s, %v, %v; want %s, %v", tc.typ, path, converted, err, tc.name, tc.converted)
		}
		r, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if ti, _ := r.Tensor("blk.0.ffn_up.weight"); ti.Type != tc.typ {
			t.Errorf("%s: ffn_up is %v, want %v", tc.name, ti.Type, tc.typ)
		}
		r.Close()
	}
}

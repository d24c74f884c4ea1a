package mapper

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
)

// writeHF writes the GGUF model at src as a Hugging Face Qwen3 checkpoint
// in BF16, in two shards with an index, its vocabulary as tokenizer.json
// with the last 64 rows named <prefix_1>…<prefix_64>.
func writeHF(t *testing.T, src string) string {
	t.Helper()
	r, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	shards := map[string][]program.SafeTensor{}
	index := map[string]string{}
	for _, ti := range r.Tensors {
		f, err := r.TensorFloat32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := gguf.Quantize(gguf.TypeBF16, f)
		name := HFName(ti.Name)
		shard := "model-00002-of-00002.safetensors"
		if strings.HasPrefix(name, "model.layers.0.") || strings.HasPrefix(name, "model.layers.1.") {
			shard = "model-00001-of-00002.safetensors"
		}
		index[name] = shard
		shards[shard] = append(shards[shard], program.SafeTensor{Name: name, DType: "BF16", Shape: hfShape(ti.Shape), Data: b})
	}
	for name, ts := range shards {
		b, err := program.EncodeSafetensors(ts, map[string]string{"format": "pt"})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	u := func(k string) int { v, _ := r.Uint("qwen3." + k); return int(v) }
	f := func(k string) float64 { v, _ := r.Float("qwen3." + k); return v }
	writeJSON(t, filepath.Join(dir, "model.safetensors.index.json"), map[string]any{"weight_map": index})
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"architectures": []string{"Qwen3ForCausalLM"}, "hidden_size": u("embedding_length"),
		"num_hidden_layers": u("block_count"), "intermediate_size": u("feed_forward_length"),
		"num_attention_heads": u("attention.head_count"), "num_key_value_heads": u("attention.head_count_kv"),
		"head_dim": u("attention.key_length"), "rope_theta": f("rope.freq_base"),
		"rms_norm_eps": f("attention.layer_norm_rms_epsilon"), "max_position_embeddings": u("context_length"),
		"tie_word_embeddings": false, "torch_dtype": "bfloat16"})
	tokens, _ := r.Strings("tokenizer.ggml.tokens")
	merges, _ := r.Strings("tokenizer.ggml.merges")
	types, _ := r.Get("tokenizer.ggml.token_type")
	vocab := map[string]int{}
	var added []map[string]any
	for id, tok := range tokens {
		switch {
		case id >= len(tokens)-64:
			added = append(added, map[string]any{"id": id, "content": fmt.Sprintf("<prefix_%d>", id-len(tokens)+65), "special": true})
		case types.([]int32)[id] == 3:
			added = append(added, map[string]any{"id": id, "content": tok, "special": true})
		case types.([]int32)[id] == 1:
			vocab[tok] = id
		}
	}
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), map[string]any{
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": merges}, "added_tokens": added})
	tpl, _ := r.String("tokenizer.chat_template")
	writeJSON(t, filepath.Join(dir, "tokenizer_config.json"), map[string]any{"chat_template": tpl})
	return dir
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

package program

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
)

// rawSafetensors builds a safetensors file by hand: header is the JSON
// header, data the data section. It is independent of EncodeSafetensors.
func rawSafetensors(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestParseSafetensors(t *testing.T) {
	data := f32bytes([]float32{1, 2, 3, 4, 5, 6})
	good := rawSafetensors(`{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, data)
	st, err := ParseSafetensors(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tensors) != 2 || st.Tensors[0].Name != "a" || st.Metadata["format"] != "pt" {
		t.Fatalf("parsed %+v", st)
	}
	a, _ := st.Tensor("a")
	if v, err := a.Float32(); err != nil || fmt.Sprint(v) != "[1 2 3 4]" {
		t.Errorf("a = %v, %v", v, err)
	}
	bad := []struct{ name, header string }{
		{"overlap", `{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`},
		{"outside", `{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}`},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`},
		{"reversed", `{"a":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}}`},
		{"dtype", `{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`},
		{"negative dim", `{"a":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}`},
		{"overflow", `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`},
		{"one offset", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`},
		{"metadata not strings", `{"__metadata__":{"x":1}}`},
		{"not an object", `[1]`},
		{"null", `null`},
		{"bad JSON", `{`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSafetensors(rawSafetensors(tt.header, data)); !errors.Is(err, ErrSafetensors) {
				t.Errorf("got %v, want ErrSafetensors", err)
			}
		})
	}
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	if _, err := ParseSafetensors(huge); !errors.Is(err, ErrSafetensors) {
		t.Errorf("huge header length: %v", err)
	}
	if _, err := ParseSafetensors([]byte{1, 2}); !errors.Is(err, ErrSafetensors) {
		t.Errorf("short file: %v", err)
	}
	// EncodeSafetensors round trip.
	enc, err := EncodeSafetensors(st.Tensors, st.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSafetensors(enc)
	if err != nil || len(back.Tensors) != 2 || !bytes.Equal(back.Tensors[1].Data, st.Tensors[1].Data) {
		t.Errorf("EncodeSafetensors round trip: %+v, %v", back, err)
	}
}

// peftModule is a PEFT module with its llama.cpp name and (in, out).
type peftModule struct {
	module, tensor string
	in, out        int
}

func peftModules(arch string) []peftModule {
	if arch == "gpt2" { // gpt2-tiny: d 64, FFN 256
		return []peftModule{{"attn.c_attn", "attn_qkv", 64, 192}, {"attn.c_proj", "attn_output", 64, 64},
			{"mlp.c_fc", "ffn_up", 64, 256}, {"mlp.c_proj", "ffn_down", 256, 64}}
	}
	// qwen3-tiny: d 64, 4 q heads and 2 kv heads of 16, FFN 128
	return []peftModule{{"self_attn.q_proj", "attn_q", 64, 64}, {"self_attn.k_proj", "attn_k", 64, 32},
		{"self_attn.v_proj", "attn_v", 64, 32}, {"self_attn.o_proj", "attn_output", 64, 64},
		{"mlp.gate_proj", "ffn_gate", 64, 128}, {"mlp.up_proj", "ffn_up", 64, 128}, {"mlp.down_proj", "ffn_down", 128, 64}}
}

// peftAdapter is a random PEFT adapter: config, weights and the expected
// float values by GGUF tensor name.
type peftAdapter struct {
	config, weights []byte
	want            map[string][]float32
	shapes          map[string][]uint64
}

func makePEFT(t testing.TB, arch string, rank int, dtype string, cfg map[string]any) peftAdapter {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(rank), 9))
	prefix := map[string]string{"qwen3": "base_model.model.model.layers.", "gpt2": "base_model.model.transformer.h."}[arch]
	pa := peftAdapter{want: map[string][]float32{}, shapes: map[string][]uint64{}}
	var tensors []SafeTensor
	var targets []string
	for layer := range 2 {
		for _, m := range peftModules(arch) {
			if layer == 0 {
				targets = append(targets, m.module[strings.LastIndex(m.module, ".")+1:])
			}
			base := fmt.Sprintf("blk.%d.%s.weight", layer, m.tensor)
			for _, ab := range []struct {
				suffix string
				shape  []int64
				ggml   []uint64
			}{
				{"lora_A", []int64{int64(rank), int64(m.in)}, []uint64{uint64(m.in), uint64(rank)}},
				{"lora_B", []int64{int64(m.out), int64(rank)}, []uint64{uint64(rank), uint64(m.out)}},
			} {
				v := make([]float32, ab.shape[0]*ab.shape[1])
				for i := range v {
					v[i] = float32(rng.NormFloat64() * 0.1)
				}
				data := f32bytes(v)
				if dtype != "F32" {
					typ := map[string]gguf.Type{"F16": gguf.TypeF16, "BF16": gguf.TypeBF16}[dtype]
					data, _ = gguf.Quantize(typ, v)
					v, _ = gguf.Dequantize(typ, data, len(v))
				}
				name := fmt.Sprintf("%s%d.%s.%s.weight", prefix, layer, m.module, ab.suffix)
				tensors = append(tensors, SafeTensor{Name: name, DType: dtype, Shape: ab.shape, Data: data})
				g := base + "." + strings.ToLower(ab.suffix)
				pa.want[g], pa.shapes[g] = v, ab.ggml
			}
		}
	}
	var err error
	if pa.weights, err = EncodeSafetensors(tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{"peft_type": "LORA", "r": rank, "lora_alpha": 16, "target_modules": targets,
		"base_model_name_or_path": "x", "bias": "none", "use_dora": false, "use_rslora": false, "fan_in_fan_out": arch == "gpt2"}
	for k, v := range cfg {
		conf[k] = v
	}
	pa.config, _ = json.Marshal(conf)
	return pa
}

func TestConvertPEFT(t *testing.T) {
	tests := []struct {
		arch, dtype string
		rank        int
		typ         gguf.Type
	}{
		{"qwen3", "F32", 32, gguf.TypeF32},
		{"qwen3", "BF16", 32, gguf.TypeF16},
		{"qwen3", "F16", 64, gguf.TypeQ4_0},
		{"gpt2", "F32", 8, gguf.TypeF32},
		{"gpt2", "F32", 32, gguf.TypeQ4_0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%s-r%d-%v", tt.arch, tt.dtype, tt.rank, tt.typ), func(t *testing.T) {
			pa := makePEFT(t, tt.arch, tt.rank, tt.dtype, nil)
			out, err := ConvertPEFT(pa.config, pa.weights, tt.arch, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			r, err := gguf.NewReader(bytes.NewReader(out), int64(len(out)))
			if err != nil {
				t.Fatal(err)
			}
			l, err := r.LoRA()
			if err != nil {
				t.Fatal(err)
			}
			if l.Arch != tt.arch || l.Rank != tt.rank || l.Alpha != 16 || l.Layers != 2 || len(l.Targets) != len(peftModules(tt.arch)) {
				t.Errorf("LoRA summary %+v", l)
			}
			if len(r.Tensors) != len(pa.want) {
				t.Errorf("%d tensors, want %d", len(r.Tensors), len(pa.want))
			}
			for name, want := range pa.want {
				ti, ok := r.Tensor(name)
				if !ok {
					t.Fatalf("missing %s", name)
				}
				if fmt.Sprint(ti.Shape) != fmt.Sprint(pa.shapes[name]) || ti.Type != tt.typ {
					t.Errorf("%s: %v %v, want %v %v", name, ti.Shape, ti.Type, pa.shapes[name], tt.typ)
				}
				got, err := r.TensorFloat32(name)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, name, tt.typ, got, want)
			}
			// The converted adapter fits the fixture base model, as llama.cpp checks it.
			cfg, _ := fixture.Preset(tt.arch + "-tiny")
			p := &Program{Adapter: out}
			if err := p.CheckBase(baseModel(t, cfg)); err != nil {
				t.Errorf("CheckBase: %v", err)
			}
		})
	}
}

// checkClose compares converted values: exactly for F32, within half an
// F16 ulp (or the smallest subnormal) for F16, within a quantization step
// for Q4_0.
func checkClose(t *testing.T, name string, typ gguf.Type, got, want []float32) {
	t.Helper()
	for blk := 0; blk < len(want); blk += 32 {
		end := min(blk+32, len(want))
		var amax float64
		for _, v := range want[blk:end] {
			amax = max(amax, math.Abs(float64(v)))
		}
		for i := blk; i < end; i++ {
			d := math.Abs(float64(got[i] - want[i]))
			var tol float64
			switch typ {
			case gguf.TypeF16:
				tol = max(math.Abs(float64(want[i]))/1024, 0x1p-24)
			case gguf.TypeQ4_0:
				// A step is d = amax/8; values at the far end of the block's
				// range clamp to 7d, so the error can reach a whole step.
				tol = amax/8*1.01 + 1e-6
			}
			if d > tol {
				t.Fatalf("%s[%d] = %v, want %v (±%v)", name, i, got[i], want[i], tol)
			}
		}
	}
}

func TestConvertPEFTRejects(t *testing.T) {
	base := makePEFT(t, "qwen3", 32, "F32", nil)
	st, _ := ParseSafetensors(base.weights)
	withTensor := func(extra SafeTensor) []byte {
		b, err := EncodeSafetensors(append(append([]SafeTensor{}, st.Tensors...), extra), nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dropB, _ := EncodeSafetensors(st.Tensors[:len(st.Tensors)-1], nil) // sorted: the last is a lora_B
	tests := []struct {
		name      string
		cfg       map[string]any
		weights   []byte
		interp    string
		typ       gguf.Type
		wantInErr string
	}{
		{name: "dora", cfg: map[string]any{"use_dora": true}, wantInErr: "use_dora"},
		{name: "rslora", cfg: map[string]any{"use_rslora": true}, wantInErr: "use_rslora"},
		{name: "rank pattern", cfg: map[string]any{"rank_pattern": map[string]int{"q_proj": 8}}, wantInErr: "rank_pattern"},
		{name: "lm_head target", cfg: map[string]any{"target_modules": []string{"q_proj", "lm_head"}}, wantInErr: `"lm_head"`},
		{name: "modules_to_save", cfg: map[string]any{"modules_to_save": []string{"lm_head"}}, wantInErr: "modules_to_save"},
		{name: "bias", cfg: map[string]any{"bias": "all"}, wantInErr: "bias"},
		{name: "prefix tuning", cfg: map[string]any{"peft_type": "PREFIX_TUNING"}, wantInErr: "peft_type"},
		{name: "embedding tensor", weights: withTensor(SafeTensor{Name: "base_model.model.model.embed_tokens.lora_embedding_A", DType: "F32", Shape: []int64{1}, Data: make([]byte, 4)}), wantInErr: "embed_tokens"},
		{name: "dora magnitude", weights: withTensor(SafeTensor{Name: "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", DType: "F32", Shape: []int64{1}, Data: make([]byte, 4)}), wantInErr: "lora_magnitude_vector"},
		{name: "missing lora_B", weights: dropB, wantInErr: "lacks its lora_A or lora_B"},
		{name: "rank mismatch", cfg: map[string]any{"r": 16}, wantInErr: "want [r=16, in]"},
		{name: "gpt2 names for qwen3", weights: makePEFT(t, "gpt2", 32, "F32", nil).weights, wantInErr: "not a LoRA tensor of a qwen3 block"},
		{name: "q4_0 rank 8", weights: makePEFT(t, "qwen3", 8, "F32", nil).weights, cfg: map[string]any{"r": 8}, typ: gguf.TypeQ4_0, wantInErr: "multiples of 32"},
		{name: "q8_0 output", typ: gguf.TypeQ8_0, wantInErr: "want F32, F16 or Q4_0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := map[string]any{}
			json.Unmarshal(base.config, &cfg)
			for k, v := range tt.cfg {
				cfg[k] = v
			}
			cb, _ := json.Marshal(cfg)
			w := tt.weights
			if w == nil {
				w = base.weights
			}
			typ := tt.typ
			if typ == 0 {
				typ = gguf.TypeF32
			}
			_, err := ConvertPEFT(cb, w, "qwen3", typ)
			if !errors.Is(err, ErrPEFT) || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("got %v, want ErrPEFT mentioning %q", err, tt.wantInErr)
			}
		})
	}
}

func TestPackPEFT(t *testing.T) {
	pa := makePEFT(t, "qwen3", 64, "F32", nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, PEFTConfigFile), pa.config, 0o644)
	os.WriteFile(filepath.Join(dir, PEFTWeightsFile), pa.weights, 0o644)
	pseudo := filepath.Join(t.TempDir(), "pseudo.txt")
	os.WriteFile(pseudo, []byte("Reverse the words.\n"), 0o644)
	out := filepath.Join(t.TempDir(), "out.paw")
	p, err := Pack(PackOptions{Spec: "reverse", PseudoProgramFile: pseudo, Interpreter: "qwen3", PEFTDir: dir, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if p.LoRA.Types[0] != gguf.TypeQ4_0 || p.Meta.LoRARank != 64 || p.PseudoProgram != "Reverse the words." ||
		!bytes.Equal(p.Extra[PEFTConfigFile], pa.config) {
		t.Errorf("packed %+v / %+v", p.LoRA, p.Meta)
	}
	got, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != p.ID() || got.AdapterSHA256 != p.AdapterSHA256 {
		t.Errorf("reopened id %s sha %s, want %s %s", got.ID(), got.AdapterSHA256, p.ID(), p.AdapterSHA256)
	}
	if _, err := Pack(PackOptions{Interpreter: "qwen3", PEFTDir: dir, AdapterType: "q8_0"}); !errors.Is(err, ErrPEFT) {
		t.Errorf("q8_0: %v", err)
	}
	if _, err := Pack(PackOptions{Interpreter: "qwen3"}); !errors.Is(err, ErrPack) {
		t.Errorf("no adapter: %v", err)
	}
}

// TestPEFTWithPython cross-checks against PyTorch's safetensors when it is
// installed (it usually is not).
func TestPEFTWithPython(t *testing.T) {
	if err := exec.Command("python3", "-c", "import torch, safetensors").Run(); err != nil {
		t.Skip("python3 with torch and safetensors is not available")
	}
	dir := t.TempDir()
	script := `import torch, safetensors.torch as st, sys
torch.manual_seed(0)
st.save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.randn(32, 64),
              "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": torch.randn(64, 32)}, sys.argv[1])`
	path := filepath.Join(dir, "w.safetensors")
	if out, err := exec.Command("python3", "-c", script, path).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	w, _ := os.ReadFile(path)
	if _, err := ConvertPEFT([]byte(`{"r":32,"lora_alpha":16}`), w, "qwen3", gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
}

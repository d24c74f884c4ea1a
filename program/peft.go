package program

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/paw-dev/paw/gguf"
)

// PEFT adapter files.
const (
	PEFTConfigFile  = "adapter_config.json"
	PEFTWeightsFile = "adapter_model.safetensors"
	maxPEFTWeights  = 2 << 30
	maxPEFTConfig   = 1 << 20
)

// PEFTConfig is the part of a PEFT adapter_config.json the conversion reads.
type PEFTConfig struct {
	PEFTType      string          `json:"peft_type"`
	R             int             `json:"r"`
	LoRAAlpha     float64         `json:"lora_alpha"`
	TargetModules json.RawMessage `json:"target_modules"` // a list of names, or a regex / "all-linear"
	BaseModel     string          `json:"base_model_name_or_path"`
	UseDoRA       bool            `json:"use_dora"`
	UseRSLoRA     bool            `json:"use_rslora"`
	Bias          string          `json:"bias"`
	ModulesToSave []string        `json:"modules_to_save"`
	RankPattern   map[string]any  `json:"rank_pattern"`
	AlphaPattern  map[string]any  `json:"alpha_pattern"`
}

// peftTarget maps a PEFT module path inside a block to its llama.cpp tensor.
type peftTarget struct{ module, tensor string }

// peftTargets lists, per architecture, the modules paw converts, in the
// order the adapter's tensors are written. GPT-2's Conv1D modules need no
// transpose: PEFT's lora_A/lora_B for Conv1D have the nn.Linear layout
// ([r, in] and [out, r]); fan_in_fan_out only transposes the merged delta.
var peftTargets = map[string][]peftTarget{
	"qwen3": {
		{"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"}, {"self_attn.v_proj", "attn_v"},
		{"self_attn.o_proj", "attn_output"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
		{"mlp.down_proj", "ffn_down"},
	},
	"gpt2": {
		{"attn.c_attn", "attn_qkv"}, {"attn.c_proj", "attn_output"}, {"mlp.c_fc", "ffn_up"}, {"mlp.c_proj", "ffn_down"},
	},
}

// peftBlockPrefix is the PEFT name of block N's parent, per architecture.
var peftBlockPrefix = map[string]string{
	"qwen3": "base_model.model.model.layers.",
	"gpt2":  "base_model.model.transformer.h.",
}

// ParseAdapterType parses an adapter tensor type for ConvertPEFT: "f32",
// "f16" or "q4_0" (any case); "" means Q4_0, the official type.
func ParseAdapterType(s string) (gguf.Type, error) {
	switch strings.ToLower(s) {
	case "", "q4_0":
		return gguf.TypeQ4_0, nil
	case "f16":
		return gguf.TypeF16, nil
	case "f32":
		return gguf.TypeF32, nil
	}
	return 0, fmt.Errorf("%w: adapter type %q, want f32, f16 or q4_0", ErrPEFT, s)
}

// ConvertPEFTDir converts the PEFT adapter in dir (adapter_config.json and
// adapter_model.safetensors) for interpreter; see [ConvertPEFT].
func ConvertPEFTDir(dir, interpreter string, typ gguf.Type) ([]byte, error) {
	cfg, err := readFileLimited(filepath.Join(dir, PEFTConfigFile), PEFTConfigFile, maxPEFTConfig)
	if err != nil {
		return nil, fmt.Errorf("convert PEFT adapter %s: %w", dir, err)
	}
	weights, err := readFileLimited(filepath.Join(dir, PEFTWeightsFile), PEFTWeightsFile, maxPEFTWeights)
	if err != nil {
		return nil, fmt.Errorf("convert PEFT adapter %s: %w", dir, err)
	}
	out, err := ConvertPEFT(cfg, weights, interpreter, typ)
	if err != nil {
		return nil, fmt.Errorf("convert PEFT adapter %s: %w", dir, err)
	}
	return out, nil
}

// ConvertPEFT converts a PEFT LoRA adapter (adapter_config.json and
// adapter_model.safetensors contents) trained on interpreter's Hugging Face
// model to a llama.cpp LoRA GGUF with tensors of type typ (F32, F16 or
// Q4_0; Q4_0 needs the rank and every n_in to be multiples of 32).
//
// Qwen3 modules q/k/v/o_proj and gate/up/down_proj become
// blk.N.attn_{q,k,v,output} and ffn_{gate,up,down}; GPT-2's attn.c_attn,
// attn.c_proj, mlp.c_fc and mlp.c_proj become attn_qkv, attn_output, ffn_up
// and ffn_down. lora_A [r, in] becomes lora_a with ggml shape [in, r] and
// lora_B [out, r] becomes lora_b [r, out], byte order unchanged.
//
// llama.cpp's convert_lora_to_gguf.py reuses convert_hf_to_gguf's GPT-2
// transpose of Conv1D weights, which on a LoRA pair swaps and transposes A
// and B, giving lora_a [out, r] and lora_b [r, in]: llama.cpp then rejects
// every non-square GPT-2 target. paw keeps PEFT's layout, which is what
// llama_adapter_lora_init checks (a.ne[0] == W.ne[0], b.ne[1] == W.ne[1]).
//
// DoRA, rsLoRA, per-module rank or alpha patterns, trained biases,
// modules_to_save and modules other than those above are rejected with
// [ErrPEFT].
func ConvertPEFT(config, weights []byte, interpreter string, typ gguf.Type) ([]byte, error) {
	interp, err := ParseInterpreter(interpreter)
	if err != nil {
		return nil, err
	}
	arch := Arch(interp)
	cfg, err := parsePEFTConfig(config, arch)
	if err != nil {
		return nil, err
	}
	switch typ {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeQ4_0:
	default:
		return nil, fmt.Errorf("%w: adapter type %v, want F32, F16 or Q4_0", ErrPEFT, typ)
	}
	st, err := ParseSafetensors(weights)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PEFTWeightsFile, err)
	}
	pairs, err := peftPairs(st, arch, cfg.R)
	if err != nil {
		return nil, err
	}
	return writeLoRAGGUF(arch, float32(cfg.LoRAAlpha), typ, pairs)
}

// parsePEFTConfig decodes adapter_config.json and rejects what paw cannot
// convert.
func parsePEFTConfig(b []byte, arch string) (PEFTConfig, error) {
	var c PEFTConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrPEFT, PEFTConfigFile, err)
	}
	fail := func(format string, args ...any) (PEFTConfig, error) {
		return c, fmt.Errorf("%w: %s: %s", ErrPEFT, PEFTConfigFile, fmt.Sprintf(format, args...))
	}
	switch {
	case c.PEFTType != "" && c.PEFTType != "LORA":
		return fail("peft_type %q, want LORA", c.PEFTType)
	case c.R <= 0:
		return fail("rank r = %d, want > 0", c.R)
	case c.LoRAAlpha <= 0 || math.IsInf(c.LoRAAlpha, 0) || c.LoRAAlpha > math.MaxFloat32:
		return fail("lora_alpha = %v, want > 0", c.LoRAAlpha)
	case c.UseDoRA:
		return fail("use_dora is set; llama.cpp has no DoRA magnitudes")
	case c.UseRSLoRA:
		return fail("use_rslora is set; llama.cpp scales by alpha/r, not alpha/sqrt(r)")
	case len(c.RankPattern) > 0 || len(c.AlphaPattern) > 0:
		return fail("rank_pattern/alpha_pattern give modules their own rank or alpha; one alpha/r is supported")
	case c.Bias != "" && c.Bias != "none":
		return fail("bias = %q; trained biases are not supported", c.Bias)
	case len(c.ModulesToSave) > 0:
		return fail("modules_to_save %v: fully trained modules are not supported", c.ModulesToSave)
	}
	var modules []string
	if len(c.TargetModules) > 0 && json.Unmarshal(c.TargetModules, &modules) == nil {
		for _, m := range modules {
			if !supportedModule(arch, m) {
				return fail("target module %q is not supported for %s (supported: %s)", m, arch, supportedModules(arch))
			}
		}
	}
	return c, nil
}

// supportedModule reports whether a PEFT target_modules entry names a
// module paw converts (by its last one or two path elements).
func supportedModule(arch, m string) bool {
	for _, t := range peftTargets[arch] {
		if m == t.module || strings.HasSuffix(t.module, "."+m) || strings.HasSuffix(m, "."+t.module) {
			return true
		}
	}
	return false
}

func supportedModules(arch string) string {
	var s []string
	for _, t := range peftTargets[arch] {
		s = append(s, t.module)
	}
	return strings.Join(s, ", ")
}

// loraPair is one converted target: A [rank, in] and B [out, rank].
type loraPair struct {
	layer         int
	order         int // index in peftTargets
	tensor        string
	rank, in, out int
	a, b          []float32
	aName, bName  string
}

// peftPairs maps every tensor of st to a llama.cpp target and pairs A with B.
func peftPairs(st *Safetensors, arch string, rank int) ([]*loraPair, error) {
	byBase := map[string]*loraPair{}
	for _, t := range st.Tensors {
		layer, order, isA, err := mapPEFTName(arch, t.Name)
		if err != nil {
			return nil, err
		}
		tgt := peftTargets[arch][order]
		base := fmt.Sprintf("blk.%d.%s.weight", layer, tgt.tensor)
		p := byBase[base]
		if p == nil {
			p = &loraPair{layer: layer, order: order, tensor: base}
			byBase[base] = p
		}
		if len(t.Shape) != 2 || t.Shape[0] <= 0 || t.Shape[1] <= 0 {
			return nil, fmt.Errorf("%w: %s has shape %v, want 2 positive dimensions", ErrPEFT, t.Name, t.Shape)
		}
		vals, err := t.Float32()
		if err != nil {
			return nil, err
		}
		if isA { // [r, in]
			if int(t.Shape[0]) != rank {
				return nil, fmt.Errorf("%w: %s has shape %v, want [r=%d, in]", ErrPEFT, t.Name, t.Shape, rank)
			}
			p.a, p.aName, p.in = vals, t.Name, int(t.Shape[1])
		} else { // [out, r]
			if int(t.Shape[1]) != rank {
				return nil, fmt.Errorf("%w: %s has shape %v, want [out, r=%d]", ErrPEFT, t.Name, t.Shape, rank)
			}
			p.b, p.bName, p.out = vals, t.Name, int(t.Shape[0])
		}
		p.rank = rank
	}
	if len(byBase) == 0 {
		return nil, fmt.Errorf("%w: %s has no LoRA tensors", ErrPEFT, PEFTWeightsFile)
	}
	pairs := make([]*loraPair, 0, len(byBase))
	for _, p := range byBase {
		if p.a == nil || p.b == nil {
			return nil, fmt.Errorf("%w: %s lacks its lora_A or lora_B (have %q%q)", ErrPEFT, p.tensor, p.aName, p.bName)
		}
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, func(x, y *loraPair) int {
		if x.layer != y.layer {
			return x.layer - y.layer
		}
		return x.order - y.order
	})
	return pairs, nil
}

// mapPEFTName parses "base_model.model.<block prefix>N.<module>.lora_{A,B}.weight".
func mapPEFTName(arch, name string) (layer, order int, isA bool, err error) {
	bad := func(why string) (int, int, bool, error) {
		return 0, 0, false, fmt.Errorf("%w: tensor %q: %s", ErrPEFT, name, why)
	}
	rest, ok := strings.CutPrefix(name, peftBlockPrefix[arch])
	if !ok {
		return bad(fmt.Sprintf("not a LoRA tensor of a %s block (want %sN.<module>.lora_A.weight)", arch, peftBlockPrefix[arch]))
	}
	num, rest, _ := strings.Cut(rest, ".")
	layer, err = strconv.Atoi(num)
	if err != nil || layer < 0 || layer > 9999 || strconv.Itoa(layer) != num {
		return bad("bad layer number")
	}
	var module string
	switch {
	case strings.HasSuffix(rest, ".lora_A.weight"):
		module, isA = strings.TrimSuffix(rest, ".lora_A.weight"), true
	case strings.HasSuffix(rest, ".lora_B.weight"):
		module = strings.TrimSuffix(rest, ".lora_B.weight")
	default:
		return bad("neither lora_A.weight nor lora_B.weight (DoRA magnitudes, embeddings and biases are not supported)")
	}
	for i, t := range peftTargets[arch] {
		if t.module == module {
			return layer, i, isA, nil
		}
	}
	return bad(fmt.Sprintf("module %q is not supported for %s (supported: %s)", module, arch, supportedModules(arch)))
}

// writeLoRAGGUF encodes pairs as a llama.cpp LoRA adapter.
func writeLoRAGGUF(arch string, alpha float32, typ gguf.Type, pairs []*loraPair) ([]byte, error) {
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"},
		{Key: "adapter.lora.alpha", Value: alpha},
	} {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	for _, p := range pairs {
		if bs := typ.BlockSize(); bs > 1 && (p.rank%bs != 0 || p.in%bs != 0) {
			return nil, fmt.Errorf("%w: %v needs the rank (%d) and n_in (%d of %s) to be multiples of %d; use f16 or f32",
				ErrPEFT, typ, p.rank, p.in, p.tensor, bs)
		}
		if err := w.AddTensor(p.tensor+".lora_a", typ, uint64(p.in), uint64(p.rank)); err != nil {
			return nil, err
		}
		if err := w.AddTensor(p.tensor+".lora_b", typ, uint64(p.rank), uint64(p.out)); err != nil {
			return nil, err
		}
	}
	for _, p := range pairs {
		for _, t := range []struct {
			name string
			v    []float32
		}{{p.tensor + ".lora_a", p.a}, {p.tensor + ".lora_b", p.b}} {
			data, err := gguf.Quantize(typ, t.v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			if err := w.WriteTensor(t.name, data); err != nil {
				return nil, err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

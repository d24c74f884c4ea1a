// Package mapper is PAW's fast compiler run offline: the LoRA mapper that
// turns the compiler encoder's hidden states into an adapter in one pass
// (no gradient steps), and its export in the official adapter layout.
//
// The mapper (lora_mapper.pt) averages the encoder's states over layers and
// positions to h, computes coefficients c = W2·GELU(W1·h + b1) + b2 and
// combines, per module type, a shared set of basis matrices with each
// layer's coefficients into that layer's LoRA A and B.
package mapper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// ErrShape reports a checkpoint or input whose shapes do not fit together.
var ErrShape = errors.New("mapper: shape mismatch")

// Meta is the compiler's meta.json: what the mapper was trained for.
type Meta struct {
	Interpreter  string  `json:"interpreter"`
	LoRARank     int     `json:"lora_rank"`
	LoRAAlpha    float64 `json:"lora_alpha"`
	LoRANumBases int     `json:"lora_num_bases"`
	PrefixSteps  int     `json:"prefix_steps"`
}

// ReadMeta reads a compiler's meta.json.
func ReadMeta(file string) (Meta, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Meta{}, fmt.Errorf("read compiler meta: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("read compiler meta %s: %w", file, err)
	}
	if m.LoRARank <= 0 || m.LoRANumBases <= 0 || m.PrefixSteps <= 0 || m.LoRAAlpha <= 0 {
		return Meta{}, fmt.Errorf("%w: compiler meta %s: rank %d, bases %d, prefix steps %d, alpha %v must be positive",
			ErrShape, file, m.LoRARank, m.LoRANumBases, m.PrefixSteps, m.LoRAAlpha)
	}
	return m, nil
}

// LayerMap returns, for each of the interpreter's layers l, the compiler
// layer whose states feed it: floor((l+1)·compiler/interp) − 1.
func LayerMap(compiler, interp int) []int {
	out := make([]int, interp)
	for l := range out {
		out[l] = (l+1)*compiler/interp - 1
	}
	return out
}

// stems maps the mapper's module names (Hugging Face's) to the GGUF tensor
// stems of the interpreter's blocks.
var stems = map[string]string{
	// Qwen3
	"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
	"gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
	// GPT-2
	"c_attn": "attn_qkv", "attn_c_proj": "attn_output", "c_fc": "ffn_up", "mlp_c_proj": "ffn_down",
}

// Module is one module type's bases: A [bases, rank, In] and B [bases, Out, rank].
type Module struct {
	Name    string // Hugging Face module name, e.g. "q_proj"
	Stem    string // GGUF tensor stem, e.g. "attn_q"
	In, Out int
	a, b    []float32
}

// Mapper is a loaded lora_mapper.pt.
type Mapper struct {
	Arch    string // interpreter architecture: "qwen3" or "gpt2"
	Hidden  int    // the compiler's hidden size
	Layers  int    // the interpreter's layers
	Rank    int
	Bases   int
	Alpha   float32
	Prefix  int      // encoder positions read (the prefix tokens)
	Modules []Module // sorted by Name, the order of the coefficients

	w1, b1, w2, b2 []float32
}

var basesKey = regexp.MustCompile(`^([AB])_bases[._](.+)$`)

// New checks a mapper state dict against meta and returns the Mapper. It
// keeps references to sd's data.
func New(sd map[string]Tensor, meta Meta) (*Mapper, error) {
	m := &Mapper{Rank: meta.LoRARank, Bases: meta.LoRANumBases, Alpha: float32(meta.LoRAAlpha), Prefix: meta.PrefixSteps}
	get := func(name string, dims int) (Tensor, error) {
		t, ok := sd[name]
		if !ok || len(t.Shape) != dims {
			return Tensor{}, fmt.Errorf("%w: %s missing or not %d-D", ErrShape, name, dims)
		}
		return t, nil
	}
	w1, err := get("trunk.0.weight", 2)
	if err != nil {
		return nil, err
	}
	b1, err := get("trunk.0.bias", 1)
	if err != nil {
		return nil, err
	}
	w2, err := get("coeff_head.weight", 2)
	if err != nil {
		return nil, err
	}
	b2, err := get("coeff_head.bias", 1)
	if err != nil {
		return nil, err
	}
	m.Hidden = w1.Shape[1]
	if w1.Shape[0] != m.Hidden || b1.Shape[0] != m.Hidden || w2.Shape[1] != m.Hidden || b2.Shape[0] != w2.Shape[0] {
		return nil, fmt.Errorf("%w: trunk %v + %v, head %v + %v", ErrShape, w1.Shape, b1.Shape, w2.Shape, b2.Shape)
	}
	m.w1, m.b1, m.w2, m.b2 = w1.Data, b1.Data, w2.Data, b2.Data

	byName := map[string]*Module{}
	for key := range sd {
		g := basesKey.FindStringSubmatch(key)
		if g == nil {
			continue
		}
		stem, ok := stems[g[2]]
		if !ok {
			return nil, fmt.Errorf("%w: %s: unknown module %q", ErrShape, key, g[2])
		}
		mod := byName[g[2]]
		if mod == nil {
			mod = &Module{Name: g[2], Stem: stem}
			byName[g[2]] = mod
		}
		t := sd[key]
		if len(t.Shape) != 3 || t.Shape[0] != m.Bases {
			return nil, fmt.Errorf("%w: %s is %v, want [%d, …]", ErrShape, key, t.Shape, m.Bases)
		}
		if g[1] == "A" {
			if t.Shape[1] != m.Rank {
				return nil, fmt.Errorf("%w: %s is %v, want [%d, %d, d_in]", ErrShape, key, t.Shape, m.Bases, m.Rank)
			}
			mod.In, mod.a = t.Shape[2], t.Data
		} else {
			if t.Shape[2] != m.Rank {
				return nil, fmt.Errorf("%w: %s is %v, want [%d, d_out, %d]", ErrShape, key, t.Shape, m.Bases, m.Rank)
			}
			mod.Out, mod.b = t.Shape[1], t.Data
		}
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range byName {
			if !yield(k) {
				return
			}
		}
	}) {
		mod := byName[name]
		if mod.a == nil || mod.b == nil {
			return nil, fmt.Errorf("%w: module %s lacks its A or B bases", ErrShape, name)
		}
		m.Modules = append(m.Modules, *mod)
	}
	if len(m.Modules) == 0 {
		return nil, fmt.Errorf("%w: no A_bases/B_bases tensors", ErrShape)
	}
	m.Arch = "qwen3"
	if _, ok := byName["c_attn"]; ok {
		m.Arch = "gpt2"
	}
	per := len(m.Modules) * m.Bases * 2
	if len(m.b2)%per != 0 || len(m.b2) == 0 {
		return nil, fmt.Errorf("%w: %d coefficients are not layers × %d modules × %d bases × 2", ErrShape, len(m.b2), len(m.Modules), m.Bases)
	}
	m.Layers = len(m.b2) / per
	return m, nil
}

// Coefficients returns c = W2·GELU(W1·h + b1) + b2 for h, the mean of
// states: rows of Hidden floats (every position of every layer read).
func (m *Mapper) Coefficients(states []float32) ([]float32, error) {
	if len(states) == 0 || len(states)%m.Hidden != 0 {
		return nil, fmt.Errorf("%w: %d state values are not rows of %d", ErrShape, len(states), m.Hidden)
	}
	rows := len(states) / m.Hidden
	sum := make([]float64, m.Hidden)
	for r := range rows {
		for i, v := range states[r*m.Hidden : (r+1)*m.Hidden] {
			sum[i] += float64(v)
		}
	}
	h := make([]float32, m.Hidden)
	for i, s := range sum {
		h[i] = float32(s / float64(rows))
	}
	z := slices.Clone(m.b1)
	blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: m.Hidden, Cols: m.Hidden, Stride: m.Hidden, Data: m.w1},
		blas32.Vector{N: m.Hidden, Inc: 1, Data: h}, 1, blas32.Vector{N: m.Hidden, Inc: 1, Data: z})
	for i, x := range z {
		z[i] = float32(0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2)))
	}
	c := slices.Clone(m.b2)
	blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: len(c), Cols: m.Hidden, Stride: m.Hidden, Data: m.w2},
		blas32.Vector{N: m.Hidden, Inc: 1, Data: z}, 1, blas32.Vector{N: len(c), Inc: 1, Data: c})
	return c, nil
}

// Weights are one module type's LoRA matrices for every layer: A holds
// Layers blocks of [Rank, In] (row-major), B Layers blocks of [Out, Rank].
type Weights struct {
	Module
	A, B []float32
}

// Adapter is the mapper's output: every layer's A and B, fp32, unscaled
// (the runtime applies Alpha/Rank).
type Adapter struct {
	Arch    string
	Alpha   float32
	Rank    int
	Layers  int
	Modules []Weights
}

// Map computes the adapter for the encoder's states (see Coefficients):
// per module type, one GEMM of the layers' coefficients [Layers, Bases]
// by the bases [Bases, Rank·In] (and [Bases, Out·Rank]).
func (m *Mapper) Map(ctx context.Context, states []float32) (*Adapter, error) {
	c, err := m.Coefficients(states)
	if err != nil {
		return nil, err
	}
	ad := &Adapter{Arch: m.Arch, Alpha: m.Alpha, Rank: m.Rank, Layers: m.Layers}
	nm := len(m.Modules)
	for mi, mod := range m.Modules {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("map: %w", err)
		}
		alphaA := make([]float32, m.Layers*m.Bases)
		alphaB := make([]float32, m.Layers*m.Bases)
		for l := range m.Layers {
			for n := range m.Bases {
				i := ((l*nm+mi)*m.Bases + n) * 2
				alphaA[l*m.Bases+n], alphaB[l*m.Bases+n] = c[i], c[i+1]
			}
		}
		w := Weights{Module: mod}
		w.A = combine(alphaA, m.Layers, m.Bases, mod.a)
		w.B = combine(alphaB, m.Layers, m.Bases, mod.b)
		ad.Modules = append(ad.Modules, w)
	}
	return ad, nil
}

// combine returns coeff [layers, bases] · bases [bases, len/bases].
func combine(coeff []float32, layers, nb int, bases []float32) []float32 {
	cols := len(bases) / nb
	out := make([]float32, layers*cols)
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas32.General{Rows: layers, Cols: nb, Stride: nb, Data: coeff},
		blas32.General{Rows: nb, Cols: cols, Stride: cols, Data: bases},
		0, blas32.General{Rows: layers, Cols: cols, Stride: cols, Data: out})
	return out
}

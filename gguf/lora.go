package gguf

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotAdapter reports a file that is not a well-formed LoRA adapter.
var ErrNotAdapter = errors.New("gguf: not a LoRA adapter")

// LoRA summarises a llama.cpp LoRA adapter file (general.type=adapter,
// adapter.type=lora): tensors named "<base tensor>.lora_a" with shape
// [n_in, rank] and "<base tensor>.lora_b" with shape [rank, n_out].
type LoRA struct {
	Arch    string   `json:"arch"`    // general.architecture of the base model it fits
	Alpha   float64  `json:"alpha"`   // adapter.lora.alpha
	Rank    int      `json:"rank"`    // shared inner dimension of every pair
	Targets []string `json:"targets"` // base tensor kinds it adapts, e.g. "attn_q", "ffn_down" (sorted, unique)
	Layers  int      `json:"layers"`  // number of distinct blocks adapted
	Types   []Type   `json:"types"`   // tensor types used (sorted, unique)
}

// IsAdapter reports whether the file declares itself a LoRA adapter.
func (r *Reader) IsAdapter() bool {
	gt, _ := r.String("general.type")
	at, _ := r.String("adapter.type")
	return gt == "adapter" && at == "lora"
}

// LoRA checks the adapter layout and summarises it. It fails if the file is
// not a LoRA adapter, a tensor lacks its pair, or the pairs disagree on rank.
func (r *Reader) LoRA() (LoRA, error) {
	if !r.IsAdapter() {
		if gt, _ := r.String("general.type"); gt == "model" {
			return LoRA{}, fmt.Errorf("%w: this is a model file (general.type model), not an adapter", ErrNotAdapter)
		}
		return LoRA{}, fmt.Errorf("%w: general.type/adapter.type are not adapter/lora", ErrNotAdapter)
	}
	l := LoRA{Arch: r.Architecture(), Rank: -1}
	l.Alpha, _ = r.Float("adapter.lora.alpha")
	targets := map[string]bool{}
	layers := map[string]bool{}
	types := map[Type]bool{}
	for _, t := range r.Tensors {
		base, ok := strings.CutSuffix(t.Name, ".lora_a")
		if !ok {
			if !strings.HasSuffix(t.Name, ".lora_b") {
				return LoRA{}, fmt.Errorf("%w: tensor %q is neither .lora_a nor .lora_b", ErrNotAdapter, t.Name)
			}
			if _, ok := r.Tensor(strings.TrimSuffix(t.Name, "_b") + "_a"); !ok {
				return LoRA{}, fmt.Errorf("%w: %q has no matching lora_a", ErrNotAdapter, t.Name)
			}
			continue
		}
		b, ok := r.Tensor(base + ".lora_b")
		if !ok {
			return LoRA{}, fmt.Errorf("%w: %q has no matching lora_b", ErrNotAdapter, t.Name)
		}
		if len(t.Shape) != 2 || len(b.Shape) != 2 || t.Shape[1] != b.Shape[0] {
			return LoRA{}, fmt.Errorf("%w: %s: lora_a %v and lora_b %v do not share a rank", ErrNotAdapter, base, t.Shape, b.Shape)
		}
		rank := int(t.Shape[1])
		if l.Rank >= 0 && rank != l.Rank {
			return LoRA{}, fmt.Errorf("%w: %s has rank %d, others %d", ErrNotAdapter, base, rank, l.Rank)
		}
		l.Rank = rank
		// "blk.N.attn_q.weight" -> layer "blk.N", target "attn_q"
		parts := strings.Split(base, ".")
		if len(parts) >= 3 && parts[0] == "blk" {
			layers[parts[1]] = true
			targets[parts[2]] = true
		} else {
			targets[strings.TrimSuffix(base, ".weight")] = true
		}
		types[t.Type], types[b.Type] = true, true
	}
	if l.Rank < 0 {
		return LoRA{}, fmt.Errorf("%w: no lora_a/lora_b tensors", ErrNotAdapter)
	}
	for k := range targets {
		l.Targets = append(l.Targets, k)
	}
	slices.Sort(l.Targets)
	for k := range types {
		l.Types = append(l.Types, k)
	}
	slices.Sort(l.Types)
	l.Layers = len(layers)
	return l, nil
}

package program

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/paw-dev/paw/gguf"
)

// CheckBase reports whether p's adapter fits the base model: the same
// general.architecture, and for every lora_a/lora_b pair a base tensor whose
// shape [n_in, n_out] matches lora_a's n_in and lora_b's n_out, as
// llama.cpp's llama_adapter_lora_init requires. Mismatches are
// [ErrBaseMismatch] errors naming the tensor and both shapes.
func (p *Program) CheckBase(base *gguf.Reader) error {
	ar, err := gguf.NewReader(bytes.NewReader(p.Adapter), int64(len(p.Adapter)))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrAdapter, memberAdapter, err)
	}
	if base.IsAdapter() {
		return fmt.Errorf("%w: the base model file is a LoRA adapter; give the interpreter's own GGUF (%s)", ErrBaseMismatch, ar.Architecture())
	}
	if got, want := ar.Architecture(), base.Architecture(); got != want {
		return fmt.Errorf("%w: adapter is for %q, base model is %q", ErrBaseMismatch, got, want)
	}
	for _, a := range ar.Tensors {
		name, ok := strings.CutSuffix(a.Name, ".lora_a")
		if !ok {
			continue
		}
		b, ok := ar.Tensor(name + ".lora_b")
		if !ok {
			return fmt.Errorf("%w: %s: %q has no lora_b", ErrAdapter, memberAdapter, name)
		}
		t, ok := base.Tensor(name)
		if !ok {
			return fmt.Errorf("%w: base model has no tensor %q", ErrBaseMismatch, name)
		}
		if len(t.Shape) != 2 || len(a.Shape) != 2 || len(b.Shape) != 2 ||
			a.Shape[0] != t.Shape[0] || b.Shape[1] != t.Shape[1] || a.Shape[1] != b.Shape[0] {
			return fmt.Errorf("%w: %s: base shape %v, adapter lora_a %v × lora_b %v gives [%d %d]",
				ErrBaseMismatch, name, t.Shape, a.Shape, b.Shape, a.Shape[0], lastDim(b.Shape))
		}
	}
	return nil
}

func lastDim(s []uint64) uint64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

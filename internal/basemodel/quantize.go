package basemodel

import (
	"context"

	"github.com/paw-dev/paw/internal/llama"
)

// Quantize writes the GGUF model src with its weights as typ (one of
// QuantizeTypes) to dst, whole or not at all, with llama.cpp's own quantizer;
// already quantized weights are requantized (a Q6_K base to Q8_0, say).
func Quantize(ctx context.Context, src, dst, typ string, threads int) error {
	return llama.QuantizeModel(ctx, src, dst, typ, threads)
}

// QuantizeTypes lists the types Quantize writes.
func QuantizeTypes() []string { return llama.QuantizeTypes() }

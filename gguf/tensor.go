package gguf

import (
	"fmt"
	"math/bits"
)

// maxDims is ggml's GGML_MAX_DIMS.
const maxDims = 4

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name   string
	Shape  []uint64 // ggml order: Shape[0] is the innermost (row length), like ggml ne[]
	Type   Type
	Offset uint64 // relative to the start of the data section
}

// NumElements returns the product of the shape (1 for an empty shape). It
// saturates at the maximum uint64 on overflow; [TensorInfo.Size] reports
// overflow as an error.
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 {
			return ^uint64(0)
		}
		n = lo
	}
	return n
}

// Size returns the number of bytes of the tensor's data.
func (t TensorInfo) Size() (int64, error) {
	n, err := numElements(t.Shape)
	if err != nil {
		return 0, err
	}
	if len(t.Shape) > 0 && t.Type.BlockSize() > 0 && t.Shape[0]%uint64(t.Type.BlockSize()) != 0 {
		return 0, fmt.Errorf("%w: row length %d of %q is not a multiple of %v block size %d",
			ErrShape, t.Shape[0], t.Name, t.Type, t.Type.BlockSize())
	}
	return t.Type.RowBytes(n)
}

// numElements returns the product of shape, failing if it exceeds int64.
func numElements(shape []uint64) (int64, error) {
	n := uint64(1)
	for _, d := range shape {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > maxInt64 {
			return 0, fmt.Errorf("%w: %v has more than 2^63-1 elements", ErrShape, shape)
		}
		n = lo
	}
	return int64(n), nil
}

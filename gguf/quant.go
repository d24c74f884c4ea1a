package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Quantize encodes src as type t: F32, F16, BF16, Q8_0 or Q4_0, bit-exactly
// as ggml's reference quantizers (quantize_row_*_ref). len(src) must be a
// multiple of t's block size. Other types return [ErrUnsupportedType].
func Quantize(t Type, src []float32) ([]byte, error) {
	return AppendQuantized(nil, t, src)
}

// AppendQuantized appends the encoding of src as type t to dst, like
// [Quantize], growing dst at most once.
func AppendQuantized(dst []byte, t Type, src []float32) ([]byte, error) {
	switch t {
	case TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0:
	default:
		return dst, fmt.Errorf("%w: cannot quantize to %v", ErrUnsupportedType, t)
	}
	size, err := t.RowBytes(int64(len(src)))
	if err != nil {
		return dst, err
	}
	n := len(dst)
	dst = slices.Grow(dst, int(size))[:n+int(size)]
	out := dst[n:]
	switch t {
	case TypeF32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case TypeF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], fp32ToFp16(v))
		}
	case TypeBF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], fp32ToBf16(v))
		}
	case TypeQ8_0:
		for i := 0; i < len(src); i += 32 {
			quantizeBlockQ8_0((*[34]byte)(out[i/32*34:]), (*[32]float32)(src[i:]))
		}
	case TypeQ4_0:
		for i := 0; i < len(src); i += 32 {
			quantizeBlockQ4_0((*[18]byte)(out[i/32*18:]), (*[32]float32)(src[i:]))
		}
	}
	return dst, nil
}

// quantizeBlockQ8_0 is quantize_row_q8_0_ref for one block:
// d = amax/127 as fp16, then qs[j] = roundf(x[j]/d).
func quantizeBlockQ8_0(out *[34]byte, x *[32]float32) {
	var amax float32
	for _, v := range x {
		a := float32(math.Abs(float64(v)))
		if !(amax > a) { // MAX(amax, a) as in C, NaN included
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(out[:], fp32ToFp16(d))
	for j, v := range x {
		out[2+j] = byte(int8(int32(math.Round(float64(v * id)))))
	}
}

// quantizeBlockQ4_0 is quantize_row_q4_0_ref for one block: d = max/-8 as
// fp16 where max is the value of largest magnitude, q = min(15, trunc(x/d +
// 8.5)), byte j holding q[j] in its low nibble and q[j+16] in its high one.
func quantizeBlockQ4_0(out *[18]byte, x *[32]float32) {
	var amax, maxv float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); amax < a {
			amax, maxv = a, v
		}
	}
	d := maxv / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(out[:], fp32ToFp16(d))
	for j := range 16 {
		// float32(...) rounds the product before the add, as C does.
		q0 := min(15, int32(float32(x[j]*id)+8.5))
		q1 := min(15, int32(float32(x[j+16]*id)+8.5))
		out[2+j] = byte(q0) | byte(q1)<<4
	}
}

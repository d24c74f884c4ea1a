package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// canDequantize reports whether Dequantize supports t.
func canDequantize(t Type) bool {
	switch t {
	case TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ4_K, TypeQ6_K:
		return true
	}
	return false
}

// Dequantize decodes n elements of type t from src, which must hold exactly
// their encoding, as ggml's dequantize_row_* does. It supports F32, F16,
// BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K; other types return
// [ErrUnsupportedType].
func Dequantize(t Type, src []byte, n int) ([]float32, error) {
	if !canDequantize(t) {
		return nil, fmt.Errorf("%w: cannot dequantize %v", ErrUnsupportedType, t)
	}
	size, err := t.RowBytes(int64(n))
	if err != nil {
		return nil, err
	}
	if int64(len(src)) != size {
		return nil, fmt.Errorf("%w: %d bytes for %d %v elements, want %d", ErrTensorSize, len(src), n, t, size)
	}
	out := make([]float32, n)
	le := binary.LittleEndian
	switch t {
	case TypeF32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
		return out, nil
	case TypeF16:
		for i := range out {
			out[i] = fp16ToFp32(le.Uint16(src[2*i:]))
		}
		return out, nil
	case TypeBF16:
		for i := range out {
			out[i] = bf16ToFp32(le.Uint16(src[2*i:]))
		}
		return out, nil
	}
	bs, bb := t.BlockSize(), t.BlockBytes()
	for b := 0; b < n/bs; b++ {
		in, y := src[b*bb:(b+1)*bb], out[b*bs:(b+1)*bs]
		switch t {
		case TypeQ8_0:
			dequantQ8_0(y, in)
		case TypeQ4_0:
			dequantQ4_0(y, in)
		case TypeQ4_1:
			dequantQ4_1(y, in)
		case TypeQ4_K:
			dequantQ4_K(y, in)
		case TypeQ6_K:
			dequantQ6_K(y, in)
		}
	}
	return out, nil
}

func dequantQ8_0(y []float32, in []byte) {
	d := fp16ToFp32(binary.LittleEndian.Uint16(in))
	for j := range 32 {
		y[j] = float32(int8(in[2+j])) * d
	}
}

func dequantQ4_0(y []float32, in []byte) {
	d := fp16ToFp32(binary.LittleEndian.Uint16(in))
	for j := range 16 {
		y[j] = float32(int32(in[2+j]&0xf)-8) * d
		y[j+16] = float32(int32(in[2+j]>>4)-8) * d
	}
}

func dequantQ4_1(y []float32, in []byte) {
	d := fp16ToFp32(binary.LittleEndian.Uint16(in))
	m := fp16ToFp32(binary.LittleEndian.Uint16(in[2:]))
	for j := range 16 {
		y[j] = float32(float32(in[4+j]&0xf)*d) + m
		y[j+16] = float32(float32(in[4+j]>>4)*d) + m
	}
}

// scaleMinK4 is ggml's get_scale_min_k4 over the 12 packed 6-bit scales.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// dequantQ4_K decodes block_q4_K: fp16 d, fp16 dmin, 12 bytes of scales, 128 bytes of quants.
func dequantQ4_K(y []float32, in []byte) {
	d := fp16ToFp32(binary.LittleEndian.Uint16(in))
	dmin := fp16ToFp32(binary.LittleEndian.Uint16(in[2:]))
	scales, q := in[4:16], in[16:144]
	for is, j := 0, 0; j < qkK; j, is = j+64, is+2 {
		sc, m := scaleMinK4(is, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(is+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		for l := range 32 {
			y[j+l] = float32(d1*float32(q[l]&0xf)) - m1
			y[j+32+l] = float32(d2*float32(q[l]>>4)) - m2
		}
		q = q[32:]
	}
}

// dequantQ6_K decodes block_q6_K: 128 bytes low nibbles, 64 bytes high bits,
// 16 int8 scales, fp16 d.
func dequantQ6_K(y []float32, in []byte) {
	ql, qh, sc := in[0:128], in[128:192], in[192:208]
	d := fp16ToFp32(binary.LittleEndian.Uint16(in[208:]))
	for n := 0; n < qkK; n += 128 {
		for l := range 32 {
			is := l / 16
			q1 := int32(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
			q2 := int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
			q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			y[n+l] = float32(d*float32(int8(sc[is]))) * float32(q1)
			y[n+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
			y[n+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
			y[n+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
		}
		ql, qh, sc = ql[64:], qh[32:], sc[8:]
	}
}

package gguf

import "math"

// fp32ToFp16 converts f to IEEE half precision, rounding to nearest even.
// It is ggml_compute_fp32_to_fp16: overflow gives ±inf, NaN gives ±0x7E00.
func fp32ToFp16(f float32) uint16 {
	const scaleToInf = 0x1.0p+112
	const scaleToZero = 0x1.0p-110
	w := math.Float32bits(f)
	// The explicit conversions stop the compiler fusing the multiply and the
	// add below into an FMA, which would round differently.
	base := float32(float32(math.Float32frombits(w&0x7fffffff)*scaleToInf) * scaleToZero)
	shl1w := w + w
	sign := w & 0x80000000
	bias := shl1w & 0xff000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits((bias>>1)+0x07800000) + base
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007c00
	mantBits := bits & 0x00000fff
	if shl1w > 0xff000000 {
		return uint16(sign>>16) | 0x7e00
	}
	return uint16(sign>>16) | uint16(expBits+mantBits)
}

// fp16ToFp32 converts an IEEE half to float32 exactly (NaN payloads kept).
func fp16ToFp32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf, NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: mant * 2^-24, exact in float32.
	f := float32(mant) * 0x1p-24
	return math.Float32frombits(sign | math.Float32bits(f))
}

// fp32ToBf16 converts f to bfloat16, rounding to nearest even. It is
// ggml_compute_fp32_to_bf16: NaNs are truncated and forced quiet.
func fp32ToBf16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + (u>>16)&1)) >> 16)
}

// bf16ToFp32 converts a bfloat16 to float32 exactly.
func bf16ToFp32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

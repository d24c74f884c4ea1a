package gguf

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQuantizeBlocks(t *testing.T) {
	block := func(head ...float32) []float32 {
		x := make([]float32, 32)
		copy(x, head)
		return x
	}
	q4 := block(-8, 4, 1, 0, 7.9)
	q4[16], q4[17] = -1, 2.6
	tests := []struct {
		name string
		typ  Type
		src  []float32
		want []byte
	}{
		{
			// d = 1/127 -> fp16 0x2008; id = 127; -0.5*127 = -63.5 rounds away from zero.
			name: "q8_0 hand block", typ: TypeQ8_0, src: block(1, -0.5, 0.25),
			want: append([]byte{0x08, 0x20, 127, 0xc0, 32}, make([]byte, 29)...),
		},
		{
			name: "q8_0 zeros", typ: TypeQ8_0, src: block(),
			want: make([]byte, 34),
		},
		{
			// max = -8 so d = 1 (0x3c00); q = trunc(x+8.5) capped at 15;
			// byte j = q[j] | q[j+16]<<4.
			name: "q4_0 hand block", typ: TypeQ4_0, src: q4,
			want: []byte{0x00, 0x3c, 0x70, 0xbc, 0x89, 0x88, 0x8f, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88},
		},
		{
			// max = +2 so d = -0.25 (0xb400): 2 -> trunc(0.5) = 0, -2 -> 16 -> 15.
			name: "q4_0 positive max", typ: TypeQ4_0, src: block(2, -2, 0.25),
			want: []byte{0x00, 0xb4, 0x80, 0x8f, 0x87, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88},
		},
		{
			// d = 0 / -8 is -0 (0x8000), as in C.
			name: "q4_0 zeros", typ: TypeQ4_0, src: block(),
			want: append([]byte{0, 0x80}, repeat(0x88, 16)...),
		},
		{
			name: "f16", typ: TypeF16, src: []float32{1, -2, 65504},
			want: []byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b},
		},
		{
			name: "bf16", typ: TypeBF16, src: []float32{1, -2},
			want: []byte{0x80, 0x3f, 0x00, 0xc0},
		},
		{
			name: "f32", typ: TypeF32, src: []float32{1, -2},
			want: []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Quantize(tt.typ, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Quantize mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestQuantizeErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		n    int
		want error
	}{
		{"q4_k unsupported", TypeQ4_K, 256, ErrUnsupportedType},
		{"unknown", Type(77), 32, ErrUnsupportedType},
		{"q8_0 partial block", TypeQ8_0, 31, ErrShape},
		{"q4_0 partial block", TypeQ4_0, 48, ErrShape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Quantize(tt.typ, make([]float32, tt.n)); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAppendQuantized(t *testing.T) {
	src := randFloats(rand.New(rand.NewPCG(5, 6)), 64, 1)
	want, _ := Quantize(TypeQ8_0, src)
	got, err := AppendQuantized([]byte("prefix"), TypeQ8_0, src)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(append([]byte("prefix"), want...), got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func randFloats(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

// TestQuantizeRandomError checks that dequantized random data lies within the
// quantization step of the original: d/2 for Q8_0 (plus fp16 rounding of d),
// and d for Q4_0, whose clamp at 15 costs one extra half step; each plus
// the rounding of d to fp16 times the largest quant.
func TestQuantizeRandomError(t *testing.T) {
	tests := []struct {
		name  string
		typ   Type
		bound func(amax float64) float64
	}{
		{"f32", TypeF32, func(float64) float64 { return 0 }},
		{"f16", TypeF16, func(a float64) float64 { return a * 0x1p-11 }},
		{"bf16", TypeBF16, func(a float64) float64 { return a * 0x1p-8 }},
		{"q8_0", TypeQ8_0, func(a float64) float64 { return a/127*0.5001 + 127*fp16Err(a/127) }},
		{"q4_0", TypeQ4_0, func(a float64) float64 { return a/8*1.0001 + 8*fp16Err(a/8) }},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, scale := range []float64{1e-3, 1, 300} {
				src := randFloats(rng, 32*256, scale)
				q, err := Quantize(tt.typ, src)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Dequantize(tt.typ, q, len(src))
				if err != nil {
					t.Fatal(err)
				}
				for b := 0; b < len(src); b += 32 {
					var amax float64
					for _, v := range src[b : b+32] {
						amax = max(amax, math.Abs(float64(v)))
					}
					for i := b; i < b+32; i++ {
						bound := max(tt.bound(amax), tt.bound(math.Abs(float64(src[i]))))
						if d := math.Abs(float64(got[i] - src[i])); d > bound {
							t.Fatalf("scale %g element %d: %g -> %g, error %g > %g", scale, i, src[i], got[i], d, bound)
						}
					}
				}
			}
		})
	}
}

// fp16Err bounds the error of rounding d to fp16: half an ulp, at least half
// the smallest subnormal.
func fp16Err(d float64) float64 { return max(d*0x1p-11, 0x1p-25) }

func TestDequantizeErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		src  int
		n    int
		want error
	}{
		{"short", TypeQ8_0, 33, 32, ErrTensorSize},
		{"long", TypeF32, 12, 2, ErrTensorSize},
		{"partial block", TypeQ4_0, 18, 16, ErrShape},
		{"unsupported", TypeQ2_K, 84, 256, ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Dequantize(tt.typ, make([]byte, tt.src), tt.n); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDequantizeKQuants checks Q4_K and Q6_K against a per-element reading of
// the block layouts in ggml-common.h.
func TestDequantizeKQuants(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	le := binary.LittleEndian
	t.Run("q6_k", func(t *testing.T) {
		blk := make([]byte, 210)
		for i := range 208 {
			blk[i] = byte(rng.Uint32())
		}
		le.PutUint16(blk[208:], fp32ToFp16(0.125))
		got, err := Dequantize(TypeQ6_K, blk, 256)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 256 {
			n, r := i/128, i%128
			l, quarter := r%32, r/32
			lo := blk[n*64+l+(quarter&1)*32]
			if quarter >= 2 {
				lo >>= 4
			}
			hi := blk[128+n*32+l] >> (2 * quarter) & 3
			q := int(lo&0xf|hi<<4) - 32
			sc := int8(blk[192+n*8+l/16+2*quarter])
			want := 0.125 * float32(sc) * float32(q)
			if got[i] != want {
				t.Fatalf("element %d = %g, want %g", i, got[i], want)
			}
		}
	})
	t.Run("q4_k", func(t *testing.T) {
		blk := make([]byte, 144)
		for i := 4; i < 144; i++ {
			blk[i] = byte(rng.Uint32())
		}
		le.PutUint16(blk, fp32ToFp16(0.5))
		le.PutUint16(blk[2:], fp32ToFp16(0.25))
		got, err := Dequantize(TypeQ4_K, blk, 256)
		if err != nil {
			t.Fatal(err)
		}
		sc := blk[4:16]
		for i := range 256 {
			j, l, high := i/64, i%32, i%64 >= 32
			s := 2*j + map[bool]int{false: 0, true: 1}[high]
			var scale, m uint8 // 6-bit scales: 0-3 direct, 4-7 split
			if s < 4 {
				scale, m = sc[s]&63, sc[s+4]&63
			} else {
				scale = sc[s+4]&0xf | sc[s-4]>>6<<4
				m = sc[s+4]>>4 | sc[s]>>6<<4
			}
			q := blk[16+j*32+l]
			if high {
				q >>= 4
			}
			want := 0.5*float32(scale)*float32(q&0xf) - 0.25*float32(m)
			if got[i] != want {
				t.Fatalf("element %d = %g, want %g", i, got[i], want)
			}
		}
	})
}

func BenchmarkQuantize(b *testing.B) {
	src := randFloats(rand.New(rand.NewPCG(1, 1)), 1<<20, 1)
	for _, typ := range []Type{TypeQ4_0, TypeQ8_0, TypeF16, TypeBF16} {
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(src)))
			dst := make([]byte, 0, 4*len(src))
			for b.Loop() {
				var err error
				if dst, err = AppendQuantized(dst[:0], typ, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDequantize(b *testing.B) {
	src := randFloats(rand.New(rand.NewPCG(1, 1)), 1<<20, 1)
	for _, typ := range []Type{TypeQ4_0, TypeQ8_0, TypeF16} {
		q, _ := Quantize(typ, src)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				if _, err := Dequantize(typ, q, len(src)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

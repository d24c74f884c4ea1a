package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestFp32ToFp16(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"max half", 65504, 0x7bff},
		{"rounds down to max", 65519, 0x7bff},
		{"tie rounds to inf", 65520, 0x7c00},
		{"overflow", 1e6, 0x7c00},
		{"third", 1.0 / 3, 0x3555},
		{"tenth", 0.1, 0x2e66},
		{"tie to even down", 1 + 0x1p-11, 0x3c00},
		{"tie to even up", 1 + 3*0x1p-11, 0x3c02},
		{"smallest normal", 0x1p-14, 0x0400},
		{"largest subnormal", 0x3ffp-24, 0x03ff},
		{"smallest subnormal", 0x1p-24, 0x0001},
		{"half smallest subnormal ties to zero", 0x1p-25, 0x0000},
		{"just above half subnormal", 0x1.000002p-25, 0x0001},
		{"1.5 subnormal ties to even", 0x3p-25, 0x0002},
		{"underflow", 1e-10, 0x0000},
		{"negative underflow", -1e-10, 0x8000},
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"inf", float32(math.Inf(1)), 0x7c00},
		{"negative inf", float32(math.Inf(-1)), 0xfc00},
		{"nan", float32(math.NaN()), 0x7e00},
		{"negative nan", math.Float32frombits(0xffc00001), 0xfe00},
		{"float32 max", math.MaxFloat32, 0x7c00},
		{"float32 smallest", math.SmallestNonzeroFloat32, 0x0000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fp32ToFp16(tt.in); got != tt.want {
				t.Errorf("fp32ToFp16(%g) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
}

// TestFp16AllValues converts every half to float32 and back.
func TestFp16AllValues(t *testing.T) {
	for h := range 1 << 16 {
		f := fp16ToFp32(uint16(h))
		want := uint16(h)
		if f != f {
			want = uint16(h)&0x8000 | 0x7e00
		}
		if got := fp32ToFp16(f); got != want {
			t.Fatalf("fp32ToFp16(fp16ToFp32(%#04x) = %g) = %#04x, want %#04x", h, f, got, want)
		}
	}
}

// refFp16 is an independent float64-based round-to-nearest-even conversion.
func refFp16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	a := math.Abs(float64(f))
	switch {
	case f != f:
		return sign | 0x7e00
	case a >= 65520:
		return sign | 0x7c00
	case a < 0x1p-14: // subnormal range: units of 2^-24
		return sign | uint16(math.RoundToEven(a*0x1p24))
	}
	e := math.Floor(math.Log2(a))
	m := math.RoundToEven(a / math.Exp2(e-10)) // 1024..2048
	if m == 2048 {
		m, e = 1024, e+1
	}
	return sign | uint16(e+15)<<10 | uint16(m-1024)
}

func TestFp16MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		f := math.Float32frombits(rng.Uint32())
		if got, want := fp32ToFp16(f), refFp16(f); got != want {
			t.Fatalf("fp32ToFp16(%g [%#08x]) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

func TestFp16MatchesNumpy(t *testing.T) {
	if err := exec.Command("python3", "-c", "import numpy").Run(); err != nil {
		t.Skip("skipping: python3 with numpy not available:", err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 10_000)
	for i := range src {
		switch i % 3 {
		case 0:
			src[i] = float32(rng.NormFloat64())
		case 1:
			src[i] = float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(60)-30)))
		default:
			src[i] = math.Float32frombits(rng.Uint32())
		}
	}
	in := filepath.Join(t.TempDir(), "in.f32")
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, src)
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`import numpy as np, sys
x = np.fromfile(%q, dtype='<f4')
with np.errstate(all='ignore'):
    sys.stdout.buffer.write(x.astype('<f2').tobytes())`, in)
	out, err := exec.Command("python3", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Quantize(TypeF16, src)
	for i, f := range src {
		want := binary.LittleEndian.Uint16(out[2*i:])
		g := binary.LittleEndian.Uint16(got[2*i:])
		if f != f { // numpy keeps NaN payloads; ggml canonicalizes
			if g&0x7fff != 0x7e00 {
				t.Errorf("NaN %#08x -> %#04x", math.Float32bits(f), g)
			}
			continue
		}
		if g != want {
			t.Errorf("F16(%g) = %#04x, numpy %#04x", f, g, want)
		}
	}
}

func TestFp32ToBf16(t *testing.T) {
	tests := []struct {
		name string
		in   uint32
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"round down", 0x3f807fff, 0x3f80},
		{"tie to even stays", 0x3f808000, 0x3f80},
		{"tie to even up", 0x3f818000, 0x3f82},
		{"round up", 0x3f808001, 0x3f81},
		{"negative zero", 0x80000000, 0x8000},
		{"inf", 0x7f800000, 0x7f80},
		{"max rounds to inf", 0x7f7fffff, 0x7f80},
		{"quiet nan", 0x7fc00000, 0x7fc0},
		{"signaling nan made quiet", 0x7f800001, 0x7fc0},
		{"negative nan", 0xff800100, 0xffc0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fp32ToBf16(math.Float32frombits(tt.in)); got != tt.want {
				t.Errorf("fp32ToBf16(%#08x) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
}

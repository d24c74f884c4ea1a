package gguf

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestTypeTraits(t *testing.T) {
	// Block geometry from ggml's type_traits (ggml.c) and ggml-common.h.
	tests := []struct {
		typ          Type
		name         string
		block, bytes int
	}{
		{TypeF32, "F32", 1, 4},
		{TypeF16, "F16", 1, 2},
		{TypeQ4_0, "Q4_0", 32, 18},
		{TypeQ4_1, "Q4_1", 32, 20},
		{TypeQ5_0, "Q5_0", 32, 22},
		{TypeQ5_1, "Q5_1", 32, 24},
		{TypeQ8_0, "Q8_0", 32, 34},
		{TypeQ8_1, "Q8_1", 32, 36},
		{TypeQ2_K, "Q2_K", 256, 84},
		{TypeQ3_K, "Q3_K", 256, 110},
		{TypeQ4_K, "Q4_K", 256, 144},
		{TypeQ5_K, "Q5_K", 256, 176},
		{TypeQ6_K, "Q6_K", 256, 210},
		{TypeQ8_K, "Q8_K", 256, 292},
		{TypeIQ2_XXS, "IQ2_XXS", 256, 66},
		{TypeIQ2_XS, "IQ2_XS", 256, 74},
		{TypeIQ3_XXS, "IQ3_XXS", 256, 98},
		{TypeIQ1_S, "IQ1_S", 256, 50},
		{TypeIQ4_NL, "IQ4_NL", 32, 18},
		{TypeIQ3_S, "IQ3_S", 256, 110},
		{TypeIQ2_S, "IQ2_S", 256, 82},
		{TypeIQ4_XS, "IQ4_XS", 256, 136},
		{TypeI8, "I8", 1, 1},
		{TypeI16, "I16", 1, 2},
		{TypeI32, "I32", 1, 4},
		{TypeI64, "I64", 1, 8},
		{TypeF64, "F64", 1, 8},
		{TypeIQ1_M, "IQ1_M", 256, 56},
		{TypeBF16, "BF16", 1, 2},
		{TypeTQ1_0, "TQ1_0", 256, 54},
		{TypeTQ2_0, "TQ2_0", 256, 66},
		{TypeMXFP4, "MXFP4", 32, 17},
		{Type(4), "Type(4)", 0, 0},
		{Type(31), "Type(31)", 0, 0},
		{Type(1000), "Type(1000)", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.typ.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.typ.BlockSize(); got != tt.block {
				t.Errorf("BlockSize() = %d, want %d", got, tt.block)
			}
			if got := tt.typ.BlockBytes(); got != tt.bytes {
				t.Errorf("BlockBytes() = %d, want %d", got, tt.bytes)
			}
			if tt.block == 0 {
				if _, err := ParseType(tt.name); !errors.Is(err, ErrUnsupportedType) {
					t.Errorf("ParseType(%q) err = %v, want ErrUnsupportedType", tt.name, err)
				}
				return
			}
			for _, s := range []string{tt.name, lower(tt.name)} {
				if got, err := ParseType(s); err != nil || got != tt.typ {
					t.Errorf("ParseType(%q) = %v, %v; want %v", s, got, err, tt.typ)
				}
			}
		})
	}
	if n := len(traits); n != len(tests)-3 {
		t.Errorf("traits has %d types, test covers %d", n, len(tests)-3)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestRowBytes(t *testing.T) {
	tests := []struct {
		name    string
		typ     Type
		n       int64
		want    int64
		wantErr error
	}{
		{"f32", TypeF32, 10, 40, nil},
		{"f16 zero", TypeF16, 0, 0, nil},
		{"q4_0 two blocks", TypeQ4_0, 64, 36, nil},
		{"q6_k one block", TypeQ6_K, 256, 210, nil},
		{"q8_0 partial block", TypeQ8_0, 33, 0, ErrShape},
		{"negative", TypeF32, -1, 0, ErrShape},
		{"overflow", TypeF64, 1 << 62, 0, ErrShape},
		{"unknown type", Type(4), 32, 0, ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.typ.RowBytes(tt.n)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("RowBytes(%d) = %d, %v; want %d, %v", tt.n, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTensorInfoSize(t *testing.T) {
	tests := []struct {
		name    string
		ti      TensorInfo
		elems   uint64
		size    int64
		wantErr bool
	}{
		{"scalar", TensorInfo{Type: TypeF32}, 1, 4, false},
		{"matrix q8_0", TensorInfo{Type: TypeQ8_0, Shape: []uint64{64, 3}}, 192, 3 * 2 * 34, false},
		{"empty dim", TensorInfo{Type: TypeF16, Shape: []uint64{8, 0}}, 0, 0, false},
		{"row not multiple", TensorInfo{Type: TypeQ4_0, Shape: []uint64{16, 2}}, 32, 0, true},
		{"overflow", TensorInfo{Type: TypeF32, Shape: []uint64{1 << 32, 1 << 32}}, ^uint64(0), 0, true},
		{"unknown type", TensorInfo{Type: 99, Shape: []uint64{4}}, 4, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ti.NumElements(); got != tt.elems {
				t.Errorf("NumElements() = %d, want %d", got, tt.elems)
			}
			got, err := tt.ti.Size()
			if (err != nil) != tt.wantErr || got != tt.size {
				t.Errorf("Size() = %d, %v; want %d, err %v", got, err, tt.size, tt.wantErr)
			}
		})
	}
}

func TestTypeJSON(t *testing.T) {
	b, err := json.Marshal(LoRA{Types: []Type{TypeF32, TypeQ4_0}})
	if err != nil || !strings.Contains(string(b), `"types":["F32","Q4_0"]`) {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var l LoRA
	if err := json.Unmarshal([]byte(`{"types":["q8_0","F16"]}`), &l); err != nil || len(l.Types) != 2 || l.Types[0] != TypeQ8_0 || l.Types[1] != TypeF16 {
		t.Errorf("unmarshal: %v, %v", l.Types, err)
	}
	if err := json.Unmarshal([]byte(`{"types":["Q9_9"]}`), &l); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("unknown name: %v", err)
	}
	if b, err := json.Marshal(Type(999)); err != nil || string(b) != `"Type(999)"` {
		t.Errorf("unknown type: %s, %v", b, err)
	}
}

package gguf

import (
	"fmt"
	"strings"
)

// Type is a ggml tensor type, numbered as in ggml.h.
type Type uint32

// Tensor types. Numbers 4, 5 and 31-33, 36-38 were removed from ggml.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
)

// qkK is ggml's QK_K, the super-block size of the k-quants and i-quants.
const qkK = 256

type typeTraits struct {
	name       string
	blockSize  int // elements per block
	blockBytes int // bytes per block
}

// traits holds the block geometry of every type, from ggml's type_traits and
// the block structs of ggml-common.h.
var traits = map[Type]typeTraits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 2 + 16},
	TypeQ4_1:    {"Q4_1", 32, 2*2 + 16},
	TypeQ5_0:    {"Q5_0", 32, 2 + 4 + 16},
	TypeQ5_1:    {"Q5_1", 32, 2*2 + 4 + 16},
	TypeQ8_0:    {"Q8_0", 32, 2 + 32},
	TypeQ8_1:    {"Q8_1", 32, 2*2 + 32},
	TypeQ2_K:    {"Q2_K", qkK, 2*2 + qkK/16 + qkK/4},
	TypeQ3_K:    {"Q3_K", qkK, 2 + qkK/4 + qkK/8 + 12},
	TypeQ4_K:    {"Q4_K", qkK, 2*2 + 12 + qkK/2},
	TypeQ5_K:    {"Q5_K", qkK, 2*2 + 12 + qkK/2 + qkK/8},
	TypeQ6_K:    {"Q6_K", qkK, 2 + qkK/16 + 3*qkK/4},
	TypeQ8_K:    {"Q8_K", qkK, 4 + qkK + qkK/16*2},
	TypeIQ2_XXS: {"IQ2_XXS", qkK, 2 + qkK/8*2},
	TypeIQ2_XS:  {"IQ2_XS", qkK, 2 + qkK/8*2 + qkK/32},
	TypeIQ3_XXS: {"IQ3_XXS", qkK, 2 + 3*(qkK/8)},
	TypeIQ1_S:   {"IQ1_S", qkK, 2 + qkK/8 + qkK/16},
	TypeIQ4_NL:  {"IQ4_NL", 32, 2 + 16},
	TypeIQ3_S:   {"IQ3_S", qkK, 2 + 13*(qkK/32) + qkK/64},
	TypeIQ2_S:   {"IQ2_S", qkK, 2 + qkK/4 + qkK/16},
	TypeIQ4_XS:  {"IQ4_XS", qkK, 2 + 2 + qkK/64 + qkK/2},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", qkK, qkK/8 + qkK/16 + qkK/32},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", qkK, 2 + qkK/64 + (qkK-4*qkK/64)/5},
	TypeTQ2_0:   {"TQ2_0", qkK, 2 + qkK/4},
	TypeMXFP4:   {"MXFP4", 32, 1 + 16},
}

// Known reports whether t is a ggml type with known block geometry.
func (t Type) Known() bool {
	_, ok := traits[t]
	return ok
}

// String returns the ggml name of t in upper case ("F32", "Q4_0", "Q6_K"),
// or "Type(N)" for an unknown type.
func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// BlockSize returns the number of elements per block (1 for F32, F16, ...),
// or 0 for an unknown type.
func (t Type) BlockSize() int { return traits[t].blockSize }

// BlockBytes returns the number of bytes per block, or 0 for an unknown type.
func (t Type) BlockBytes() int { return traits[t].blockBytes }

// RowBytes returns the number of bytes that n elements of type t occupy.
// It fails if t is unknown, n is negative, n is not a multiple of the block
// size, or the result overflows int64.
func (t Type) RowBytes(n int64) (int64, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("%w: %v", ErrUnsupportedType, t)
	}
	if n < 0 || n%int64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("%w: %d elements is not a multiple of %v block size %d", ErrShape, n, t, tr.blockSize)
	}
	blocks := n / int64(tr.blockSize)
	if blocks > maxInt64/int64(tr.blockBytes) {
		return 0, fmt.Errorf("%w: %d elements of %v overflow int64 bytes", ErrShape, n, t)
	}
	return blocks * int64(tr.blockBytes), nil
}

// ParseType returns the type named s, case-insensitively ("q4_k" is Q4_K).
func ParseType(s string) (Type, error) {
	for t, tr := range traits {
		if strings.EqualFold(tr.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnsupportedType, s)
}

// MarshalText writes t's name, so that JSON shows "Q4_0", not 2 ("Type(N)"
// for an unknown type: describing a file never fails on it).
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a known type's name, in any case.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

const maxInt64 = 1<<63 - 1

package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// valueType is the GGUF metadata value type tag (enum gguf_type).
type valueType uint32

const (
	typeUint8   valueType = 0
	typeInt8    valueType = 1
	typeUint16  valueType = 2
	typeInt16   valueType = 3
	typeUint32  valueType = 4
	typeInt32   valueType = 5
	typeFloat32 valueType = 6
	typeBool    valueType = 7
	typeString  valueType = 8
	typeArray   valueType = 9
	typeUint64  valueType = 10
	typeInt64   valueType = 11
	typeFloat64 valueType = 12
)

// maxArrayDepth bounds the nesting of arrays of arrays.
const maxArrayDepth = 8

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32",
	"float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (vt valueType) String() string {
	if int(vt) < len(valueTypeNames) {
		return valueTypeNames[vt]
	}
	return fmt.Sprintf("valueType(%d)", uint32(vt))
}

func (vt valueType) valid() bool { return vt <= typeFloat64 }

// minSize is the fewest bytes one value of type vt occupies in a file.
func (vt valueType) minSize() int64 {
	switch vt {
	case typeUint8, typeInt8, typeBool:
		return 1
	case typeUint16, typeInt16:
		return 2
	case typeUint32, typeInt32, typeFloat32:
		return 4
	case typeUint64, typeInt64, typeFloat64, typeString:
		return 8
	case typeArray:
		return 4 + 8
	}
	return 1
}

// typeOf returns the GGUF type of a Go metadata value, checking arrays
// recursively.
func typeOf(v any, depth int) (valueType, error) {
	switch v := v.(type) {
	case uint8:
		return typeUint8, nil
	case int8:
		return typeInt8, nil
	case uint16:
		return typeUint16, nil
	case int16:
		return typeInt16, nil
	case uint32:
		return typeUint32, nil
	case int32:
		return typeInt32, nil
	case float32:
		return typeFloat32, nil
	case bool:
		return typeBool, nil
	case string:
		return typeString, nil
	case uint64:
		return typeUint64, nil
	case int64:
		return typeInt64, nil
	case float64:
		return typeFloat64, nil
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
		[]string, []uint64, []int64, []float64:
		if depth >= maxArrayDepth {
			return 0, fmt.Errorf("%w: arrays nested deeper than %d", ErrValueType, maxArrayDepth)
		}
		return typeArray, nil
	case []any:
		if depth >= maxArrayDepth {
			return 0, fmt.Errorf("%w: arrays nested deeper than %d", ErrValueType, maxArrayDepth)
		}
		if _, err := elemTypeOf(v, depth+1); err != nil {
			return 0, err
		}
		return typeArray, nil
	}
	return 0, fmt.Errorf("%w: %T", ErrValueType, v)
}

// elemTypeOf returns the element type of a []any, whose elements must all
// have the same GGUF type. An empty []any is an empty array of arrays.
func elemTypeOf(a []any, depth int) (valueType, error) {
	et := typeArray
	for i, e := range a {
		t, err := typeOf(e, depth)
		if err != nil {
			return 0, err
		}
		if i > 0 && t != et {
			return 0, fmt.Errorf("%w: []any mixes %v and %v", ErrValueType, et, t)
		}
		et = t
	}
	return et, nil
}

// appendValue appends the type tag and encoding of a value checked by typeOf.
func appendValue(b []byte, v any) []byte {
	t, _ := typeOf(v, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(t))
	return appendPayload(b, v)
}

// appendPayload appends the encoding of v without its type tag.
func appendPayload(b []byte, v any) []byte {
	le := binary.LittleEndian
	switch v := v.(type) {
	case uint8:
		return append(b, v)
	case int8:
		return append(b, byte(v))
	case uint16:
		return le.AppendUint16(b, v)
	case int16:
		return le.AppendUint16(b, uint16(v))
	case uint32:
		return le.AppendUint32(b, v)
	case int32:
		return le.AppendUint32(b, uint32(v))
	case float32:
		return le.AppendUint32(b, math.Float32bits(v))
	case bool:
		if v {
			return append(b, 1)
		}
		return append(b, 0)
	case string:
		return appendString(b, v)
	case uint64:
		return le.AppendUint64(b, v)
	case int64:
		return le.AppendUint64(b, uint64(v))
	case float64:
		return le.AppendUint64(b, math.Float64bits(v))
	case []uint8:
		return append(arrayHeader(b, typeUint8, len(v)), v...)
	case []int8:
		return appendArray(b, typeInt8, v)
	case []uint16:
		return appendArray(b, typeUint16, v)
	case []int16:
		return appendArray(b, typeInt16, v)
	case []uint32:
		return appendArray(b, typeUint32, v)
	case []int32:
		return appendArray(b, typeInt32, v)
	case []float32:
		return appendArray(b, typeFloat32, v)
	case []bool:
		return appendArray(b, typeBool, v)
	case []string:
		b = arrayHeader(b, typeString, len(v))
		for _, s := range v {
			b = appendString(b, s)
		}
		return b
	case []uint64:
		return appendArray(b, typeUint64, v)
	case []int64:
		return appendArray(b, typeInt64, v)
	case []float64:
		return appendArray(b, typeFloat64, v)
	case []any:
		et, _ := elemTypeOf(v, 0)
		return appendArray(b, et, v)
	}
	panic(fmt.Sprintf("gguf: appendPayload of unchecked type %T", v))
}

func arrayHeader(b []byte, et valueType, n int) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(et))
	return binary.LittleEndian.AppendUint64(b, uint64(n))
}

func appendArray[T any](b []byte, et valueType, a []T) []byte {
	b = arrayHeader(b, et, len(a))
	for _, e := range a {
		b = appendPayload(b, e)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

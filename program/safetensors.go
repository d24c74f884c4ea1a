package program

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/paw-dev/paw/gguf"
)

// Safetensors limits.
const (
	maxSafetensorsHeader  = 100 << 20 // the reference implementation's limit
	maxSafetensorsTensors = 1 << 16
	maxSafetensorsDims    = 8
)

// A SafeTensor is one tensor of a safetensors file.
type SafeTensor struct {
	Name  string
	DType string  // "F32", "F16" or "BF16"
	Shape []int64 // row-major, outermost first (PyTorch order)
	Data  []byte  // little-endian elements, aliasing the parsed buffer
}

// Safetensors is a parsed safetensors file.
type Safetensors struct {
	Metadata map[string]string // "__metadata__"
	Tensors  []SafeTensor      // sorted by name
}

// Tensor returns the named tensor.
func (s *Safetensors) Tensor(name string) (SafeTensor, bool) {
	i, ok := slices.BinarySearchFunc(s.Tensors, name, func(t SafeTensor, n string) int { return strings.Compare(t.Name, n) })
	if !ok {
		return SafeTensor{}, false
	}
	return s.Tensors[i], true
}

// safeDTypeSize is the element size of the supported dtypes.
func safeDTypeSize(dtype string) int {
	switch dtype {
	case "F32":
		return 4
	case "F16", "BF16":
		return 2
	}
	return 0
}

// ParseSafetensors parses a safetensors file held in b: an 8-byte
// little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets} (plus an optional "__metadata__" of
// strings), then the data. It checks that every tensor is F32, F16 or BF16,
// that its byte range lies in the data and matches dtype × shape, and that
// no two ranges overlap.
func ParseSafetensors(b []byte) (*Safetensors, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes, too short for the header length", ErrSafetensors, len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxSafetensorsHeader || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds the file or the %d-byte limit", ErrSafetensors, n, maxSafetensorsHeader)
	}
	header, data := b[8:8+n], b[8+n:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrSafetensors, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrSafetensors)
	}
	st := &Safetensors{}
	if m, ok := raw["__metadata__"]; ok {
		delete(raw, "__metadata__")
		if err := json.Unmarshal(m, &st.Metadata); err != nil {
			return nil, fmt.Errorf("%w: __metadata__ is not an object of strings", ErrSafetensors)
		}
	}
	if len(raw) > maxSafetensorsTensors {
		return nil, fmt.Errorf("%w: %d tensors, limit %d", ErrSafetensors, len(raw), maxSafetensorsTensors)
	}
	type span struct {
		begin, end uint64
		name       string
	}
	spans := make([]span, 0, len(raw))
	for name, v := range raw {
		var info struct {
			DType       string   `json:"dtype"`
			Shape       []int64  `json:"shape"`
			DataOffsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &info); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %w", ErrSafetensors, name, err)
		}
		size := safeDTypeSize(info.DType)
		if size == 0 {
			return nil, fmt.Errorf("%w: tensor %q has dtype %q, want F32, F16 or BF16", ErrSafetensors, name, info.DType)
		}
		if len(info.DataOffsets) != 2 || info.DataOffsets[0] > info.DataOffsets[1] || info.DataOffsets[1] > uint64(len(data)) {
			return nil, fmt.Errorf("%w: tensor %q: data_offsets %v outside the %d data bytes", ErrSafetensors, name, info.DataOffsets, len(data))
		}
		want, ok := shapeBytes(info.Shape, size)
		if !ok {
			return nil, fmt.Errorf("%w: tensor %q: invalid shape %v", ErrSafetensors, name, info.Shape)
		}
		begin, end := info.DataOffsets[0], info.DataOffsets[1]
		if end-begin != want {
			return nil, fmt.Errorf("%w: tensor %q: %d bytes for %s %v, want %d", ErrSafetensors, name, end-begin, info.DType, info.Shape, want)
		}
		if info.Shape == nil { // "shape": null, like [], is a scalar
			info.Shape = []int64{}
		}
		spans = append(spans, span{begin, end, name})
		st.Tensors = append(st.Tensors, SafeTensor{Name: name, DType: info.DType, Shape: info.Shape, Data: data[begin:end:end]})
	}
	slices.SortFunc(spans, func(a, b span) int {
		if c := cmpUint(a.begin, b.begin); c != 0 {
			return c
		}
		return cmpUint(a.end, b.end)
	})
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, fmt.Errorf("%w: tensors %q and %q overlap", ErrSafetensors, spans[i-1].name, spans[i].name)
		}
	}
	slices.SortFunc(st.Tensors, func(a, b SafeTensor) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// shapeBytes returns the byte size of a tensor of shape with elements of
// size bytes, or false if a dimension is negative, there are too many, or
// the size overflows.
func shapeBytes(shape []int64, size int) (uint64, bool) {
	if len(shape) > maxSafetensorsDims {
		return 0, false
	}
	n := uint64(size)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return n, true
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Float32 returns the tensor's elements as float32.
func (t SafeTensor) Float32() ([]float32, error) {
	var typ gguf.Type
	switch t.DType {
	case "F32":
		typ = gguf.TypeF32
	case "F16":
		typ = gguf.TypeF16
	case "BF16":
		typ = gguf.TypeBF16
	default:
		return nil, fmt.Errorf("%w: tensor %q has dtype %q", ErrSafetensors, t.Name, t.DType)
	}
	n := len(t.Data) / safeDTypeSize(t.DType)
	out, err := gguf.Dequantize(typ, t.Data, n)
	if err != nil {
		return nil, fmt.Errorf("%w: tensor %q: %w", ErrSafetensors, t.Name, err)
	}
	return out, nil
}

// EncodeSafetensors writes tensors as a safetensors file (data in the
// given order, header keys sorted), with optional metadata. It is the
// inverse of ParseSafetensors, for tests and tools.
func EncodeSafetensors(tensors []SafeTensor, metadata map[string]string) ([]byte, error) {
	header := map[string]any{}
	if metadata != nil {
		header["__metadata__"] = metadata
	}
	var data bytes.Buffer
	for _, t := range tensors {
		size := safeDTypeSize(t.DType)
		want, ok := shapeBytes(t.Shape, size)
		if size == 0 || !ok || want != uint64(len(t.Data)) {
			return nil, fmt.Errorf("%w: tensor %q: %d bytes for %s %v", ErrSafetensors, t.Name, len(t.Data), t.DType, t.Shape)
		}
		if _, dup := header[t.Name]; dup || t.Name == "__metadata__" {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrSafetensors, t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		header[t.Name] = map[string]any{
			"dtype": t.DType, "shape": shape,
			"data_offsets": []int{data.Len(), data.Len() + len(t.Data)},
		}
		data.Write(t.Data)
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(h)%8 != 0 { // the reference writer pads the header with spaces
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, data.Bytes()...), nil
}

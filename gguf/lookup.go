package gguf

import (
	"fmt"
	"io"
	"math"
)

// Get returns the value of the metadata key.
func (r *Reader) Get(key string) (any, bool) {
	i, ok := r.kvIndex[key]
	if !ok {
		return nil, false
	}
	return r.KV[i].Value, true
}

// String returns the metadata key's value if it is a string.
func (r *Reader) String(key string) (string, bool) {
	v, _ := r.Get(key)
	s, ok := v.(string)
	return s, ok
}

// Strings returns the metadata key's value if it is an array of strings.
func (r *Reader) Strings(key string) ([]string, bool) {
	v, _ := r.Get(key)
	s, ok := v.([]string)
	return s, ok
}

// Uint returns the metadata key's value if it is an integer that is >= 0.
func (r *Reader) Uint(key string) (uint64, bool) {
	v, _ := r.Get(key)
	return asUint(v)
}

// Int returns the metadata key's value if it is an integer that fits int64.
func (r *Reader) Int(key string) (int64, bool) {
	v, _ := r.Get(key)
	switch v := v.(type) {
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	}
	u, ok := asUint(v)
	if !ok || u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// Float returns the metadata key's value if it is a float or an integer.
func (r *Reader) Float(key string) (float64, bool) {
	v, _ := r.Get(key)
	switch v := v.(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	if i, ok := r.Int(key); ok {
		return float64(i), true
	}
	if u, ok := asUint(v); ok {
		return float64(u), true
	}
	return 0, false
}

// asUint converts any integer value >= 0 to uint64.
func asUint(v any) (uint64, bool) {
	var i int64
	switch v := v.(type) {
	case uint8:
		return uint64(v), true
	case uint16:
		return uint64(v), true
	case uint32:
		return uint64(v), true
	case uint64:
		return v, true
	case int8:
		i = int64(v)
	case int16:
		i = int64(v)
	case int32:
		i = int64(v)
	case int64:
		i = v
	default:
		return 0, false
	}
	if i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// Architecture returns general.architecture, or "" if it is missing.
func (r *Reader) Architecture() string {
	s, _ := r.String("general.architecture")
	return s
}

// ParamCount returns the total number of tensor elements.
func (r *Reader) ParamCount() uint64 {
	var n uint64
	for _, t := range r.Tensors {
		n += t.NumElements()
	}
	return n
}

// Tensor returns the info of the named tensor.
func (r *Reader) Tensor(name string) (TensorInfo, bool) {
	i, ok := r.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return r.Tensors[i], true
}

// TensorReader returns a reader of the named tensor's data.
func (r *Reader) TensorReader(name string) (*io.SectionReader, error) {
	ti, ok := r.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrTensorNotFound, name)
	}
	size, err := ti.Size() // checked by NewReader
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(r.r, r.DataOffset+int64(ti.Offset), size), nil
}

// TensorData returns the named tensor's data.
func (r *Reader) TensorData(name string) ([]byte, error) {
	sr, err := r.TensorReader(name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, sr.Size())
	if n, err := sr.ReadAt(b, 0); n < len(b) {
		return nil, fmt.Errorf("gguf: read tensor %q: %w", name, err)
	}
	return b, nil
}

// TensorFloat32 returns the named tensor's data dequantized to float32.
// See [Dequantize] for the supported types.
func (r *Reader) TensorFloat32(name string) ([]float32, error) {
	ti, ok := r.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrTensorNotFound, name)
	}
	if !canDequantize(ti.Type) {
		return nil, fmt.Errorf("%w: cannot dequantize %v tensor %q", ErrUnsupportedType, ti.Type, name)
	}
	b, err := r.TensorData(name)
	if err != nil {
		return nil, err
	}
	out, err := Dequantize(ti.Type, b, int(ti.NumElements()))
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return out, nil
}

package gguf

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// allValues holds one metadata value of every supported Go type.
var allValues = []KV{
	{"general.architecture", "qwen2"},
	{"t.uint8", uint8(200)},
	{"t.int8", int8(-100)},
	{"t.uint16", uint16(60000)},
	{"t.int16", int16(-30000)},
	{"t.uint32", uint32(4_000_000_000)},
	{"t.int32", int32(-2_000_000_000)},
	{"t.float32", float32(1.5)},
	{"t.bool", true},
	{"t.string", "héllo\x00world"},
	{"t.empty_string", ""},
	{"t.uint64", uint64(math.MaxUint64)},
	{"t.int64", int64(math.MinInt64)},
	{"t.float64", math.Pi},
	{"a.uint8", []uint8{1, 2, 255}},
	{"a.int8", []int8{-1, 2}},
	{"a.uint16", []uint16{1, 65535}},
	{"a.int16", []int16{-1, 2}},
	{"a.uint32", []uint32{1, 2, 3}},
	{"a.int32", []int32{-1, 0, 1}},
	{"a.float32", []float32{0.5, -0.25}},
	{"a.bool", []bool{true, false, true}},
	{"a.string", []string{"a", "", "ccc"}},
	{"a.uint64", []uint64{math.MaxUint64}},
	{"a.int64", []int64{math.MinInt64, 7}},
	{"a.float64", []float64{1e300, -1e-300}},
	{"a.empty", []string{}},
	{"a.nested", []any{[]string{"x", "y"}, []int32{1}, []any{[]uint8{9}}, []any{}}},
	{"a.empty_nested", []any{}},
	{"a.max_nesting", []any{[]any{[]any{[]any{[]any{[]any{[]any{[]float32{1}}}}}}}}}, // maxArrayDepth levels
}

// testTensor is a declared tensor with its data.
type testTensor struct {
	name  string
	typ   Type
	shape []uint64
	data  []byte
}

// makeTensors returns count tensors of each listed type with random data.
func makeTensors(rng *rand.Rand, count int, types ...Type) []testTensor {
	var out []testTensor
	for _, typ := range types {
		for i := range count {
			shape := []uint64{uint64(typ.BlockSize() * (1 + rng.IntN(3)))}
			for range rng.IntN(4) {
				shape = append(shape, uint64(1+rng.IntN(3)))
			}
			ti := TensorInfo{Shape: shape, Type: typ}
			size, _ := ti.Size()
			var data []byte
			if typ == TypeF32 || typ == TypeF16 || typ == TypeBF16 || typ == TypeQ8_0 || typ == TypeQ4_0 {
				data, _ = Quantize(typ, randFloats(rng, int(ti.NumElements()), 1))
			} else {
				data = make([]byte, size)
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
			}
			out = append(out, testTensor{typ.String() + "." + string(rune('a'+i)), typ, shape, data})
		}
	}
	return out
}

// writeFile writes kvs and tensors with the given alignment (0: default).
func writeFile(t testing.TB, alignment uint64, kvs []KV, tensors []testTensor) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if alignment != 0 {
		if err := w.SetAlignment(alignment); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range kvs {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tensors {
		if err := w.AddTensor(tt.name, tt.typ, tt.shape...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tensors {
		if err := w.WriteTensor(tt.name, tt.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	all := []Type{}
	for typ := range traits {
		all = append(all, typ)
	}
	tests := []struct {
		name      string
		alignment uint64
		kvs       []KV
		tensors   []testTensor
	}{
		{"empty", 0, nil, nil},
		{"metadata only", 0, allValues, nil},
		{"every type", 0, allValues, makeTensors(rng, 3, all...)},
		{"alignment 64", 64, allValues, makeTensors(rng, 2, TypeF32, TypeQ4_0, TypeQ8_0)},
		{"alignment 1", 1, nil, makeTensors(rng, 2, TypeQ4_0, TypeF16, TypeQ6_K)},
		{"alignment 4096", 4096, allValues[:3], makeTensors(rng, 2, TypeBF16, TypeI8)},
		{"many tensors", 16, nil, makeTensors(rng, 40, TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_K, TypeQ6_K)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, tt.alignment, tt.kvs, tt.tensors)
			r, err := NewReader(bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			align := tt.alignment
			wantKV := tt.kvs
			if align == 0 || align == DefaultAlignment {
				align = DefaultAlignment
			} else {
				wantKV = append([]KV{{KeyAlignment, uint32(align)}}, wantKV...)
			}
			if r.Version != 3 || r.Alignment != align || r.DataOffset%int64(align) != 0 {
				t.Errorf("Version %d Alignment %d DataOffset %d", r.Version, r.Alignment, r.DataOffset)
			}
			if diff := cmp.Diff(wantKV, r.KV, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("KV mismatch (-want +got):\n%s", diff)
			}
			checkTensors(t, r, tt.tensors, align)
		})
	}
}

// checkTensors compares r's tensors, offsets and data with want.
func checkTensors(t *testing.T, r *Reader, want []testTensor, align uint64) {
	t.Helper()
	if len(r.Tensors) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(r.Tensors), len(want))
	}
	var off, params uint64
	for i, tt := range want {
		wantInfo := TensorInfo{Name: tt.name, Shape: tt.shape, Type: tt.typ, Offset: off}
		if diff := cmp.Diff(wantInfo, r.Tensors[i]); diff != "" {
			t.Errorf("tensor %d (-want +got):\n%s", i, diff)
		}
		off += uint64(alignUp(int64(len(tt.data)), int64(align)))
		params += wantInfo.NumElements()
		got, err := r.TensorData(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tt.data) {
			t.Errorf("tensor %q data differs", tt.name)
		}
		if !canDequantize(tt.typ) {
			if _, err := r.TensorFloat32(tt.name); !errors.Is(err, ErrUnsupportedType) {
				t.Errorf("TensorFloat32(%q) err = %v, want ErrUnsupportedType", tt.name, err)
			}
			continue
		}
		f, err := r.TensorFloat32(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		wantF, _ := Dequantize(tt.typ, tt.data, len(f))
		if diff := cmp.Diff(wantF, f, cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("TensorFloat32(%q) differs:\n%s", tt.name, diff)
		}
	}
	if got := r.ParamCount(); got != params {
		t.Errorf("ParamCount() = %d, want %d", got, params)
	}
}

func TestReaderLookups(t *testing.T) {
	file := writeFile(t, 0, allValues, makeTensors(rand.New(rand.NewPCG(1, 1)), 1, TypeF32))
	r, err := NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		U  uint64
		UK bool
		I  int64
		IK bool
		F  float64
		FK bool
		S  string
		SK bool
	}
	tests := []struct {
		key  string
		want result
	}{
		{"t.uint8", result{200, true, 200, true, 200, true, "", false}},
		{"t.int8", result{0, false, -100, true, -100, true, "", false}},
		{"t.uint64", result{math.MaxUint64, true, 0, false, math.MaxUint64, true, "", false}},
		{"t.int64", result{0, false, math.MinInt64, true, math.MinInt64, true, "", false}},
		{"t.float32", result{0, false, 0, false, 1.5, true, "", false}},
		{"t.float64", result{0, false, 0, false, math.Pi, true, "", false}},
		{"t.string", result{0, false, 0, false, 0, false, "héllo\x00world", true}},
		{"t.bool", result{}},
		{"missing", result{}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			var got result
			got.U, got.UK = r.Uint(tt.key)
			got.I, got.IK = r.Int(tt.key)
			got.F, got.FK = r.Float(tt.key)
			got.S, got.SK = r.String(tt.key)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := r.Architecture(); got != "qwen2" {
		t.Errorf("Architecture() = %q", got)
	}
	if s, ok := r.Strings("a.string"); !ok || len(s) != 3 {
		t.Errorf("Strings(a.string) = %q, %v", s, ok)
	}
	if _, ok := r.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
	for _, f := range []func() error{
		func() error { _, err := r.TensorData("nope"); return err },
		func() error { _, err := r.TensorReader("nope"); return err },
		func() error { _, err := r.TensorFloat32("nope"); return err },
	} {
		if err := f(); !errors.Is(err, ErrTensorNotFound) {
			t.Errorf("err = %v, want ErrTensorNotFound", err)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(w *Writer) error
		want error
	}{
		{"duplicate key", func(w *Writer) error {
			w.AddKV("k", uint32(1))
			return w.AddKV("k", uint32(2))
		}, ErrDuplicateKey},
		{"go int", func(w *Writer) error { return w.AddKV("k", 1) }, ErrValueType},
		{"int slice", func(w *Writer) error { return w.AddKV("k", []int{1}) }, ErrValueType},
		{"map", func(w *Writer) error { return w.AddKV("k", map[string]string{}) }, ErrValueType},
		{"nil", func(w *Writer) error { return w.AddKV("k", nil) }, ErrValueType},
		{"mixed any", func(w *Writer) error { return w.AddKV("k", []any{uint8(1), "x"}) }, ErrValueType},
		{"deep nesting", func(w *Writer) error {
			v := any([]uint8{1})
			for range maxArrayDepth {
				v = []any{v}
			}
			return w.AddKV("k", v)
		}, ErrValueType},
		{"alignment not power of two", func(w *Writer) error { return w.SetAlignment(48) }, ErrAlignment},
		{"alignment zero", func(w *Writer) error { return w.SetAlignment(0) }, ErrAlignment},
		{"alignment kv int32", func(w *Writer) error { return w.AddKV(KeyAlignment, int32(64)) }, ErrAlignment},
		{"duplicate tensor", func(w *Writer) error {
			w.AddTensor("t", TypeF32, 4)
			return w.AddTensor("t", TypeF32, 4)
		}, ErrDuplicateTensor},
		{"row not block multiple", func(w *Writer) error { return w.AddTensor("t", TypeQ4_0, 16, 2) }, ErrShape},
		{"no dims", func(w *Writer) error { return w.AddTensor("t", TypeF32) }, ErrShape},
		{"five dims", func(w *Writer) error { return w.AddTensor("t", TypeF32, 1, 1, 1, 1, 1) }, ErrShape},
		{"unknown type", func(w *Writer) error { return w.AddTensor("t", Type(4), 32) }, ErrUnsupportedType},
		{"wrong size", func(w *Writer) error {
			w.AddTensor("t", TypeF32, 4)
			return w.WriteTensor("t", make([]byte, 15))
		}, ErrTensorSize},
		{"wrong order", func(w *Writer) error {
			w.AddTensor("a", TypeF32, 1)
			w.AddTensor("b", TypeF32, 1)
			return w.WriteTensor("b", make([]byte, 4))
		}, ErrTensorOrder},
		{"undeclared", func(w *Writer) error { return w.WriteTensor("x", nil) }, ErrTensorOrder},
		{"kv after header", func(w *Writer) error {
			w.AddTensor("a", TypeF32, 1)
			w.WriteTensor("a", make([]byte, 4))
			return w.AddKV("k", true)
		}, ErrHeaderWritten},
		{"tensor after header", func(w *Writer) error {
			w.AddTensor("a", TypeF32, 1)
			w.WriteTensor("a", make([]byte, 4))
			return w.AddTensor("b", TypeF32, 1)
		}, ErrHeaderWritten},
		{"missing data", func(w *Writer) error {
			w.AddTensor("a", TypeF32, 1)
			return w.Close()
		}, ErrMissingData},
		{"double close", func(w *Writer) error {
			w.Close()
			return w.Close()
		}, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(NewWriter(&bytes.Buffer{})); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriterLongName(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	if err := w.AddTensor(string(make([]byte, 64)), TypeF32, 1); err == nil {
		t.Error("64-byte tensor name accepted; llama.cpp rejects it")
	}
	if err := w.AddKV("", true); err == nil {
		t.Error("empty key accepted")
	}
}

// errWriter fails after n bytes.
type errWriter struct{ n int }

var errBoom = errors.New("boom")

func (e *errWriter) Write(p []byte) (int, error) {
	if len(p) > e.n {
		n := e.n
		e.n = 0
		return n, errBoom
	}
	e.n -= len(p)
	return len(p), nil
}

func TestWriterWriteError(t *testing.T) {
	w := NewWriter(&errWriter{n: 10})
	w.AddTensor("a", TypeF32, 1<<19) // 2 MiB: larger than the buffer
	w.AddTensor("b", TypeF32, 1)
	err := w.WriteTensor("a", make([]byte, 4<<19))
	if !errors.Is(err, errBoom) {
		t.Fatalf("WriteTensor err = %v, want errBoom", err)
	}
	if err := w.WriteTensor("b", make([]byte, 4)); !errors.Is(err, errBoom) {
		t.Errorf("second WriteTensor err = %v, want sticky errBoom", err)
	}
}

package gguf

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the generated seeds in testdata/fuzz/FuzzNewReader")

// seedFiles returns small valid GGUF files covering every metadata type,
// several tensor types and a non-default alignment.
func seedFiles(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(21, 22))
	small := func(typ Type) testTensor {
		return makeTensors(rng, 1, typ)[0]
	}
	return map[string][]byte{
		"seed-empty":    writeFile(t, 0, nil, nil),
		"seed-metadata": writeFile(t, 0, allValues, nil),
		"seed-tensors": writeFile(t, 0, allValues[:2], []testTensor{
			small(TypeF32), small(TypeF16), small(TypeBF16), small(TypeQ8_0), small(TypeQ4_0)}),
		"seed-kquants":  writeFile(t, 0, nil, []testTensor{small(TypeQ4_K), small(TypeQ6_K)}),
		"seed-align8":   writeFile(t, 8, []KV{{"tokenizer.ggml.tokens", []string{"a", "b", "<s>"}}}, []testTensor{small(TypeF32)}),
		"seed-version2": newRaw(2, 1, 1).kv("general.architecture", "llama").tensor("w", TypeF16, 0, 2, 2).data(32, 8),
	}
}

func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzNewReader")
	for name, data := range seedFiles(t) {
		path := filepath.Join(dir, name)
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is stale or missing (%v); run go test -run TestFuzzSeeds -update-seeds ./gguf/", path, err)
		}
		if _, err := NewReader(bytes.NewReader(data), int64(len(data))); err != nil {
			t.Errorf("seed %s: %v", name, err)
		}
	}
}

func FuzzNewReader(f *testing.F) {
	// The committed corpus in testdata/fuzz/FuzzNewReader is added by go test.
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FormatError: %v", err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the %d-byte input", fe.Offset, len(data))
			}
			return
		}
		for _, kv := range r.KV {
			r.Get(kv.Key)
			r.Uint(kv.Key)
			r.Int(kv.Key)
			r.Float(kv.Key)
			r.String(kv.Key)
		}
		for _, ti := range r.Tensors {
			b, err := r.TensorData(ti.Name)
			if err != nil {
				t.Fatalf("TensorData(%q): %v", ti.Name, err)
			}
			if size, _ := ti.Size(); int64(len(b)) != size {
				t.Fatalf("TensorData(%q) has %d bytes, want %d", ti.Name, len(b), size)
			}
			if _, err := r.TensorFloat32(ti.Name); err != nil && canDequantize(ti.Type) {
				t.Fatalf("TensorFloat32(%q): %v", ti.Name, err)
			}
		}
		checkRewrite(t, r)
	})
}

// checkRewrite writes r's contents with a Writer, when the Writer accepts
// them, and checks that the result reads back the same.
func checkRewrite(t *testing.T, r *Reader) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range r.KV {
		if w.AddKV(kv.Key, kv.Value) != nil {
			return // e.g. an empty key, or general.alignment as uint64
		}
	}
	for _, ti := range r.Tensors {
		if w.AddTensor(ti.Name, ti.Type, ti.Shape...) != nil {
			return // e.g. a 0-dimensional tensor or a name llama.cpp rejects
		}
	}
	for _, ti := range r.Tensors {
		b, _ := r.TensorData(ti.Name)
		if err := w.WriteTensor(ti.Name, b); err != nil {
			t.Fatalf("WriteTensor(%q): %v", ti.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("rewritten file: %v", err)
	}
	if diff := cmp.Diff(r.KV, r2.KV, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("rewritten KV differs (-orig +new):\n%s", diff)
	}
	if diff := cmp.Diff(r.Tensors, r2.Tensors, cmpopts.IgnoreFields(TensorInfo{}, "Offset"), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("rewritten tensors differ (-orig +new):\n%s", diff)
	}
	for _, ti := range r.Tensors {
		a, _ := r.TensorData(ti.Name)
		b, _ := r2.TensorData(ti.Name)
		if !bytes.Equal(a, b) {
			t.Fatalf("rewritten tensor %q data differs", ti.Name)
		}
	}
}

func ExampleWriter() {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.AddKV("general.architecture", "llama")
	w.AddKV("llama.block_count", uint32(2))
	w.AddTensor("output_norm.weight", TypeF32, 4)
	w.AddTensor("token_embd.weight", TypeQ8_0, 32, 2) // 2 rows of 32

	norm, _ := Quantize(TypeF32, []float32{1, 1, 1, 1})
	emb, _ := Quantize(TypeQ8_0, make([]float32, 64))
	w.WriteTensor("output_norm.weight", norm)
	w.WriteTensor("token_embd.weight", emb)
	if err := w.Close(); err != nil {
		panic(err)
	}

	r, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	blocks, _ := r.Uint("llama.block_count")
	fmt.Println(r.Architecture(), blocks, r.ParamCount())
	for _, t := range r.Tensors {
		size, _ := t.Size()
		fmt.Println(t.Name, t.Type, t.Shape, size)
	}
	// Output:
	// llama 2 68
	// output_norm.weight F32 [4] 16
	// token_embd.weight Q8_0 [32 2] 68
}

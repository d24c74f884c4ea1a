package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// raw builds GGUF bytes by hand, for malformed files the Writer refuses.
type raw struct{ b []byte }

func newRaw(version uint32, nTensors, nKV uint64) *raw {
	r := &raw{b: []byte("GGUF")}
	return r.u32(version).u64(nTensors).u64(nKV)
}

func (r *raw) u32(v uint32) *raw { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) str(s string) *raw { r.b = appendString(r.b, s); return r }
func (r *raw) bytes(p ...byte) *raw {
	r.b = append(r.b, p...)
	return r
}

// kv appends a key and an encoded value.
func (r *raw) kv(key string, v any) *raw {
	r.str(key)
	r.b = appendValue(r.b, v)
	return r
}

// tensor appends a tensor info.
func (r *raw) tensor(name string, typ Type, offset uint64, shape ...uint64) *raw {
	r.str(name).u32(uint32(len(shape)))
	for _, d := range shape {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(offset)
}

// data pads to align and appends n zero bytes.
func (r *raw) data(align, n int) []byte {
	for len(r.b)%align != 0 {
		r.b = append(r.b, 0)
	}
	return append(r.b, make([]byte, n)...)
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want error // besides ErrFormat
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"bad magic", append([]byte("GGUX"), make([]byte, 20)...), ErrBadMagic},
		{"version 1", newRaw(1, 0, 0).b, ErrVersion},
		{"version 4", newRaw(4, 0, 0).b, ErrVersion},
		{"big-endian version", newRaw(3<<24, 0, 0).b, ErrVersion},
		{"huge kv count", newRaw(3, 0, 1<<40).b, nil},
		{"kv count beyond file", newRaw(3, 0, 5).kv("a", true).b, nil},
		{"huge tensor count", newRaw(3, 1<<40, 0).b, nil},
		{"huge key length", newRaw(3, 0, 1).u64(1 << 62).bytes(make([]byte, 16)...).b, nil},
		{"key length beyond file", newRaw(3, 0, 1).u64(100).bytes(make([]byte, 16)...).b, io.ErrUnexpectedEOF},
		{"huge string value", newRaw(3, 0, 1).str("k").u32(uint32(typeString)).u64(1 << 62).bytes(make([]byte, 16)...).b, nil},
		{"huge array", newRaw(3, 0, 1).str("k").u32(uint32(typeArray)).u32(uint32(typeUint64)).u64(1 << 61).bytes(make([]byte, 16)...).b, io.ErrUnexpectedEOF},
		{"huge string array", newRaw(3, 0, 1).str("k").u32(uint32(typeArray)).u32(uint32(typeString)).u64(1 << 40).bytes(make([]byte, 64)...).b, io.ErrUnexpectedEOF},
		{"bad value type", newRaw(3, 0, 1).str("k").u32(13).bytes(make([]byte, 16)...).b, nil},
		{"bad array element type", newRaw(3, 0, 1).str("k").u32(uint32(typeArray)).u32(99).u64(0).b, nil},
		{"deep array nesting", deepArray(maxArrayDepth + 1), nil},
		{"duplicate key", newRaw(3, 0, 2).kv("k", true).kv("k", false).b, ErrDuplicateKey},
		{"alignment not power of two", newRaw(3, 0, 1).kv(KeyAlignment, uint32(48)).b, ErrAlignment},
		{"alignment zero", newRaw(3, 0, 1).kv(KeyAlignment, uint32(0)).b, ErrAlignment},
		{"alignment string", newRaw(3, 0, 1).kv(KeyAlignment, "32").b, ErrAlignment},
		{"alignment huge", newRaw(3, 0, 1).kv(KeyAlignment, uint64(1<<40)).b, ErrAlignment},
		{"n_dims 5", newRaw(3, 1, 0).tensor("t", TypeF32, 0, 1, 1, 1, 1, 1).data(32, 4), nil},
		{"n_dims huge", newRaw(3, 1, 0).str("t").u32(1 << 31).bytes(make([]byte, 64)...).b, nil},
		{"unknown tensor type", newRaw(3, 1, 0).tensor("t", Type(4), 0, 32).data(32, 64), nil},
		{"row not block multiple", newRaw(3, 1, 0).tensor("t", TypeQ4_0, 0, 16, 2).data(32, 64), ErrShape},
		{"element count overflow", newRaw(3, 1, 0).tensor("t", TypeF32, 0, 1<<32, 1<<32).data(32, 64), ErrShape},
		{"misaligned offset", newRaw(3, 2, 0).tensor("a", TypeF32, 0, 1).tensor("b", TypeF32, 4, 1).data(32, 64), nil},
		{"data beyond file", newRaw(3, 1, 0).tensor("t", TypeF32, 0, 16).data(32, 63), nil},
		{"offset beyond file", newRaw(3, 1, 0).tensor("t", TypeF32, 1<<62, 1).data(32, 64), nil},
		{"offset wraps", newRaw(3, 1, 0).tensor("t", TypeF32, ^uint64(31), 16).data(32, 64), nil},
		{"header padding missing", newRaw(3, 1, 0).tensor("t", TypeF32, 0, 1).b, nil},
		{"duplicate tensor", newRaw(3, 2, 0).tensor("t", TypeF32, 0, 1).tensor("t", TypeF32, 32, 1).data(32, 64), ErrDuplicateTensor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.file), int64(len(tt.file)))
			if err == nil {
				t.Fatalf("NewReader succeeded: %+v", r)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Errorf("err = %v (%T), want *FormatError", err, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if fe != nil && (fe.Offset < 0 || fe.Offset > int64(len(tt.file))) {
				t.Errorf("offset %d outside the %d-byte file", fe.Offset, len(tt.file))
			}
		})
	}
}

// deepArray returns a file with one key holding depth nested empty arrays.
func deepArray(depth int) []byte {
	r := newRaw(3, 0, 1).str("k").u32(uint32(typeArray))
	for range depth - 1 {
		r.u32(uint32(typeArray)).u64(1)
	}
	return r.u32(uint32(typeUint8)).u64(0).b
}

func TestReaderAcceptsEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		file []byte
	}{
		{"version 2", newRaw(2, 0, 0).b},
		{"no tensors no padding", newRaw(3, 0, 1).kv("k", uint8(1)).b},
		{"max array nesting", deepArray(maxArrayDepth)},
		{"scalar tensor", newRaw(3, 1, 0).tensor("t", TypeF32, 0).data(32, 4)},
		{"empty tensor past end", newRaw(3, 1, 0).tensor("t", TypeF32, 0, 0).b},
		{"last tensor unpadded", newRaw(3, 2, 0).tensor("a", TypeF32, 0, 1).tensor("b", TypeQ8_0, 32, 32).data(32, 32+34)},
		{"alignment uint64", newRaw(3, 1, 1).kv(KeyAlignment, uint64(8)).tensor("t", TypeF32, 8, 1).data(8, 12)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewReader(bytes.NewReader(tt.file), int64(len(tt.file))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReaderTruncated cuts a valid file at every length: each cut before the
// end of the last tensor's data is an error, never a panic.
func TestReaderTruncated(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	file := writeFile(t, 0, allValues, makeTensors(rng, 1, TypeF32, TypeQ4_0, TypeQ8_0))
	full, err := NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	last := full.Tensors[len(full.Tensors)-1]
	size, _ := last.Size()
	end := full.DataOffset + int64(last.Offset) + size
	for n := range int64(len(file)) {
		_, err := NewReader(bytes.NewReader(file[:n]), n)
		if n < end {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("prefix %d: err = %v, want *FormatError", n, err)
			}
		} else if err != nil {
			t.Fatalf("prefix %d (past the data): %v", n, err)
		}
	}
}

// failReaderAt fails every read past its limit with a non-EOF error.
type failReaderAt struct {
	r     io.ReaderAt
	limit int64
}

var errDisk = errors.New("disk on fire")

func (f failReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

func TestReaderIOError(t *testing.T) {
	file := writeFile(t, 0, allValues, nil)
	_, err := NewReader(failReaderAt{bytes.NewReader(file), 8}, int64(len(file)))
	var fe *FormatError
	if !errors.Is(err, errDisk) || errors.As(err, &fe) {
		t.Errorf("err = %v, want the I/O error, not a FormatError", err)
	}
}

func TestOpen(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	tensors := makeTensors(rng, 2, TypeF32, TypeQ8_0)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, writeFile(t, 0, allValues, tensors), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, &rc.Reader, tensors, DefaultAlignment)
	sr, err := rc.TensorReader(tensors[1].name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(sr)
	if err != nil || !bytes.Equal(got, tensors[1].data) {
		t.Errorf("TensorReader data differs (err %v)", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) err = %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("not a gguf file"), 0o644)
	if _, err := Open(bad); !errors.Is(err, ErrBadMagic) {
		t.Errorf("Open(bad) err = %v, want ErrBadMagic", err)
	}
}

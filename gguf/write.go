package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// maxTensorName is the longest tensor name llama.cpp accepts (GGML_MAX_NAME-1).
const maxTensorName = 63

// A Writer writes a GGUF v3 file to an io.Writer as a stream. Declare the
// metadata with AddKV and the tensors with AddTensor, then write each
// tensor's data with WriteTensor in declaration order; the first WriteTensor
// (or Close) writes the header. Close must be called; it does not close the
// underlying writer. Tensors are laid out contiguously, each padded to the
// alignment, as ggml's gguf_write does.
type Writer struct {
	w         *bufio.Writer
	alignment uint64
	kv        []KV
	kvIndex   map[string]int
	tensors   []TensorInfo
	sizes     []int64
	tIndex    map[string]int
	next      int  // index of the next tensor whose data is due
	header    bool // header written
	closed    bool
	err       error // sticky write error
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{
		w:         bufio.NewWriterSize(w, 1<<20),
		alignment: DefaultAlignment,
		kvIndex:   make(map[string]int),
		tIndex:    make(map[string]int),
	}
}

// declaring reports whether metadata and tensors may still be declared.
func (w *Writer) declaring() error {
	switch {
	case w.closed:
		return ErrClosed
	case w.header:
		return ErrHeaderWritten
	}
	return nil
}

// SetAlignment sets the data alignment (default 32), recorded in the file as
// general.alignment. n must be a power of two that fits uint32.
func (w *Writer) SetAlignment(n uint64) error {
	if err := w.declaring(); err != nil {
		return err
	}
	if n == 0 || n&(n-1) != 0 || n > math.MaxUint32 {
		return fmt.Errorf("%w: %d", ErrAlignment, n)
	}
	w.alignment = n
	if i, ok := w.kvIndex[KeyAlignment]; ok {
		w.kv[i].Value = uint32(n)
		return nil
	}
	if n != DefaultAlignment {
		return w.AddKV(KeyAlignment, uint32(n))
	}
	return nil
}

// AddKV declares a metadata pair. value must be one of the Go types listed
// at [KV]; Go int and other types are rejected so that every value has an
// explicit GGUF width. general.alignment must be a uint32 power of two and
// also sets the alignment.
func (w *Writer) AddKV(key string, value any) error {
	if err := w.declaring(); err != nil {
		return err
	}
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("gguf: invalid metadata key of %d bytes", len(key))
	}
	if _, dup := w.kvIndex[key]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateKey, key)
	}
	if _, err := typeOf(value, 0); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	if key == KeyAlignment {
		a, ok := value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("%w: %s = %v (%T), want a uint32", ErrAlignment, key, value, value)
		}
		w.alignment = uint64(a)
	}
	w.kvIndex[key] = len(w.kv)
	w.kv = append(w.kv, KV{Key: key, Value: value})
	return nil
}

// AddTensor declares a tensor of 1 to 4 dimensions in ggml order (shape[0]
// is the row length, which must be a multiple of typ's block size).
func (w *Writer) AddTensor(name string, typ Type, shape ...uint64) error {
	if err := w.declaring(); err != nil {
		return err
	}
	if name == "" || len(name) > maxTensorName {
		return fmt.Errorf("gguf: tensor name %q must have 1 to %d bytes", name, maxTensorName)
	}
	if _, dup := w.tIndex[name]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateTensor, name)
	}
	if !typ.Known() {
		return fmt.Errorf("%w: tensor %q: %v", ErrUnsupportedType, name, typ)
	}
	if len(shape) < 1 || len(shape) > maxDims {
		return fmt.Errorf("%w: tensor %q has %d dimensions, want 1 to %d", ErrShape, name, len(shape), maxDims)
	}
	ti := TensorInfo{Name: name, Shape: append([]uint64(nil), shape...), Type: typ}
	size, err := ti.Size()
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	w.tIndex[name] = len(w.tensors)
	w.tensors = append(w.tensors, ti)
	w.sizes = append(w.sizes, size)
	return nil
}

// WriteTensor writes the data of the next declared tensor, which must be
// the one named, followed by padding to the alignment. len(data) must equal
// the tensor's size. The first call writes the header.
func (w *Writer) WriteTensor(name string, data []byte) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if w.next >= len(w.tensors) || w.tensors[w.next].Name != name {
		want := "none"
		if w.next < len(w.tensors) {
			want = fmt.Sprintf("%q", w.tensors[w.next].Name)
		}
		return fmt.Errorf("%w: got %q, next is %s", ErrTensorOrder, name, want)
	}
	if int64(len(data)) != w.sizes[w.next] {
		return fmt.Errorf("%w: tensor %q has %d bytes, want %d", ErrTensorSize, name, len(data), w.sizes[w.next])
	}
	if err := w.writeHeader(); err != nil {
		return err
	}
	w.write(data)
	w.pad(int64(len(data)))
	w.next++
	return w.err
}

// Close writes the header if it is not yet written and flushes the output.
// It reports ErrMissingData if a declared tensor's data was not written.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	err := w.writeHeader()
	w.closed = true
	if err == nil {
		if err = w.w.Flush(); err != nil {
			w.err = err
		}
	}
	if err == nil && w.next < len(w.tensors) {
		err = fmt.Errorf("%w: %d of %d tensors written, next is %q",
			ErrMissingData, w.next, len(w.tensors), w.tensors[w.next].Name)
	}
	return err
}

// writeHeader writes the preamble, metadata and tensor infos, padded to the
// alignment, unless already written.
func (w *Writer) writeHeader() error {
	if w.header || w.err != nil {
		return w.err
	}
	w.header = true
	le := binary.LittleEndian
	b := []byte("GGUF")
	b = le.AppendUint32(b, 3)
	b = le.AppendUint64(b, uint64(len(w.tensors)))
	b = le.AppendUint64(b, uint64(len(w.kv)))
	for _, kv := range w.kv {
		b = appendString(b, kv.Key)
		b = appendValue(b, kv.Value)
	}
	var off uint64
	for i, t := range w.tensors {
		w.tensors[i].Offset = off
		b = appendString(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Shape)))
		for _, d := range t.Shape {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, off)
		off += uint64(alignUp(w.sizes[i], int64(w.alignment)))
	}
	w.write(b)
	w.pad(int64(len(b)))
	return w.err
}

func (w *Writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

var zeros [256]byte

// pad writes zeros from n up to the next multiple of the alignment.
func (w *Writer) pad(n int64) {
	for p := alignUp(n, int64(w.alignment)) - n; p > 0 && w.err == nil; {
		k := min(p, int64(len(zeros)))
		w.write(zeros[:k])
		p -= k
	}
}

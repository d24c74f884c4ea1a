package gguf

import (
	"fmt"
	"io"
	"math"
	"os"
)

// DefaultAlignment is the data alignment used when a file has no
// general.alignment key.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides the data alignment.
const KeyAlignment = "general.alignment"

// KV is one metadata key/value pair. Value holds one of uint8, int8, uint16,
// int16, uint32, int32, uint64, int64, float32, float64, bool, string, a typed
// slice of those ([]uint8 ... []string) for an array, or []any whose elements
// are arrays for an array of arrays.
type KV struct {
	Key   string
	Value any
}

// A Reader holds the parsed header of a GGUF file and reads its tensor data.
type Reader struct {
	Version    uint32
	KV         []KV         // file order
	Tensors    []TensorInfo // file order
	Alignment  uint64       // general.alignment or DefaultAlignment
	DataOffset int64        // absolute offset of the data section

	r       io.ReaderAt
	size    int64
	kvIndex map[string]int
	tIndex  map[string]int
}

// A ReadCloser is a Reader over a file opened by [Open]; Close closes the file.
type ReadCloser struct {
	Reader
	f *os.File
}

// Open opens the GGUF file at path and parses its header.
func Open(path string) (*ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := NewReader(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &ReadCloser{Reader: *r, f: f}, nil
}

// Close closes the underlying file.
func (rc *ReadCloser) Close() error { return rc.f.Close() }

// NewReader parses the header of the GGUF file of the given size read from r.
// It checks that every tensor's data lies inside the file.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < 0 {
		return nil, &FormatError{Reason: fmt.Sprintf("negative size %d", size)}
	}
	d := newDecoder(r, size)
	gr := &Reader{r: r, size: size, Alignment: DefaultAlignment}
	nTensors, nKV, err := gr.readPreamble(d)
	if err != nil {
		return nil, err
	}
	if err := gr.readKVs(d, nKV); err != nil {
		return nil, err
	}
	if err := gr.readTensorInfos(d, nTensors); err != nil {
		return nil, err
	}
	return gr, nil
}

// readPreamble reads the magic, version and counts.
func (gr *Reader) readPreamble(d *decoder) (nTensors, nKV uint64, err error) {
	magic, err := d.next(4, "magic")
	if err != nil {
		return 0, 0, err
	}
	if string(magic) != "GGUF" {
		return 0, 0, &FormatError{Offset: 0, Reason: fmt.Sprintf("bad magic %q", magic), Err: ErrBadMagic}
	}
	if gr.Version, err = d.u32("version"); err != nil {
		return 0, 0, err
	}
	if gr.Version != 2 && gr.Version != 3 {
		return 0, 0, &FormatError{Offset: 4, Reason: fmt.Sprintf("version %d, want 2 or 3", gr.Version), Err: ErrVersion}
	}
	if nTensors, err = d.u64("tensor count"); err != nil {
		return 0, 0, err
	}
	if nKV, err = d.u64("metadata count"); err != nil {
		return 0, 0, err
	}
	const minKV, minTensor = 8 + 4 + 1, 8 + 4 + 4 + 8 // fewest bytes per entry
	if nKV > maxKVCount || nKV > uint64(d.remaining()/minKV) {
		return 0, 0, &FormatError{Offset: 16, Reason: fmt.Sprintf("metadata count %d too large for %d-byte file", nKV, d.size)}
	}
	if nTensors > maxTensors || nTensors > uint64(d.remaining()/minTensor) {
		return 0, 0, &FormatError{Offset: 8, Reason: fmt.Sprintf("tensor count %d too large for %d-byte file", nTensors, d.size)}
	}
	return nTensors, nKV, nil
}

// readKVs reads the metadata and applies general.alignment.
func (gr *Reader) readKVs(d *decoder, n uint64) error {
	gr.KV = make([]KV, 0, n)
	gr.kvIndex = make(map[string]int, n)
	for range n {
		start := d.off
		key, err := d.string(maxKeyLen, "metadata key")
		if err != nil {
			return err
		}
		if _, dup := gr.kvIndex[key]; dup {
			return &FormatError{Offset: start, Reason: fmt.Sprintf("duplicate key %q", key), Err: ErrDuplicateKey}
		}
		vt, err := d.u32("value type")
		if err != nil {
			return err
		}
		v, err := d.value(valueType(vt), 0)
		if err != nil {
			return err
		}
		if key == KeyAlignment {
			a, ok := asUint(v)
			if !ok || a == 0 || a&(a-1) != 0 || a > math.MaxUint32 {
				return &FormatError{Offset: start, Reason: fmt.Sprintf("%s is %v (%T)", KeyAlignment, v, v), Err: ErrAlignment}
			}
			gr.Alignment = a
		}
		gr.kvIndex[key] = len(gr.KV)
		gr.KV = append(gr.KV, KV{Key: key, Value: v})
	}
	return nil
}

// readTensorInfos reads the tensor infos and checks each tensor's data range.
func (gr *Reader) readTensorInfos(d *decoder, n uint64) error {
	gr.Tensors = make([]TensorInfo, 0, n)
	gr.tIndex = make(map[string]int, n)
	starts := make([]int64, 0, n)
	for range n {
		starts = append(starts, d.off)
		ti, err := readTensorInfo(d)
		if err != nil {
			return err
		}
		if _, dup := gr.tIndex[ti.Name]; dup {
			return &FormatError{Offset: starts[len(starts)-1], Reason: fmt.Sprintf("duplicate tensor %q", ti.Name), Err: ErrDuplicateTensor}
		}
		gr.tIndex[ti.Name] = len(gr.Tensors)
		gr.Tensors = append(gr.Tensors, ti)
	}
	gr.DataOffset = alignUp(d.off, int64(gr.Alignment))
	for i, ti := range gr.Tensors {
		if err := gr.checkTensor(ti); err != nil {
			return &FormatError{Offset: starts[i], Reason: fmt.Sprintf("tensor %q: %v", ti.Name, err), Err: err}
		}
	}
	return nil
}

// readTensorInfo reads one tensor info: name, dims, type and offset.
func readTensorInfo(d *decoder) (TensorInfo, error) {
	var ti TensorInfo
	var err error
	if ti.Name, err = d.string(maxKeyLen, "tensor name"); err != nil {
		return ti, err
	}
	nDims, err := d.u32("tensor dimension count")
	if err != nil {
		return ti, err
	}
	if nDims > maxDims {
		return ti, &FormatError{Offset: d.off - 4, Reason: fmt.Sprintf("tensor %q has %d dimensions, at most %d allowed", ti.Name, nDims, maxDims)}
	}
	ti.Shape = make([]uint64, nDims)
	for i := range ti.Shape {
		if ti.Shape[i], err = d.u64("tensor dimension"); err != nil {
			return ti, err
		}
	}
	typ, err := d.u32("tensor type")
	if err != nil {
		return ti, err
	}
	ti.Type = Type(typ)
	if ti.Offset, err = d.u64("tensor offset"); err != nil {
		return ti, err
	}
	return ti, nil
}

// checkTensor checks a tensor's type, shape, alignment and data range.
func (gr *Reader) checkTensor(ti TensorInfo) error {
	if !ti.Type.Known() {
		return fmt.Errorf("unknown type %d", uint32(ti.Type))
	}
	size, err := ti.Size()
	if err != nil {
		return err
	}
	if ti.Offset%gr.Alignment != 0 {
		return fmt.Errorf("offset %d is not a multiple of alignment %d", ti.Offset, gr.Alignment)
	}
	if size == 0 {
		return nil
	}
	avail := gr.size - gr.DataOffset
	if avail < 0 || ti.Offset > uint64(avail) || size > avail-int64(ti.Offset) {
		return fmt.Errorf("data [%d, +%d) lies outside the %d-byte data section", ti.Offset, size, max(avail, 0))
	}
	return nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }

package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Limits on untrusted lengths. Each is also bounded by the bytes that remain
// in the file, so no allocation exceeds a small multiple of the file size.
const (
	maxKeyLen    = 1 << 16 // metadata keys and tensor names
	maxStringLen = 1 << 26 // metadata string values (some files embed tokenizer.json)
	maxKVCount   = 1 << 20
	maxTensors   = 1 << 20
)

// decoder reads the GGUF header sequentially, tracking the file offset.
type decoder struct {
	r    *bufio.Reader
	off  int64 // offset of the next byte to read
	size int64 // file size
}

const decodeBufSize = 1 << 16

func newDecoder(r io.ReaderAt, size int64) *decoder {
	return &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), decodeBufSize), size: size}
}

func (d *decoder) remaining() int64 { return d.size - d.off }

func (d *decoder) errorf(format string, args ...any) error {
	return &FormatError{Offset: d.off, Reason: fmt.Sprintf(format, args...)}
}

// ioError converts an error of the underlying reader: running out of bytes
// is a FormatError, anything else is passed up as an I/O error.
func (d *decoder) ioError(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FormatError{Offset: d.off, Reason: "unexpected EOF reading " + what, Err: io.ErrUnexpectedEOF}
	}
	return fmt.Errorf("gguf: read %s at offset %d: %w", what, d.off, err)
}

// next returns the next n bytes (n <= decodeBufSize), valid until the next read.
func (d *decoder) next(n int, what string) ([]byte, error) {
	b, err := d.r.Peek(n)
	if err != nil {
		return nil, d.ioError(err, what)
	}
	d.r.Discard(n) //nolint:errcheck // cannot fail after a successful Peek
	d.off += int64(n)
	return b, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.next(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.next(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// string reads a length-prefixed string of at most limit bytes.
func (d *decoder) string(limit int64, what string) (string, error) {
	start := d.off
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(limit) {
		return "", &FormatError{Offset: start, Reason: fmt.Sprintf("%s length %d exceeds limit %d", what, n, limit)}
	}
	if n > uint64(d.remaining()) {
		return "", &FormatError{Offset: start, Reason: fmt.Sprintf("%s length %d exceeds the %d bytes left", what, n, d.remaining()),
			Err: io.ErrUnexpectedEOF}
	}
	if n <= decodeBufSize {
		b, err := d.next(int(n), what)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return "", d.ioError(err, what)
	}
	d.off += int64(n)
	return string(b), nil
}

// value reads one value of type vt.
func (d *decoder) value(vt valueType, depth int) (any, error) {
	if vt == typeString {
		return d.string(maxStringLen, "string value")
	}
	if vt == typeArray {
		return d.array(depth)
	}
	if !vt.valid() {
		return nil, d.errorf("invalid value type %d", uint32(vt))
	}
	b, err := d.next(int(vt.minSize()), vt.String()+" value")
	if err != nil {
		return nil, err
	}
	return scalar(vt, b), nil
}

// scalar decodes a fixed-size value; len(b) == vt.minSize().
func scalar(vt valueType, b []byte) any {
	le := binary.LittleEndian
	switch vt {
	case typeUint8:
		return b[0]
	case typeInt8:
		return int8(b[0])
	case typeUint16:
		return le.Uint16(b)
	case typeInt16:
		return int16(le.Uint16(b))
	case typeUint32:
		return le.Uint32(b)
	case typeInt32:
		return int32(le.Uint32(b))
	case typeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case typeBool:
		return b[0] != 0
	case typeUint64:
		return le.Uint64(b)
	case typeInt64:
		return int64(le.Uint64(b))
	case typeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	panic("gguf: scalar of non-scalar type " + vt.String())
}

// array reads an array: element type, count and elements. Its length is
// bounded by the bytes left, at the fewest bytes per element.
func (d *decoder) array(depth int) (any, error) {
	if depth >= maxArrayDepth {
		return nil, d.errorf("arrays nested deeper than %d", maxArrayDepth)
	}
	et32, err := d.u32("array element type")
	if err != nil {
		return nil, err
	}
	et := valueType(et32)
	if !et.valid() {
		return nil, &FormatError{Offset: d.off - 4, Reason: fmt.Sprintf("invalid array element type %d", et32)}
	}
	count, err := d.u64("array length")
	if err != nil {
		return nil, err
	}
	if count > uint64(d.remaining()/et.minSize()) {
		return nil, &FormatError{Offset: d.off - 8, Reason: fmt.Sprintf("array of %d %v exceeds the %d bytes left", count, et, d.remaining()),
			Err: io.ErrUnexpectedEOF}
	}
	n := int(count)
	switch et {
	case typeUint8:
		return readFixed(d, n, et, func(b []byte) uint8 { return b[0] })
	case typeInt8:
		return readFixed(d, n, et, func(b []byte) int8 { return int8(b[0]) })
	case typeUint16:
		return readFixed(d, n, et, binary.LittleEndian.Uint16)
	case typeInt16:
		return readFixed(d, n, et, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) })
	case typeUint32:
		return readFixed(d, n, et, binary.LittleEndian.Uint32)
	case typeInt32:
		return readFixed(d, n, et, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
	case typeFloat32:
		return readFixed(d, n, et, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
	case typeBool:
		return readFixed(d, n, et, func(b []byte) bool { return b[0] != 0 })
	case typeUint64:
		return readFixed(d, n, et, binary.LittleEndian.Uint64)
	case typeInt64:
		return readFixed(d, n, et, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
	case typeFloat64:
		return readFixed(d, n, et, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	case typeString:
		out := make([]string, n)
		for i := range out {
			if out[i], err = d.string(maxStringLen, "string array element"); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	out := make([]any, n) // typeArray
	for i := range out {
		if out[i], err = d.array(depth + 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readFixed reads n fixed-size elements of type et.
func readFixed[T any](d *decoder, n int, et valueType, conv func([]byte) T) ([]T, error) {
	size := int(et.minSize())
	out := make([]T, n)
	for i := range out {
		b, err := d.next(size, "array element")
		if err != nil {
			return nil, err
		}
		out[i] = conv(b)
	}
	return out, nil
}

package gguf

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors describing malformed input are [*FormatError]s,
// which match [ErrFormat] (and a more specific sentinel where one applies)
// with errors.Is.
var (
	// ErrFormat matches every *FormatError.
	ErrFormat = errors.New("gguf: not a valid GGUF file")
	// ErrBadMagic means the file does not start with "GGUF".
	ErrBadMagic = errors.New("gguf: bad magic")
	// ErrVersion means the file's GGUF version is not supported.
	ErrVersion = errors.New("gguf: unsupported version")
	// ErrUnsupportedType means a tensor type is unknown or cannot be
	// converted by the requested operation.
	ErrUnsupportedType = errors.New("gguf: unsupported tensor type")
	// ErrTensorNotFound means no tensor has the requested name.
	ErrTensorNotFound = errors.New("gguf: tensor not found")
	// ErrDuplicateKey means a metadata key occurs twice.
	ErrDuplicateKey = errors.New("gguf: duplicate metadata key")
	// ErrDuplicateTensor means a tensor name occurs twice.
	ErrDuplicateTensor = errors.New("gguf: duplicate tensor name")
	// ErrValueType means a Go value has no GGUF metadata encoding.
	ErrValueType = errors.New("gguf: unsupported metadata value type")
	// ErrShape means a tensor shape is invalid for its type.
	ErrShape = errors.New("gguf: invalid tensor shape")
	// ErrAlignment means an alignment is not a nonzero power of two.
	ErrAlignment = errors.New("gguf: alignment must be a nonzero power of two")
	// ErrHeaderWritten means the Writer's header was already written, so no
	// more metadata or tensors can be declared.
	ErrHeaderWritten = errors.New("gguf: header already written")
	// ErrTensorOrder means WriteTensor was called out of AddTensor order.
	ErrTensorOrder = errors.New("gguf: tensor data written out of order")
	// ErrTensorSize means tensor data has the wrong length.
	ErrTensorSize = errors.New("gguf: tensor data has wrong size")
	// ErrMissingData means Close was called before every declared tensor's
	// data was written.
	ErrMissingData = errors.New("gguf: tensor data missing")
	// ErrClosed means the Writer was already closed.
	ErrClosed = errors.New("gguf: writer closed")
)

// A FormatError reports malformed GGUF input at a byte offset.
type FormatError struct {
	Offset int64  // byte offset in the file where the problem was found
	Reason string // what is wrong
	Err    error  // optional more specific cause (ErrBadMagic, io.ErrUnexpectedEOF, ...)
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("gguf: invalid file at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap returns ErrFormat and, when set, the specific cause.
func (e *FormatError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrFormat, e.Err}
	}
	return []error{ErrFormat}
}

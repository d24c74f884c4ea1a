// Package gguf reads and writes GGUF files, the model container of llama.cpp.
//
// It is shaped like archive/zip: [NewReader] parses the header of any
// [io.ReaderAt] of known size and [Open] does the same for a path, while a
// streaming [Writer] declares metadata and tensors up front and then writes
// tensor data in order. [Quantize] and [Dequantize] convert between float32
// and the ggml tensor encodings bit-exactly with ggml's reference code.
//
// Files are untrusted input: every length read from a file is bounded by sane
// limits and by the bytes that remain, so a malformed file yields a
// [*FormatError] rather than a panic or a huge allocation.
//
// Format: all integers are little-endian. A file starts with the magic "GGUF",
// a uint32 version (2 and 3 are read, 3 is written), a uint64 tensor count and
// a uint64 metadata count, followed by the metadata key/value pairs, the tensor
// infos and, at the next multiple of the alignment, the tensor data.
package gguf

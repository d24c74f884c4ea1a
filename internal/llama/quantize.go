package llama

/*
#include <stdlib.h>
#include "llama.h"
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"
)

// quantTypes maps the names QuantizeModel takes to llama.cpp's file types.
var quantTypes = map[string]C.enum_llama_ftype{
	"f16":  C.LLAMA_FTYPE_MOSTLY_F16,
	"q8_0": C.LLAMA_FTYPE_MOSTLY_Q8_0,
	"q6_k": C.LLAMA_FTYPE_MOSTLY_Q6_K,
	"q4_0": C.LLAMA_FTYPE_MOSTLY_Q4_0,
}

// QuantizeTypes lists the type names QuantizeModel accepts, sorted.
func QuantizeTypes() []string {
	names := make([]string, 0, len(quantTypes))
	for n := range quantTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// QuantizeModel writes src's weights as typ (a QuantizeTypes name, any case)
// to dst with llama.cpp's own quantizer (llama_model_quantize), requantizing
// weights that are already quantized (a Q6_K base to Q8_0, say). dst appears
// whole or not at all: the file is written next to it and renamed. threads is clamped
// like a context's. It cannot be cancelled once llama.cpp has started.
func QuantizeModel(ctx context.Context, src, dst, typ string, threads int) error {
	ftype, ok := quantTypes[strings.ToLower(typ)]
	if !ok {
		return errorf(ErrInvalidParam, "quantize type %q (known: %s)", typ, strings.Join(QuantizeTypes(), ", "))
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("quantize %s: %w", src, err)
	}
	Init()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath) // a no-op after the rename

	p := C.llama_model_quantize_default_params()
	p.nthread = C.int32_t(clampThreads(threads))
	p.ftype = ftype
	p.allow_requantize = true
	csrc, ctmp := C.CString(src), C.CString(tmpPath)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(ctmp))
	if C.llama_model_quantize(csrc, ctmp, &p) != 0 {
		return errorf(ErrQuantize, "%s to %s (run with PAW_LOG_LEVEL=debug for llama.cpp's reason)", src, typ)
	}
	// CreateTemp made it private; a model file is as readable as a downloaded one.
	if err := os.Chmod(tmpPath, 0o644); err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	if err := os.Rename(tmpPath, dst); err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	return nil
}

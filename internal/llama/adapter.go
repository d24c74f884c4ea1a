package llama

/*
#include <stdlib.h>
#include "llama.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"
)

// Adapter is a LoRA adapter loaded for one Model. Load it once and set it on any
// number of contexts of that model; Close it after the contexts stop using it.
type Adapter struct {
	c    *C.struct_llama_adapter_lora
	path string
}

// LoadAdapter loads a llama.cpp LoRA GGUF (general.type=adapter) for m.
// llama.cpp checks the adapter's architecture and every tensor shape against m.
func LoadAdapter(m *Model, path string) (*Adapter, error) {
	if m == nil || m.c == nil {
		return nil, ErrClosed
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("load adapter: %w", err)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	a := C.llama_adapter_lora_init(m.c, cpath)
	if a == nil {
		return nil, errorf(ErrLoadAdapter, "%s does not fit model %s (architecture or tensor shapes differ, or the file is not a LoRA GGUF)", path, m.Desc())
	}
	return &Adapter{c: a, path: path}, nil
}

// Close frees the adapter.
func (a *Adapter) Close() error {
	if a == nil || a.c == nil {
		return nil
	}
	C.llama_adapter_lora_free(a.c)
	a.c = nil
	return nil
}

// Path is the file the adapter was loaded from.
func (a *Adapter) Path() string { return a.path }

// Meta returns a metadata value of the adapter file rendered as a string.
func (a *Adapter) Meta(key string) (string, bool) {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	return metaString(func(buf *C.char, n C.size_t) C.int32_t {
		return C.llama_adapter_meta_val_str(a.c, ckey, buf, n)
	})
}

// Alpha is adapter.lora.alpha (0 if absent).
func (a *Adapter) Alpha() float64 {
	s, ok := a.Meta("adapter.lora.alpha")
	if !ok {
		return 0
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

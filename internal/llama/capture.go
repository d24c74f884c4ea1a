package llama

/*
#include <stdlib.h>
#include "llama.h"
#include "capture.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"unsafe"
)

// ErrCapture means hidden states could not be read from the graph.
var ErrCapture = errors.New("llama: hidden-state capture failed")

// CaptureParams configures Model.CaptureHidden.
type CaptureParams struct {
	// Layers are the layers to read, each in [0, NLayer): below the last,
	// the residual stream after the layer (llama.cpp's "l_out-<layer>");
	// the last layer is read after the final norm (the output embeddings).
	Layers  []int
	Last    int // positions read, at the end of the sequence
	Threads int // compute threads; 0 = one per core
}

// CaptureHidden runs tokens through the model in one micro-batch and
// returns, for each of p.Layers, the hidden states of the last p.Last
// positions: len(p.Layers) blocks of p.Last rows of NEmbd floats.
func (m *Model) CaptureHidden(ctx context.Context, tokens []Token, p CaptureParams) ([]float32, error) {
	if m == nil || m.c == nil {
		return nil, ErrClosed
	}
	n, embd, nl := len(tokens), m.NEmbd(), m.NLayer()
	if p.Last <= 0 || p.Last > n || len(p.Layers) == 0 {
		return nil, errorf(ErrInvalidParam, "capture the last %d of %d tokens at %d layers", p.Last, n, len(p.Layers))
	}
	for _, l := range p.Layers {
		if l < 0 || l >= nl {
			return nil, errorf(ErrInvalidParam, "layer %d outside [0, %d)", l, nl)
		}
	}
	// The C side holds these for the decode: allocate them in C memory.
	layers := (*C.int32_t)(C.malloc(C.size_t(4 * len(p.Layers))))
	defer C.free(unsafe.Pointer(layers))
	got := (*C.int32_t)(C.calloc(C.size_t(len(p.Layers)), 4))
	defer C.free(unsafe.Pointer(got))
	out := (*C.float)(C.malloc(C.size_t(4 * len(p.Layers) * p.Last * embd)))
	defer C.free(unsafe.Pointer(out))
	state := (*C.paw_capture)(C.calloc(1, C.size_t(unsafe.Sizeof(C.paw_capture{}))))
	defer C.free(unsafe.Pointer(state))
	for i, l := range p.Layers {
		if l == nl-1 {
			l = -1 // read from the output embeddings, not the graph
		}
		unsafe.Slice(layers, len(p.Layers))[i] = C.int32_t(l)
	}
	*state = C.paw_capture{n_layers: C.int32_t(len(p.Layers)), layers: layers, n_embd: C.int32_t(embd),
		n_last: C.int32_t(p.Last), out: out, got: got}

	cp := C.llama_context_default_params()
	cp.n_ctx = C.uint32_t(n)
	cp.n_batch, cp.n_ubatch = C.uint32_t(n), C.uint32_t(n)
	cp.n_seq_max = 1
	th := clampThreads(p.Threads)
	cp.n_threads, cp.n_threads_batch = C.int32_t(th), C.int32_t(th)
	cp.embeddings = cBool(true)
	cp.pooling_type = C.LLAMA_POOLING_TYPE_NONE
	cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
	cp.no_perf = cBool(true)
	cp.cb_eval = C.ggml_backend_sched_eval_callback(C.paw_capture_cb)
	cp.cb_eval_user_data = unsafe.Pointer(state)
	lc, err := newRawContext(m, cp)
	if err != nil {
		return nil, err
	}
	defer lc.Close()
	// Outputs (the embeddings) only at the positions read.
	b := NewBatch(n, 1)
	defer b.Close()
	for i, t := range tokens {
		if _, err := b.Add(t, i, []int{0}, i >= n-p.Last); err != nil {
			return nil, err
		}
	}
	if err := lc.Decode(ctx, b); err != nil {
		if state.err != 0 {
			return nil, errorf(ErrCapture, "an l_out tensor has an unexpected shape or type")
		}
		return nil, fmt.Errorf("capture: %w", err)
	}
	res := make([]float32, len(p.Layers)*p.Last*embd)
	copy(res, unsafe.Slice((*float32)(unsafe.Pointer(out)), len(res)))
	for i, l := range p.Layers {
		dst := res[i*p.Last*embd : (i+1)*p.Last*embd]
		if l == nl-1 {
			for j := range p.Last {
				e := C.llama_get_embeddings_ith(lc.c, C.int32_t(n-p.Last+j))
				if e == nil {
					return nil, errorf(ErrCapture, "no output embeddings at position %d", n-p.Last+j)
				}
				copy(dst[j*embd:(j+1)*embd], unsafe.Slice((*float32)(unsafe.Pointer(e)), embd))
			}
			continue
		}
		if unsafe.Slice(got, len(p.Layers))[i] == 0 {
			return nil, errorf(ErrCapture, "layer %d: no l_out-%d tensor in the graph", l, l)
		}
	}
	return res, nil
}

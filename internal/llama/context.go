package llama

/*
#include <stdlib.h>
#include "llama.h"
#include "paw.h"
*/
import "C"

import (
	"context"
	"slices"
	"sync/atomic"
	"unsafe"
)

// ContextParams configures NewContext. The zero value gives the model's trained
// context, batches of 512, one sequence and one thread per core.
type ContextParams struct {
	NCtx    int // KV cache size in tokens over all sequences; 0 = the model's trained context
	NBatch  int // most tokens per Decode; 0 = 512
	NUBatch int // physical micro-batch; 0 = NBatch
	NSeqMax int // most distinct sequences; 0 = 1
	Threads int // compute threads; 0 = one per core, never more than the cores
	// SplitKV gives each sequence its own slice of the KV cache (n_ctx/NSeqMax
	// each). The default, a unified cache, lets sequences share a copied prefix.
	SplitKV   bool
	FlashAttn bool
}

// Context holds a KV cache and runs decodes on a Model. A Context is not safe
// for concurrent use; use one per goroutine or guard it.
type Context struct {
	c      *C.struct_llama_context
	model  *Model
	abort  *C.int // C-owned flag polled by ggml between graph nodes
	nctx   int
	nbatch int
	nseq   int
	// loraChanged forces the next decode to build a fresh graph: llama.cpp at
	// this commit reuses the previous graph when only the adapters changed,
	// silently ignoring the switch (its reuse check compares the adapter map
	// by address, not content).
	loraChanged bool
	lastEmb     bool // the embeddings flag of the last decode's graph
}

// NewContext creates a context on m.
func NewContext(m *Model, p ContextParams) (*Context, error) {
	if m == nil || m.c == nil {
		return nil, ErrClosed
	}
	cp := C.llama_context_default_params()
	if p.NCtx > 0 {
		cp.n_ctx = C.uint32_t(p.NCtx)
	} else {
		cp.n_ctx = C.uint32_t(m.NCtxTrain())
	}
	if p.NBatch > 0 {
		cp.n_batch = C.uint32_t(p.NBatch)
	} else {
		cp.n_batch = 512
	}
	cp.n_ubatch = cp.n_batch
	if p.NUBatch > 0 {
		cp.n_ubatch = C.uint32_t(p.NUBatch)
	}
	cp.n_seq_max = 1
	if p.NSeqMax > 0 {
		cp.n_seq_max = C.uint32_t(p.NSeqMax)
	}
	th := clampThreads(p.Threads)
	cp.n_threads = C.int32_t(th)
	cp.n_threads_batch = C.int32_t(th)
	cp.kv_unified = cBool(!p.SplitKV)
	cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
	if p.FlashAttn {
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_ENABLED
	}
	cp.no_perf = cBool(true)
	return newRawContext(m, cp)
}

// newRawContext creates a context from llama.cpp's own parameters, with
// the abort flag Decode uses.
func newRawContext(m *Model, cp C.struct_llama_context_params) (*Context, error) {
	flag := (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	cp.abort_callback = C.ggml_abort_callback(C.paw_abort_cb)
	cp.abort_callback_data = unsafe.Pointer(flag)
	c := C.llama_init_from_model(m.c, cp)
	if c == nil {
		C.free(unsafe.Pointer(flag))
		return nil, errorf(ErrContextInit, "n_ctx %d, n_batch %d, n_seq_max %d", cp.n_ctx, cp.n_batch, cp.n_seq_max)
	}
	return &Context{c: c, model: m, abort: flag, nctx: int(C.llama_n_ctx(c)), nbatch: int(C.llama_n_batch(c)), nseq: int(cp.n_seq_max)}, nil
}

// Close frees the context and its KV cache.
func (c *Context) Close() error {
	if c == nil || c.c == nil {
		return nil
	}
	C.llama_free(c.c)
	C.free(unsafe.Pointer(c.abort))
	c.c = nil
	return nil
}

// Model is the model the context runs.
func (c *Context) Model() *Model { return c.model }

// NCtx is the KV cache size in tokens.
func (c *Context) NCtx() int { return c.nctx }

// NBatch is the most tokens one Decode takes.
func (c *Context) NBatch() int { return c.nbatch }

// NSeqMax is the number of sequences the context holds.
func (c *Context) NSeqMax() int { return c.nseq }

// Threads is the number of compute threads the context uses.
func (c *Context) Threads() int { return int(C.llama_n_threads(c.c)) }

// SetThreads changes the compute threads (clamped to the cores).
func (c *Context) SetThreads(n int) {
	n = clampThreads(n)
	C.llama_set_n_threads(c.c, C.int32_t(n), C.int32_t(n))
}

// Decode runs the batch through the model, filling the KV cache and the logits
// of the tokens that asked for them. Cancelling ctx aborts the computation
// between graph nodes with ErrAborted; the aborted tokens are not kept.
func (c *Context) Decode(ctx context.Context, b *Batch) error {
	if c.c == nil {
		return ErrClosed
	}
	if b.Len() == 0 {
		return nil
	}
	if b.Len() > c.nbatch {
		// llama.cpp aborts the process on this; NBatch is capped at NCtx.
		return errorf(ErrInvalidParam, "batch of %d tokens exceeds the context's n_batch %d", b.Len(), c.nbatch)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	flag := (*int32)(unsafe.Pointer(c.abort))
	atomic.StoreInt32(flag, 0)
	stop := context.AfterFunc(ctx, func() { atomic.StoreInt32(flag, 1) })
	// The embeddings flag is a graph parameter llama.cpp does compare: after an
	// adapter switch, flip it relative to the last graph so this decode builds
	// a fresh graph with the new adapters; it is off otherwise.
	emb := c.loraChanged && !c.lastEmb
	if emb != c.lastEmb {
		C.llama_set_embeddings(c.c, cBool(emb))
	}
	rc := C.llama_decode(c.c, b.c)
	if rc == 0 { // a failed decode may not have built its graph: flip again next time
		c.lastEmb, c.loraChanged = emb, false
	}
	stop()
	switch {
	case rc == 0:
		return nil
	case rc == 1:
		return ErrKVFull
	case rc == 2:
		if err := ctx.Err(); err != nil {
			return errorf(ErrAborted, "%v", err)
		}
		return ErrAborted
	default:
		return errorf(ErrDecode, "llama_decode returned %d", int(rc))
	}
}

// Logits returns a copy of the logits of batch index i of the last Decode
// (-1 is the last token that asked for logits).
func (c *Context) Logits(i int) ([]float32, error) {
	row, err := c.LogitsView(i)
	if err != nil {
		return nil, err
	}
	return slices.Clone(row), nil
}

// LogitsView returns the logits of batch index i without copying. The slice
// aliases llama.cpp's buffer: it is valid only until the next Decode.
func (c *Context) LogitsView(i int) ([]float32, error) {
	p := c.logitsPtr(i)
	if p == nil {
		return nil, errorf(ErrNoLogits, "index %d", i)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), c.model.NVocab()), nil
}

func (c *Context) logitsPtr(i int) *C.float {
	// llama_get_logits_ith aborts the process on a bad index in some builds;
	// it returns NULL here (GGML_ASSERT-free path), which we turn into an error.
	return C.llama_get_logits_ith(c.c, C.int32_t(i))
}

func (c *Context) mem() C.llama_memory_t { return C.llama_get_memory(c.c) }

// ClearKV empties the whole KV cache.
func (c *Context) ClearKV() { C.llama_memory_clear(c.mem(), cBool(true)) }

// SeqRemove drops positions [p0, p1) of seq (-1 for p1 means to the end; seq -1
// means every sequence). It reports false if a partial removal is impossible.
func (c *Context) SeqRemove(seq, p0, p1 int) bool {
	return bool(C.llama_memory_seq_rm(c.mem(), C.llama_seq_id(seq), C.llama_pos(p0), C.llama_pos(p1)))
}

// SeqCopy makes positions [p0, p1) of src also belong to dst, sharing the cells
// (no copy of the KV data in a unified cache).
func (c *Context) SeqCopy(src, dst, p0, p1 int) {
	C.llama_memory_seq_cp(c.mem(), C.llama_seq_id(src), C.llama_seq_id(dst), C.llama_pos(p0), C.llama_pos(p1))
}

// SeqKeep removes every sequence but seq.
func (c *Context) SeqKeep(seq int) { C.llama_memory_seq_keep(c.mem(), C.llama_seq_id(seq)) }

// SeqPosMax is the largest position in seq, or -1 if it is empty.
func (c *Context) SeqPosMax(seq int) int {
	return int(C.llama_memory_seq_pos_max(c.mem(), C.llama_seq_id(seq)))
}

// SeqState serializes the KV cache of one sequence (for prefix caches).
func (c *Context) SeqState(seq int) ([]byte, error) {
	n := C.llama_state_seq_get_size(c.c, C.llama_seq_id(seq))
	if n == 0 {
		return nil, errorf(ErrState, "sequence %d is empty", seq)
	}
	buf := make([]byte, int(n))
	got := C.llama_state_seq_get_data(c.c, (*C.uint8_t)(unsafe.Pointer(&buf[0])), n, C.llama_seq_id(seq))
	if got == 0 {
		return nil, errorf(ErrState, "save sequence %d", seq)
	}
	return buf[:got], nil
}

// SetSeqState restores a sequence saved by SeqState (from a context of the same
// model and configuration) into seq.
func (c *Context) SetSeqState(seq int, data []byte) error {
	if len(data) == 0 {
		return errorf(ErrState, "empty state")
	}
	got := C.llama_state_seq_set_data(c.c, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.llama_seq_id(seq))
	if got == 0 {
		return errorf(ErrState, "restore %d bytes into sequence %d", len(data), seq)
	}
	return nil
}

// SetAdapter applies a LoRA adapter at the given scale (1.0 = alpha/rank as
// trained). Other adapters already set stay applied; ClearAdapters removes all.
func (c *Context) SetAdapter(a *Adapter, scale float32) error {
	if a == nil || a.c == nil {
		return ErrClosed
	}
	if rc := C.llama_set_adapter_lora(c.c, a.c, C.float(scale)); rc != 0 {
		return errorf(ErrLoadAdapter, "set adapter %s: code %d", a.path, int(rc))
	}
	c.loraChanged = true
	return nil
}

// ClearAdapters removes every adapter from the context.
func (c *Context) ClearAdapters() {
	C.llama_clear_adapter_lora(c.c)
	c.loraChanged = true
}

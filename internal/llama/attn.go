package llama

/*
#include "attn.h"
*/
import "C"

import "os"

// attentionKernel is the CPU kernel of paw's flash-attention backend chosen
// for this CPU ("avx512", "avx2"), or "" when none was registered. Set by Init.
var attentionKernel string

// registerAttention adds paw's flash-attention backend (attn.c) to ggml's
// registry before any context exists, unless PAW_ATTN_KERNEL=ggml asks for
// ggml-cpu's own kernel. It computes the attention of prompts (8 tokens or
// more) in contexts with FlashAttn; everything else stays with ggml-cpu.
func registerAttention() {
	if os.Getenv("PAW_ATTN_KERNEL") == "ggml" {
		return
	}
	if k := C.paw_attn_register(); k != nil {
		attentionKernel = C.GoString(k)
	}
}

// AttentionKernel reports the kernel paw's flash-attention backend uses on
// this CPU, or "ggml" when attention runs on ggml-cpu's own kernel.
func AttentionKernel() string {
	Init()
	if attentionKernel == "" || attentionOff.Load() {
		return "ggml"
	}
	return attentionKernel
}

// SetFastAttention turns paw's attention kernel on or off for contexts
// created afterwards (on by default where the CPU has AVX2 or AVX-512), so
// that one process can measure both.
func SetFastAttention(on bool) {
	Init()
	attentionOff.Store(!on)
	C.paw_attn_enable(C.bool(on))
}

// attentionCheck runs one random case of paw_attn_check (attn.h): the largest
// absolute differences of paw's kernel from ggml's FLASH_ATTN_EXT and from
// ggml's mul_mat/soft_max path; ok is false when the kernel does not take the
// shape. Only the tests call it (cgo cannot be used in _test.go files).
func attentionCheck(seed, d, nQ, nKV, nHead, nHeadKV, nSeq, mask int, scale float32, threads int) (errFA, errSoftmax float32, ok bool) {
	Init()
	var a, b C.float
	ok = bool(C.paw_attn_check(C.int(seed), C.int(d), C.int(nQ), C.int(nKV), C.int(nHead), C.int(nHeadKV), C.int(nSeq),
		C.int(mask), C.float(scale), C.int(threads), &a, &b))
	return float32(a), float32(b), ok
}

// attentionNodes counts the attention nodes paw's backend has computed (tests).
func attentionNodes() int64 { return int64(C.paw_attn_nodes()) }

// paw's CPU flash attention for prompts (paw's own code over the vendored ggml
// headers). llama.cpp ec98e2002's CPU kernel walks one query row at a time and
// accumulates V in F16; this one takes a tile of query rows (every head that
// shares a K/V head) against blocks of 64 K/V rows, with the scores as a small
// F32 matrix product, an online softmax per row and F32 accumulators, and skips
// blocks the mask hides entirely (the causal half of a prompt).
//
// It reaches llama.cpp as a ggml backend ("PAWATTN", an ACCEL device) that
// supports only GGML_OP_FLASH_ATTN_EXT on host buffers: llama.cpp puts ACCEL
// backends ahead of the CPU backend, and ggml's scheduler upgrades a node to
// the higher-priority backend when that backend supports it and uses the same
// buffer type, so the attention nodes run here on the CPU buffers in place and
// every other op stays with ggml-cpu.
#pragma once
#include <stdbool.h>
#include "ggml.h"

// paw_attn_register adds the backend to ggml's registry (once; contexts made
// afterwards use it). It returns the kernel chosen for this CPU ("avx512",
// "avx2") or NULL when the CPU has neither and nothing was registered.
const char *paw_attn_register(void);

// paw_attn_enable turns the backend's claim on attention nodes on or off for
// graphs split afterwards (off: ggml-cpu computes them, as without paw's kernel).
void paw_attn_enable(bool on);

// paw_attn_supported reports whether paw's kernel computes this node: F32 Q,
// F16 K/V with contiguous rows, an F16 mask or none, no ALiBi, softcap or sinks,
// head sizes the vector width divides, and a batch of at least
// PAW_ATTN_MIN_QUERIES queries (one-token decodes stay with ggml-cpu: a split
// per layer costs more than the kernel gains there).
bool paw_attn_supported(const struct ggml_tensor *op);
#define PAW_ATTN_MIN_QUERIES 8

// paw_attn_nodes counts the attention nodes the backend has computed.
long paw_attn_nodes(void);

// paw_attn_check builds random Q/K/V (and a mask: 0 none, 1 random with -inf
// holes, 2 causal over a cache of n_kv-n_q earlier cells), computes the
// attention with ggml's own CPU FLASH_ATTN_EXT, with ggml's unfused
// mul_mat + soft_max_ext + mul_mat path, and with paw's kernel on n_threads,
// and writes the largest absolute differences of paw's output from each.
// It returns false when paw's kernel does not take the shape.
bool paw_attn_check(int seed, int d, int n_q, int n_kv, int n_head, int n_head_kv, int n_seq, int mask,
                    float scale, int n_threads, float *err_fa, float *err_softmax);

// paw's AMX matrix kernel for Q4_0, Q8_0 and Q6_K weights (paw's own code over the
// vendored ggml headers). At the vendored pin ggml-cpu's AMX kernels take only
// matrices whose input width is a multiple of 2048, so every matmul of a model
// like Qwen3-0.6B ran on AVX-512 VNNI; this one takes any width (multiple of 32).
//
// It reaches llama.cpp as one more "extra" buffer type of ggml-cpu, put first
// in ggml-cpu's list (ahead of CPU_REPACK): the model loader stores each
// Q4_0/Q8_0 matmul weight there, repacked on upload into paw's layout (per 16
// rows x 32 columns: the quants in AMX's VNNI tile order, Q4_0 still as
// nibbles, and the 16 F16 scales), which replaces the plain copy, as
// CPU_REPACK does. Q6_K weights are requantized to Q8_0 on upload and stored
// as Q8_0 (a little lossy; see TestMatmulKernel). ggml-cpu then hands every MUL_MAT whose weight is in that
// buffer to paw's kernel on its own threads, within its own graph: no extra
// graph splits, no copies.
//
// The kernel quantizes the activations to int8 per 32-block (as Q8_0, with F32
// scales), multiplies each 16x32 by 32x16 block pair on the tiles (TDPBSSD)
// and accumulates the block products times both scales in F32 with AVX-512.
#pragma once
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

// paw_mm_register adds the buffer type to ggml-cpu's list (once; models
// loaded afterwards use it). It returns "amx" when the CPU has AMX-INT8 and
// AVX-512 and the kernel has the OS's permission to use the tiles, or NULL
// when nothing was registered.
const char *paw_mm_register(void);

// paw_mm_enable turns the claim on weights of models loaded afterwards on or
// off (off: they go to CPU_REPACK or the plain CPU buffer, as without paw's
// kernel). Weights already in paw's layout are always computed by it.
void paw_mm_enable(bool on);

// paw_mm_nodes counts the matmul nodes paw's kernel has computed.
long paw_mm_nodes(void);

// paw_mm_check multiplies random weights of ggml type `type` (Q4_0, Q8_0 or Q6_K,
// n rows of k) by m random F32 rows, with ggml's own CPU mul_mat and with
// paw's kernel on n_threads, and writes the largest absolute differences of
// paw's output from ggml's and from the exact product of the dequantized
// weights (in double), ggml's own largest difference from the exact product,
// and the largest exact output. It returns false when paw's kernel does not
// take the shape.
bool paw_mm_check(int seed, int type, int n, int k, int m, int n_threads, float *err_ggml, float *err_exact,
                  float *ggml_err_exact, float *max_out);

#ifdef __cplusplus
}
#endif

// Hidden-state capture for the PAW compiler encoder (paw's own code).
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "llama.h"

// paw_capture is the state of one capture: the layers whose residual stream
// (the graph's "l_out-<layer>" tensors) is copied, the last n_last rows of
// each, into out (n_layers blocks of n_last x n_embd floats, in the order of
// layers). got[i] is set when layer i was copied; err is set on a tensor of
// an unexpected shape or type.
typedef struct {
	int32_t n_layers;
	const int32_t *layers;
	int32_t n_embd, n_last;
	float *out;
	int32_t *got;
	int32_t err;
} paw_capture;

// paw_capture_cb is a ggml_backend_sched_eval_callback: it asks for the wanted
// l_out tensors and copies their last rows when they are computed.
bool paw_capture_cb(struct ggml_tensor *t, bool ask, void *user_data);

// C helpers for the Go binding (paw's own code; llama.h comes from the ollama module).
#pragma once
#include <stdbool.h>
#include "llama.h"

void paw_log_install(int min_level);
// paw_abort_cb reads an int flag owned by the context; nonzero aborts the decode.
bool paw_abort_cb(void *flag);

// paw_sample picks a token from logits with chain (greedy or temperature),
// checking only that token against grammar (which may be NULL) and applying
// the grammar to the whole vocabulary only when the token is rejected, as
// llama.cpp's common sampler does: most tokens pass, and the full grammar pass
// over 150k candidates costs ~15 ms. buf has room for n_vocab entries.
llama_token paw_sample(struct llama_sampler *chain, struct llama_sampler *grammar,
                       const float *logits, int32_t n_vocab, llama_token_data *buf);

// paw_argmax is greedy decoding without building a candidate array: the index
// of the first largest logit.
llama_token paw_argmax(const float *x, int32_t n);
// paw_logsumexp is log(sum(exp(x))), computed stably and vectorized: the
// normaliser of a logits row, for token log-probabilities (~20x faster than a
// scalar math.Exp loop over a 150k vocabulary).
double paw_logsumexp(const float *x, int32_t n);

// paw_int8_peak runs n rounds of 12 independent 512-bit int8 dot-product
// instructions (64 multiply-adds each) and returns the multiply-adds done: the
// CPU's int8 peak, which bounds any quantized matrix kernel. 0 without
// AVX-512 VNNI.
long long paw_int8_peak(long long n);

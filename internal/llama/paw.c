#include "paw.h"

extern void pawLog(int level, char *text);

static int paw_log_min = GGML_LOG_LEVEL_WARN;
static int paw_log_last = GGML_LOG_LEVEL_INFO;

static void paw_log_cb(enum ggml_log_level level, const char *text, void *ud) {
	(void)ud;
	if (level == GGML_LOG_LEVEL_CONT) {
		level = paw_log_last;
	} else {
		paw_log_last = level;
	}
	if ((int)level >= paw_log_min) {
		pawLog((int)level, (char *)text);
	}
}

void paw_log_install(int min_level) {
	paw_log_min = min_level;
	llama_log_set(paw_log_cb, NULL);
}

bool paw_abort_cb(void *flag) {
	return __atomic_load_n((int *)flag, __ATOMIC_RELAXED) != 0;
}

#include <math.h>

static llama_token paw_pick(struct llama_sampler *chain, struct llama_sampler *grammar,
                            const float *logits, int32_t n_vocab, llama_token_data *buf) {
	for (int32_t i = 0; i < n_vocab; i++) {
		buf[i].id = i;
		buf[i].logit = logits[i];
		buf[i].p = 0.0f;
	}
	llama_token_data_array arr = {buf, (size_t)n_vocab, -1, false};
	if (grammar) {
		llama_sampler_apply(grammar, &arr);
	}
	llama_sampler_apply(chain, &arr);
	if (arr.selected < 0 || (size_t)arr.selected >= arr.size) {
		return LLAMA_TOKEN_NULL;
	}
	// Every candidate masked: accepting one would make llama.cpp throw.
	if (grammar && isinf(arr.data[arr.selected].logit) && arr.data[arr.selected].logit < 0) {
		return LLAMA_TOKEN_NULL;
	}
	return arr.data[arr.selected].id;
}

llama_token paw_sample(struct llama_sampler *chain, struct llama_sampler *grammar,
                       const float *logits, int32_t n_vocab, llama_token_data *buf) {
	llama_token t = paw_pick(chain, NULL, logits, n_vocab, buf);
	if (grammar && t != LLAMA_TOKEN_NULL) {
		llama_token_data one = {t, 1.0f, 0.0f};
		llama_token_data_array single = {&one, 1, -1, false};
		llama_sampler_apply(grammar, &single);
		if (isinf(single.data[0].logit) && single.data[0].logit < 0) {
			t = paw_pick(chain, grammar, logits, n_vocab, buf);
		}
	}
	if (t == LLAMA_TOKEN_NULL) {
		return t;
	}
	if (grammar) {
		llama_sampler_accept(grammar, t);
	}
	llama_sampler_accept(chain, t);
	return t;
}

#include "paw.h"

#include <math.h>
#include <string.h>

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

// GCC/Clang vector extensions: the compiler lowers them to the widest SIMD the
// build targets (AVX-512 with -march=native here), with no intrinsics and no
// reliance on the auto-vectorizer, which gives up on these loops.
typedef float pawv __attribute__((vector_size(64)));
typedef int32_t pawvi __attribute__((vector_size(64)));
#define PAWV_N 16

static inline pawv pawv_load(const float *p) {
	pawv v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline pawv pawv_max(pawv a, pawv b) {
	pawvi gt = a > b;
	return (pawv)(((pawvi)a & gt) | ((pawvi)b & ~gt));
}

// pawv_exp is exp(x) for x <= 0: x = n*ln2 + r, |r| <= ln2/2, exp(r) by its
// Taylor polynomial (relative error < 2e-7), 2^n built in the exponent bits;
// below -87 (where exp underflows float) it returns exp(-87) ~ 1.6e-38.
static inline pawv pawv_exp(pawv x) {
	x = pawv_max(x, (pawv){0} - 87.0f);
	// Round to nearest by the 1.5*2^23 trick (|x*log2e| < 2^22 here).
	pawv n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
	pawv r = x - n * 0.693145751953125f - n * 1.428606765330187e-6f;
	pawv p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
	pawvi e = (__builtin_convertvector(n, pawvi) + 127) << 23;
	return p * (pawv)e;
}

static inline float paw_hsum(pawv v) {
	float s = 0;
	for (int j = 0; j < PAWV_N; j++) {
		s += v[j];
	}
	return s;
}

static float paw_max(const float *x, int32_t n) {
	float m = x[0];
	int32_t i = 0;
	if (n >= PAWV_N) {
		pawv mv = pawv_load(x);
		for (i = PAWV_N; i + PAWV_N <= n; i += PAWV_N) {
			mv = pawv_max(pawv_load(x + i), mv);
		}
		for (int j = 0; j < PAWV_N; j++) {
			m = mv[j] > m ? mv[j] : m;
		}
	}
	for (; i < n; i++) {
		m = x[i] > m ? x[i] : m;
	}
	return m;
}

llama_token paw_argmax(const float *x, int32_t n) {
	if (n <= 0) {
		return LLAMA_TOKEN_NULL;
	}
	// The first maximum, as llama.cpp's greedy sampler picks it.
	float m = paw_max(x, n);
	for (int32_t i = 0; i < n; i++) {
		if (x[i] == m) {
			return i;
		}
	}
	return 0; // NaN logits: llama.cpp's greedy keeps index 0 too
}

double paw_logsumexp(const float *x, int32_t n) {
	if (n <= 0) {
		return -INFINITY;
	}
	float m = paw_max(x, n);
	if (isinf(m)) {
		return m;
	}
	// Float vector sums moved into a double every 1024 elements, so that
	// rounding error stays ~1e-6 over a 150k vocabulary.
	double s = 0;
	int32_t i = 0;
	while (i + PAWV_N <= n) {
		pawv acc = {0};
		int32_t end = i + 1024 <= n ? i + 1024 : n;
		for (; i + PAWV_N <= end; i += PAWV_N) {
			acc += pawv_exp(pawv_load(x + i) - m);
		}
		s += paw_hsum(acc);
	}
	for (; i < n; i++) {
		pawv one = {0};
		one[0] = x[i] - m;
		s += pawv_exp(one)[0];
	}
	return (double)m + log(s);
}

#if defined(__AVX512VNNI__)
#include <immintrin.h>
long long paw_int8_peak(long long n) {
	__m512i acc[12];
	__m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
	for (int j = 0; j < 12; j++) {
		acc[j] = _mm512_setzero_si512();
	}
	for (long long i = 0; i < n; i++) {
		for (int j = 0; j < 12; j++) {
			acc[j] = _mm512_dpbusd_epi32(acc[j], x, y);
		}
		__asm__ volatile("" : "+v"(x)); // keep the loop from being folded
	}
	int sink = 0;
	for (int j = 0; j < 12; j++) {
		sink += _mm512_reduce_add_epi32(acc[j]);
	}
	__asm__ volatile("" : : "r"(sink));
	return n * 12 * 64;
}
#else
long long paw_int8_peak(long long n) {
	(void)n;
	return 0;
}
#endif

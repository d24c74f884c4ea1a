// paw's CPU flash-attention backend; see attn.h.
#include "attn.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

#include "ggml-backend-impl.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

// K/V rows per block: a block's K (transposed) and V as floats take 64 KiB at
// head size 128, in L2 beside the tile's queries and outputs.
#define PAW_KB 64
// Query rows per tile (queries x heads of one K/V head): enough rows to reuse
// each converted K/V block, few enough tiles per head for both threads.
#define PAW_TILE_ROWS 32

struct paw_attn_args {
	const struct ggml_tensor *q, *k, *v, *mask, *dst;
	int64_t dk, dv, n_q, n_kv, n_head, n_head_kv, group, n_seq, rk3, qt, n_tiles;
	float scale;
	int next; // the next task, taken atomically by the threads
};

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c")
#define PAW_VW 16
#define PAW_SFX(name) paw_attn512_##name
#define PAW_CVT(dst, src) _mm512_storeu_ps((dst), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src))))
#include "attn_kernel.h"
#undef PAW_VW
#undef PAW_SFX
#undef PAW_CVT
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define PAW_VW 8
#define PAW_SFX(name) paw_attn256_##name
#define PAW_CVT(dst, src) _mm256_storeu_ps((dst), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src))))
#include "attn_kernel.h"
#undef PAW_VW
#undef PAW_SFX
#undef PAW_CVT
#pragma GCC pop_options

typedef void (*paw_tile_fn)(const struct paw_attn_args *a, int64_t task, float *ws);

static paw_tile_fn paw_tile;   // the kernel for this CPU, NULL when none
static int paw_vw;             // its vector width in floats
static const char *paw_kernel; // its name
static int paw_enabled = 1;
static long paw_nodes; // attention nodes computed here, for the tests

static void paw_attn_pick(void) {
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
		paw_tile = paw_attn512_tile;
		paw_vw = 16;
		paw_kernel = "avx512";
	} else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		paw_tile = paw_attn256_tile;
		paw_vw = 8;
		paw_kernel = "avx2";
	}
}

void paw_attn_enable(bool on) { __atomic_store_n(&paw_enabled, on ? 1 : 0, __ATOMIC_RELAXED); }

static bool paw_rows_contiguous(const struct ggml_tensor *t, enum ggml_type type) {
	return t->type == type && t->nb[0] == ggml_type_size(type);
}

// paw_attn_fits reports whether the kernel computes this node at all.
static bool paw_attn_fits(const struct ggml_tensor *op) {
	if (!paw_tile || op->op != GGML_OP_FLASH_ATTN_EXT) {
		return false;
	}
	const struct ggml_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *mask = op->src[3];
	float max_bias, softcap;
	memcpy(&max_bias, (const float *)op->op_params + 1, sizeof max_bias);
	memcpy(&softcap, (const float *)op->op_params + 2, sizeof softcap);
	if (op->src[4] || max_bias != 0 || softcap != 0 || op->type != GGML_TYPE_F32 || op->nb[0] != sizeof(float)) {
		return false;
	}
	if (!paw_rows_contiguous(q, GGML_TYPE_F32) || !paw_rows_contiguous(k, GGML_TYPE_F16) ||
	    !paw_rows_contiguous(v, GGML_TYPE_F16) || (mask && !paw_rows_contiguous(mask, GGML_TYPE_F16))) {
		return false;
	}
	if (k->ne[0] != q->ne[0] || v->ne[2] != k->ne[2] || v->ne[3] != k->ne[3] ||
	    q->ne[2] % k->ne[2] != 0 || q->ne[3] % k->ne[3] != 0 || v->ne[0] % (4 * paw_vw) != 0 ||
	    q->ne[0] > 1024 || v->ne[0] > 1024) {
		return false;
	}
	return op->ne[1] == q->ne[2] && op->ne[2] == q->ne[1] && op->nb[1] == (size_t)v->ne[0] * sizeof(float) &&
	       ggml_is_contiguous(op);
}

bool paw_attn_supported(const struct ggml_tensor *op) {
	return __atomic_load_n(&paw_enabled, __ATOMIC_RELAXED) && paw_attn_fits(op) &&
	       op->src[0]->ne[1] >= PAW_ATTN_MIN_QUERIES;
}

static void paw_attn_prepare(struct paw_attn_args *a, const struct ggml_tensor *dst) {
	const struct ggml_tensor *q = dst->src[0], *k = dst->src[1];
	memset(a, 0, sizeof *a);
	a->q = q;
	a->k = k;
	a->v = dst->src[2];
	a->mask = dst->src[3];
	a->dst = dst;
	a->dk = q->ne[0];
	a->dv = a->v->ne[0];
	a->n_q = q->ne[1];
	a->n_head = q->ne[2];
	a->n_seq = q->ne[3];
	a->n_kv = k->ne[1];
	a->n_head_kv = k->ne[2];
	a->group = a->n_head / a->n_head_kv;
	a->rk3 = a->n_seq / k->ne[3];
	a->qt = a->group >= PAW_TILE_ROWS ? 1 : PAW_TILE_ROWS / a->group;
	a->n_tiles = (a->n_q + a->qt - 1) / a->qt;
	memcpy(&a->scale, (const float *)dst->op_params, sizeof a->scale);
}

// paw_attn_ws is the floats of one thread's workspace (see the tile kernel).
static size_t paw_attn_ws(const struct paw_attn_args *a) {
	const size_t rp = (size_t)((a->qt * a->group + 3) & ~3);
	return rp * (a->dk + a->dv + PAW_KB + 2) + a->dk * PAW_KB + PAW_KB * a->dv + a->dk;
}

// paw_attn_op is the ggml custom op each ggml thread runs: tasks taken from a
// shared counter, so a thread slowed by the shared machine takes fewer.
static void paw_attn_op(struct ggml_tensor *t, int ith, int nth, void *ud) {
	(void)t, (void)ith, (void)nth;
	struct paw_attn_args *a = ud;
	float *ws = aligned_alloc(64, (paw_attn_ws(a) * sizeof(float) + 63) & ~(size_t)63);
	if (!ws) {
		abort(); // as ggml does when its own allocations fail
	}
	const int n = (int)(a->n_seq * a->n_head_kv * a->n_tiles);
	for (int task; (task = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED)) < n;) {
		paw_tile(a, task, ws);
	}
	free(ws);
}

// paw_attn_run computes one attention node on n_threads ggml threads, through
// a one-node graph of a custom op (ggml-cpu's thread pool, as the CPU backend).
static enum ggml_status paw_attn_run(struct ggml_tensor *node, int n_threads) {
	struct paw_attn_args a;
	paw_attn_prepare(&a, node);
	struct ggml_init_params ip = {ggml_tensor_overhead() * 2 + ggml_graph_overhead_custom(2, false), NULL, true};
	struct ggml_context *ctx = ggml_init(ip);
	if (!ctx) {
		return GGML_STATUS_ALLOC_FAILED;
	}
	struct ggml_tensor *t = ggml_custom_4d(ctx, GGML_TYPE_F32, 1, 1, 1, 1, NULL, 0, paw_attn_op, GGML_N_TASKS_MAX, &a);
	struct ggml_cgraph *g = ggml_new_graph_custom(ctx, 2, false);
	ggml_build_forward_expand(g, t);
	struct ggml_cplan cp = ggml_graph_plan(g, n_threads, NULL);
	void *work = NULL;
	if (cp.work_size > 0) {
		work = malloc(cp.work_size);
		cp.work_data = work;
	}
	enum ggml_status st = ggml_graph_compute(g, &cp);
	free(work);
	ggml_free(ctx);
	return st;
}

// The backend: one device, one stream; it computes the attention nodes the
// scheduler gives it and has nothing to do for the views around them.

struct paw_attn_backend {
	int n_threads;
};

static const char *paw_attn_name(ggml_backend_t b) {
	(void)b;
	return "PAWATTN";
}

static void paw_attn_free(ggml_backend_t b) {
	free(b->context);
	free(b);
}

static enum ggml_status paw_attn_graph_compute(ggml_backend_t b, struct ggml_cgraph *g, int batch_size) {
	(void)batch_size;
	struct paw_attn_backend *ctx = b->context;
	for (int i = 0; i < ggml_graph_n_nodes(g); i++) {
		struct ggml_tensor *n = ggml_graph_node(g, i);
		switch (n->op) {
		case GGML_OP_NONE:
		case GGML_OP_RESHAPE:
		case GGML_OP_VIEW:
		case GGML_OP_PERMUTE:
		case GGML_OP_TRANSPOSE:
			break;
		case GGML_OP_FLASH_ATTN_EXT: {
			__atomic_fetch_add(&paw_nodes, 1, __ATOMIC_RELAXED);
			enum ggml_status st = paw_attn_run(n, ctx->n_threads);
			if (st != GGML_STATUS_SUCCESS) {
				return st;
			}
			break;
		}
		default:
			return GGML_STATUS_FAILED;
		}
	}
	return GGML_STATUS_SUCCESS;
}

static void paw_attn_set_n_threads(ggml_backend_t b, int n) { ((struct paw_attn_backend *)b->context)->n_threads = n; }

static const struct ggml_backend_i paw_attn_backend_i = {
	.get_name = paw_attn_name,
	.free = paw_attn_free,
	.graph_compute = paw_attn_graph_compute,
};

static ggml_guid paw_attn_guid = {0x70, 0x61, 0x77, 0x2d, 0x61, 0x74, 0x74, 0x6e,
                                  0x2d, 0x66, 0x6c, 0x61, 0x73, 0x68, 0x00, 0x01};

static const char *paw_dev_name(ggml_backend_dev_t d) {
	(void)d;
	return "PAWATTN";
}

static const char *paw_dev_description(ggml_backend_dev_t d) {
	(void)d;
	return "paw CPU flash attention";
}

static void paw_dev_memory(ggml_backend_dev_t d, size_t *free_mem, size_t *total) {
	(void)d;
	*free_mem = 0;
	*total = 0;
}

static enum ggml_backend_dev_type paw_dev_type(ggml_backend_dev_t d) {
	(void)d;
	return GGML_BACKEND_DEVICE_TYPE_ACCEL;
}

static void paw_dev_props(ggml_backend_dev_t d, struct ggml_backend_dev_props *p) {
	memset(p, 0, sizeof *p);
	p->name = paw_dev_name(d);
	p->description = paw_dev_description(d);
	p->type = GGML_BACKEND_DEVICE_TYPE_ACCEL;
}

static ggml_backend_t paw_dev_init(ggml_backend_dev_t d, const char *params) {
	(void)params;
	struct paw_attn_backend *ctx = calloc(1, sizeof *ctx);
	ggml_backend_t b = calloc(1, sizeof *b);
	if (!ctx || !b) {
		free(ctx);
		free(b);
		return NULL;
	}
	ctx->n_threads = GGML_DEFAULT_N_THREADS;
	b->guid = &paw_attn_guid;
	b->iface = paw_attn_backend_i;
	b->device = d;
	b->context = ctx;
	return b;
}

// The CPU buffer type: attention reads the KV cache and writes its output in
// place, and llama.cpp skips an ACCEL device's buffer type when it is this one,
// so weights stay where they are.
static ggml_backend_buffer_type_t paw_dev_buft(ggml_backend_dev_t d) {
	(void)d;
	return ggml_backend_cpu_buffer_type();
}

static bool paw_dev_supports_op(ggml_backend_dev_t d, const struct ggml_tensor *op) {
	(void)d;
	return paw_attn_supported(op);
}

static bool paw_dev_supports_buft(ggml_backend_dev_t d, ggml_backend_buffer_type_t buft) {
	(void)d;
	return ggml_backend_buft_is_host(buft);
}

static const struct ggml_backend_device_i paw_dev_i = {
	.get_name = paw_dev_name,
	.get_description = paw_dev_description,
	.get_memory = paw_dev_memory,
	.get_type = paw_dev_type,
	.get_props = paw_dev_props,
	.init_backend = paw_dev_init,
	.get_buffer_type = paw_dev_buft,
	.supports_op = paw_dev_supports_op,
	.supports_buft = paw_dev_supports_buft,
};

static const char *paw_reg_name(ggml_backend_reg_t r) {
	(void)r;
	return "PAWATTN";
}

static struct ggml_backend_device paw_dev;

static size_t paw_reg_count(ggml_backend_reg_t r) {
	(void)r;
	return 1;
}

static ggml_backend_dev_t paw_reg_dev(ggml_backend_reg_t r, size_t i) {
	(void)r, (void)i;
	return &paw_dev;
}

// llama.cpp sets each backend's threads through this entry point.
static void *paw_reg_proc(ggml_backend_reg_t r, const char *name) {
	(void)r;
	return strcmp(name, "ggml_backend_set_n_threads") == 0 ? (void *)paw_attn_set_n_threads : NULL;
}

static const struct ggml_backend_reg_i paw_reg_i = {
	.get_name = paw_reg_name,
	.get_device_count = paw_reg_count,
	.get_device = paw_reg_dev,
	.get_proc_address = paw_reg_proc,
};

static struct ggml_backend_reg paw_reg = {.api_version = GGML_BACKEND_API_VERSION, .iface = paw_reg_i};

long paw_attn_nodes(void) { return __atomic_load_n(&paw_nodes, __ATOMIC_RELAXED); }

const char *paw_attn_register(void) {
	static int done;
	if (!done) {
		done = 1;
		paw_attn_pick();
		if (paw_tile) {
			paw_dev.iface = paw_dev_i;
			paw_dev.reg = &paw_reg;
			ggml_backend_register(&paw_reg);
		}
	}
	return paw_kernel;
}

// paw_attn_check: see attn.h. A self-contained random case, for the tests
// (cgo is not allowed in _test.go files).

static uint64_t paw_rng;

static float paw_rand(void) { // uniform in [-1, 1)
	paw_rng = paw_rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float)((paw_rng >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f;
}

static float paw_max_diff(const struct ggml_tensor *a, const struct ggml_tensor *b) {
	float m = 0;
	const float *x = a->data, *y = b->data;
	for (int64_t i = 0; i < ggml_nelements(a); i++) {
		float d = fabsf(x[i] - y[i]);
		m = d > m || isnan(d) ? d : m;
	}
	return m;
}

bool paw_attn_check(int seed, int d, int n_q, int n_kv, int n_head, int n_head_kv, int n_seq, int mask_kind,
                    float scale, int n_threads, float *err_fa, float *err_softmax) {
	paw_attn_register();
	paw_rng = (uint64_t)seed * 2654435761ULL + 1;
	const int64_t n_q_pad = n_q + 3; // rows past the queries, as llama.cpp may pad them
	size_t fl = (size_t)d * n_q * n_head * n_seq * 4 + (size_t)d * n_kv * n_head_kv * n_seq * 6 +
	            (size_t)n_kv * n_q_pad + (size_t)n_kv * n_q * n_head * n_seq * 3;
	struct ggml_init_params ip = {fl * sizeof(float) + 64 * ggml_tensor_overhead() + ggml_graph_overhead() + (1 << 20),
	                              NULL, false};
	struct ggml_context *ctx = ggml_init(ip);
	struct ggml_tensor *q = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, d, n_q, n_head, n_seq);
	struct ggml_tensor *k = ggml_new_tensor_4d(ctx, GGML_TYPE_F16, d, n_kv, n_head_kv, n_seq);
	struct ggml_tensor *v = ggml_new_tensor_4d(ctx, GGML_TYPE_F16, d, n_kv, n_head_kv, n_seq);
	struct ggml_tensor *mask = mask_kind ? ggml_new_tensor_2d(ctx, GGML_TYPE_F16, n_kv, n_q_pad) : NULL;
	for (int64_t i = 0; i < ggml_nelements(q); i++) {
		((float *)q->data)[i] = 2 * paw_rand();
	}
	for (int64_t i = 0; i < ggml_nelements(k); i++) {
		((ggml_fp16_t *)k->data)[i] = ggml_fp32_to_fp16(paw_rand());
		((ggml_fp16_t *)v->data)[i] = ggml_fp32_to_fp16(paw_rand());
	}
	const int n_past = n_kv - n_q;
	for (int64_t i = 0; mask && i < n_q_pad; i++) {
		for (int64_t j = 0; j < n_kv; j++) {
			float m = -INFINITY;
			if (i < n_q && mask_kind == 1) {
				float r = paw_rand();
				m = j == 0 || r > -0.4f ? r : -INFINITY; // ~30% hidden, never a whole row
			} else if (i < n_q) {
				m = j <= n_past + i ? 0.0f : -INFINITY;
			}
			((ggml_fp16_t *)mask->data)[i * n_kv + j] = ggml_fp32_to_fp16(m);
		}
	}
	struct ggml_tensor *fa = ggml_flash_attn_ext(ctx, q, k, v, mask, scale, 0, 0);
	ggml_flash_attn_ext_set_prec(fa, GGML_PREC_F32);
	struct ggml_tensor *kq = ggml_soft_max_ext(ctx, ggml_mul_mat(ctx, k, q), mask, scale, 0);
	struct ggml_tensor *vt = ggml_cont(ctx, ggml_transpose(ctx, ggml_cast(ctx, v, GGML_TYPE_F32)));
	struct ggml_tensor *sm = ggml_cont(ctx, ggml_permute(ctx, ggml_mul_mat(ctx, vt, kq), 0, 2, 1, 3));
	struct ggml_cgraph *g = ggml_new_graph(ctx);
	ggml_build_forward_expand(g, fa);
	ggml_build_forward_expand(g, sm);
	ggml_graph_compute_with_ctx(ctx, g, n_threads);
	struct ggml_tensor *mine = ggml_flash_attn_ext(ctx, q, k, v, mask, scale, 0, 0);
	bool ok = paw_attn_fits(mine);
	if (ok) {
		ok = paw_attn_run(mine, n_threads) == GGML_STATUS_SUCCESS;
		*err_fa = paw_max_diff(mine, fa);
		*err_softmax = paw_max_diff(mine, sm);
	}
	ggml_free(ctx);
	return ok;
}

#include "train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"

enum { T_Q, T_K, T_V, T_QKV, T_O, T_GATE, T_UP, T_DOWN, T_COUNT };
static const char *target_names[T_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
// The projections each architecture has: GPT-2 fuses Q, K and V and has no gate.
static const bool gpt2_has[T_COUNT] = {false, false, false, true, true, false, true, true};
static const bool llama_has[T_COUNT] = {true, true, true, false, true, true, true, true};

typedef struct {
	struct ggml_tensor *attn_norm, *q_norm, *k_norm, *ffn_norm;
	struct ggml_tensor *attn_norm_b, *ffn_norm_b; // GPT-2's layer norms
	struct ggml_tensor *w[T_COUNT], *bias[T_COUNT];
	struct ggml_tensor *a[T_COUNT], *b[T_COUNT]; // LoRA, NULL when not adapted
	struct ggml_tensor *wt[T_COUNT];               // transposed copies for the backward pass, or NULL
} layer;

typedef struct {
	char name[96];
	struct ggml_tensor *w, *acc; // the value and its gradient accumulator
	float *m, *v;                // Adam moments
} lora_tensor;

// profile accumulates the time of every op kind of a graph, as seen by the
// CPU backend's callback after each node (one thread: exact compute times).
enum { PROF_MAX = 64 };
struct profile {
	struct ggml_cgraph *g; // the graph being computed
	int node, n_fwd;       // the node that runs next; forward nodes come first
	int64_t last;          // time of the previous callback
	int n;
	struct {
		char key[48];
		int64_t us, count;
	} rows[PROF_MAX];
};

struct paw_trainer {
	paw_trainer_info info;
	int rope_mode;
	int autodiff_only; // keep ggml's own backward for every op (to check the rewrite against)
	struct profile *prof; // per-op times of the next evaluations, or NULL
	float eps, freq_base, scale;
	struct gguf_context *gguf;
	struct ggml_context *ctx_w;    // the frozen base weights, with their data
	struct ggml_context *ctx_lora; // LoRA values and gradient accumulators
	struct ggml_context *ctx_t;    // transposed copies of the frozen weights, with their data
	ggml_backend_buffer_t buf_lora;
	ggml_backend_t backend;
	ggml_gallocr_t galloc, galloc_bw; // forward-only and backward graphs
	struct ggml_tensor *tok_embd, *pos_embd, *out_norm, *out_norm_b, *output, *output_t, *loss_acc;
	struct ggml_tensor *output_pad; // the head with zero rows up to a whole Q8_0 block of tokens, or NULL
	layer *layers;
	lora_tensor *lora;
};

static void set_err(char *err, size_t n, const char *fmt, ...) {
	if (!err || n == 0) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

// kv_int reads an integer hyperparameter "<arch>.<key>"; def when absent.
static int64_t kv_int(struct gguf_context *g, const char *arch, const char *key, int64_t def) {
	char name[128];
	snprintf(name, sizeof name, "%s.%s", arch, key);
	int64_t id = gguf_find_key(g, name);
	if (id < 0) {
		return def;
	}
	switch (gguf_get_kv_type(g, id)) {
	case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
	case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
	case GGUF_TYPE_UINT64: return (int64_t)gguf_get_val_u64(g, id);
	case GGUF_TYPE_INT64: return gguf_get_val_i64(g, id);
	default: return def;
	}
}

static float kv_f32(struct gguf_context *g, const char *arch, const char *key, float def) {
	char name[128];
	snprintf(name, sizeof name, "%s.%s", arch, key);
	int64_t id = gguf_find_key(g, name);
	if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_FLOAT32) {
		return def;
	}
	return gguf_get_val_f32(g, id);
}

static struct ggml_tensor *tensor(paw_trainer *t, int il, const char *name, const char *kind) {
	char full[96];
	if (il < 0) {
		snprintf(full, sizeof full, "%s.%s", name, kind);
	} else {
		snprintf(full, sizeof full, "blk.%d.%s.%s", il, name, kind);
	}
	return ggml_get_tensor(t->ctx_w, full);
}

static struct ggml_tensor *weight(paw_trainer *t, int il, const char *name) { return tensor(t, il, name, "weight"); }

static int load_weights(paw_trainer *t, char *err, size_t err_len) {
	paw_trainer_info *in = &t->info;
	t->tok_embd = weight(t, -1, "token_embd");
	t->out_norm = weight(t, -1, "output_norm");
	t->out_norm_b = tensor(t, -1, "output_norm", "bias");
	t->pos_embd = weight(t, -1, "position_embd");
	t->output = weight(t, -1, "output");
	in->tied = t->output == NULL;
	if (in->tied) {
		t->output = t->tok_embd;
	}
	if (!t->tok_embd || !t->out_norm || (in->gpt2 && (!t->pos_embd || !t->out_norm_b))) {
		set_err(err, err_len, "missing token_embd, position_embd or output_norm");
		return -1;
	}
	in->n_vocab = (int32_t)t->tok_embd->ne[1];
	t->layers = calloc((size_t)in->n_layer, sizeof(layer));
	for (int il = 0; il < in->n_layer; il++) {
		layer *l = &t->layers[il];
		l->attn_norm = weight(t, il, "attn_norm");
		l->ffn_norm = weight(t, il, "ffn_norm");
		l->q_norm = weight(t, il, "attn_q_norm");
		l->k_norm = weight(t, il, "attn_k_norm");
		l->attn_norm_b = tensor(t, il, "attn_norm", "bias");
		l->ffn_norm_b = tensor(t, il, "ffn_norm", "bias");
		for (int k = 0; k < T_COUNT; k++) {
			if (!(in->gpt2 ? gpt2_has : llama_has)[k]) {
				continue;
			}
			l->w[k] = weight(t, il, target_names[k]);
			l->bias[k] = tensor(t, il, target_names[k], "bias");
			if (!l->w[k]) {
				set_err(err, err_len, "block %d has no %s.weight", il, target_names[k]);
				return -1;
			}
		}
		if (!l->attn_norm || !l->ffn_norm || (in->qk_norm && (!l->q_norm || !l->k_norm)) ||
		    (in->gpt2 && (!l->attn_norm_b || !l->ffn_norm_b))) {
			set_err(err, err_len, "block %d misses a norm weight", il);
			return -1;
		}
	}
	return 0;
}

// make_lora creates the zeroed LoRA tensors for targets in one CPU buffer.
static int make_lora(paw_trainer *t, const char *targets, int32_t rank, char *err, size_t err_len) {
	bool want[T_COUNT] = {false};
	int n_targets = 0;
	for (int k = 0; k < T_COUNT && targets[0] == '\0'; k++) {
		if (t->layers[0].w[k]) {
			want[k] = true;
			n_targets++;
		}
	}
	for (int k = 0; k < T_COUNT && targets[0] != '\0'; k++) {
		const char *p = targets;
		size_t len = strlen(target_names[k]);
		while ((p = strstr(p, target_names[k])) != NULL) {
			bool start = p == targets || p[-1] == ',';
			bool end = p[len] == '\0' || p[len] == ',';
			if (start && end) {
				if (!t->layers[0].w[k]) {
					set_err(err, err_len, "%s has no %s to adapt", t->info.arch, target_names[k]);
					return -1;
				}
				want[k] = true;
				n_targets++;
				break;
			}
			p += len;
		}
	}
	if (n_targets == 0) {
		set_err(err, err_len, "no known LoRA target in \"%s\"", targets);
		return -1;
	}
	int n = 2 * n_targets * t->info.n_layer;
	struct ggml_init_params ip = {ggml_tensor_overhead() * (size_t)(2 * n + 1), NULL, true};
	t->ctx_lora = ggml_init(ip);
	t->lora = calloc((size_t)n, sizeof(lora_tensor));
	int i = 0;
	for (int il = 0; il < t->info.n_layer; il++) {
		layer *l = &t->layers[il];
		for (int k = 0; k < T_COUNT; k++) {
			if (!want[k]) {
				continue;
			}
			int64_t n_in = l->w[k]->ne[0], n_out = l->w[k]->ne[1];
			for (int ab = 0; ab < 2; ab++) {
				lora_tensor *lt = &t->lora[i++];
				int64_t ne0 = ab == 0 ? n_in : rank, ne1 = ab == 0 ? rank : n_out;
				snprintf(lt->name, sizeof lt->name, "blk.%d.%s.weight.lora_%c", il, target_names[k], ab == 0 ? 'a' : 'b');
				lt->w = ggml_new_tensor_2d(t->ctx_lora, GGML_TYPE_F32, ne0, ne1);
				ggml_set_name(lt->w, lt->name);
				ggml_set_param(lt->w);
				lt->acc = ggml_new_tensor_2d(t->ctx_lora, GGML_TYPE_F32, ne0, ne1);
				lt->m = calloc((size_t)(ne0 * ne1), sizeof(float));
				lt->v = calloc((size_t)(ne0 * ne1), sizeof(float));
				if (ab == 0) {
					l->a[k] = lt->w;
				} else {
					l->b[k] = lt->w;
				}
			}
		}
	}
	t->loss_acc = ggml_new_tensor_1d(t->ctx_lora, GGML_TYPE_F32, 1);
	t->info.n_lora = n;
	t->buf_lora = ggml_backend_alloc_ctx_tensors(t->ctx_lora, t->backend);
	if (!t->buf_lora) {
		set_err(err, err_len, "cannot allocate LoRA tensors");
		return -1;
	}
	ggml_backend_buffer_clear(t->buf_lora, 0);
	return 0;
}

// transposed_type is the type of W's transposed copy: F32 and F16 stay,
// quantized weights become Q8_0 (one more rounding, far below the base's own)
// or F32 when the rows of the copy (W's columns) do not fill Q8_0 blocks
// (no such weight in the supported architectures once the head is padded).
static enum ggml_type transposed_type(const struct ggml_tensor *w) {
	if (w->type == GGML_TYPE_F32 || w->type == GGML_TYPE_F16) {
		return w->type;
	}
	return w->ne[1] % ggml_blck_size(GGML_TYPE_Q8_0) == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F32;
}

// transpose fills wt with Wᵀ, a stripe of wt's rows at a time, so that the
// float buffer stays small even for the vocabulary-sized output head.
static int transpose(const struct ggml_tensor *w, struct ggml_tensor *wt) {
	int64_t n_in = w->ne[0], n_out = w->ne[1], blk = ggml_blck_size(w->type);
	ggml_to_float_t to_float = w->type == GGML_TYPE_F32 ? NULL : ggml_get_type_traits(w->type)->to_float;
	if (w->type != GGML_TYPE_F32 && !to_float) {
		return -1;
	}
	int64_t bs = ((1 << 22) / n_out) / blk * blk;
	bs = bs < blk ? blk : bs > n_in ? n_in : bs;
	float *row = malloc((size_t)bs * sizeof(float));
	float *stripe = malloc((size_t)(bs * n_out) * sizeof(float));
	if (!row || !stripe) {
		free(row);
		free(stripe);
		return -1;
	}
	for (int64_t i0 = 0; i0 < n_in; i0 += bs) {
		int64_t nb = n_in - i0 < bs ? n_in - i0 : bs;
		for (int64_t j = 0; j < n_out; j++) {
			const char *src = (const char *)w->data + j * (int64_t)w->nb[1] + i0 / blk * (int64_t)ggml_type_size(w->type);
			if (to_float) {
				to_float(src, row, nb);
			} else {
				memcpy(row, src, (size_t)nb * sizeof(float));
			}
			for (int64_t i = 0; i < nb; i++) {
				stripe[i * n_out + j] = row[i];
			}
		}
		ggml_quantize_chunk(wt->type, stripe, (char *)wt->data + i0 * (int64_t)wt->nb[1], 0, nb, n_out, NULL);
	}
	free(row);
	free(stripe);
	return 0;
}

// make_transposed creates Wᵀ for every frozen weight whose input gradient the
// backward pass needs: every block projection except the first block's Q, K
// and V (their input is the embedding, which needs no gradient), and the head.
static int make_transposed(paw_trainer *t, char *err, size_t err_len) {
	int n_layer = t->info.n_layer;
	struct ggml_tensor **ws = calloc((size_t)(n_layer * T_COUNT + 1), sizeof *ws);
	struct ggml_tensor ***dst = calloc((size_t)(n_layer * T_COUNT + 1), sizeof *dst);
	int n = 0;
	size_t size = 0;
	for (int il = 0; il < n_layer; il++) {
		for (int k = 0; k < T_COUNT; k++) {
			bool qkv = k == T_Q || k == T_K || k == T_V || k == T_QKV;
			if (t->layers[il].w[k] && !(il == 0 && qkv)) {
				ws[n] = t->layers[il].w[k];
				dst[n++] = &t->layers[il].wt[k];
			}
		}
	}
	// A quantized head whose vocabulary does not fill Q8_0 blocks (GPT-2's
	// 50257 tokens) gets zero rows: its transposed copy can then be Q8_0,
	// where an F16 or F32 copy ran at 20 GFLOP/s (ggml's unblocked dot path).
	int64_t blk = ggml_blck_size(GGML_TYPE_Q8_0), n_vocab = t->output->ne[1];
	bool pad = ggml_is_quantized(t->output->type) && n_vocab % blk != 0;
	if (pad) {
		size += ggml_row_size(t->output->type, t->output->ne[0]) * (size_t)(n_vocab / blk + 1) * (size_t)blk + GGML_MEM_ALIGN;
	}
	ws[n] = t->output;
	dst[n++] = &t->output_t;
	for (int i = 0; i < n; i++) {
		size += ggml_row_size(transposed_type(ws[i]), ws[i]->ne[1]) * (size_t)ws[i]->ne[0] + GGML_MEM_ALIGN;
	}
	struct ggml_init_params ip = {size + ggml_tensor_overhead() * (size_t)n, NULL, false};
	t->ctx_t = ggml_init(ip);
	int rc = t->ctx_t ? 0 : -1;
	if (rc == 0 && pad) {
		t->output_pad = ggml_new_tensor_2d(t->ctx_t, t->output->type, t->output->ne[0], (n_vocab / blk + 1) * blk);
		memset(t->output_pad->data, 0, ggml_nbytes(t->output_pad));
		memcpy(t->output_pad->data, t->output->data, ggml_nbytes(t->output));
		ws[n - 1] = t->output_pad;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		struct ggml_tensor *wt = ggml_new_tensor_2d(t->ctx_t, transposed_type(ws[i]), ws[i]->ne[1], ws[i]->ne[0]);
		rc = transpose(ws[i], wt);
		*dst[i] = wt;
	}
	if (rc != 0) {
		set_err(err, err_len, "cannot transpose the frozen weights");
	}
	free(ws);
	free(dst);
	return rc;
}

paw_trainer *paw_trainer_new(const char *path, const char *targets, int32_t rank, float alpha,
                             int32_t n_threads, char *err, size_t err_len) {
	if (rank <= 0) {
		set_err(err, err_len, "rank %d must be positive", rank);
		return NULL;
	}
	paw_trainer *t = calloc(1, sizeof *t);
	struct gguf_init_params gp = {false, &t->ctx_w};
	t->gguf = gguf_init_from_file(path, gp);
	if (!t->gguf) {
		set_err(err, err_len, "cannot read GGUF %s", path);
		free(t);
		return NULL;
	}
	paw_trainer_info *in = &t->info;
	int64_t id = gguf_find_key(t->gguf, "general.architecture");
	if (id < 0 || gguf_get_kv_type(t->gguf, id) != GGUF_TYPE_STRING) {
		set_err(err, err_len, "%s has no general.architecture", path);
		paw_trainer_free(t);
		return NULL;
	}
	snprintf(in->arch, sizeof in->arch, "%s", gguf_get_val_str(t->gguf, id));
	if (strcmp(in->arch, "llama") == 0) {
		t->rope_mode = GGML_ROPE_TYPE_NORMAL;
	} else if (strcmp(in->arch, "qwen3") == 0) {
		t->rope_mode = GGML_ROPE_TYPE_NEOX;
		in->qk_norm = 1;
	} else if (strcmp(in->arch, "gpt2") == 0) {
		in->gpt2 = 1;
	} else {
		set_err(err, err_len, "architecture %s is not trainable (want llama, qwen3 or gpt2)", in->arch);
		paw_trainer_free(t);
		return NULL;
	}
	const char *a = in->arch;
	in->n_layer = (int32_t)kv_int(t->gguf, a, "block_count", 0);
	in->n_embd = (int32_t)kv_int(t->gguf, a, "embedding_length", 0);
	in->n_head = (int32_t)kv_int(t->gguf, a, "attention.head_count", 0);
	in->n_head_kv = (int32_t)kv_int(t->gguf, a, "attention.head_count_kv", in->n_head);
	in->n_ff = (int32_t)kv_int(t->gguf, a, "feed_forward_length", 0);
	in->head_dim = in->n_head > 0 ? (int32_t)kv_int(t->gguf, a, "attention.key_length", in->n_embd / in->n_head) : 0;
	in->n_rot = (int32_t)kv_int(t->gguf, a, "rope.dimension_count", in->head_dim);
	t->eps = kv_f32(t->gguf, a, in->gpt2 ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon", 1e-5f);
	t->freq_base = kv_f32(t->gguf, a, "rope.freq_base", 10000.0f);
	t->scale = alpha != 0 ? alpha / (float)rank : 1.0f;
	if (in->n_layer <= 0 || in->n_embd <= 0 || in->n_head <= 0 || in->n_head_kv <= 0 || in->head_dim <= 0 ||
	    in->n_head % in->n_head_kv != 0) {
		set_err(err, err_len, "bad hyperparameters in %s", path);
		paw_trainer_free(t);
		return NULL;
	}
	t->backend = ggml_backend_cpu_init();
	ggml_backend_cpu_set_n_threads(t->backend, n_threads > 0 ? n_threads : 1);
	t->galloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(t->backend));
	t->galloc_bw = ggml_gallocr_new(ggml_backend_get_default_buffer_type(t->backend));
	if (load_weights(t, err, err_len) != 0 || make_lora(t, targets, rank, err, err_len) != 0 ||
	    make_transposed(t, err, err_len) != 0) {
		paw_trainer_free(t);
		return NULL;
	}
	return t;
}

void paw_trainer_free(paw_trainer *t) {
	if (!t) {
		return;
	}
	for (int i = 0; t->lora && i < t->info.n_lora; i++) {
		free(t->lora[i].m);
		free(t->lora[i].v);
	}
	free(t->lora);
	free(t->layers);
	free(t->prof);
	if (t->galloc) {
		ggml_gallocr_free(t->galloc);
	}
	if (t->galloc_bw) {
		ggml_gallocr_free(t->galloc_bw);
	}
	if (t->ctx_t) {
		ggml_free(t->ctx_t);
	}
	if (t->buf_lora) {
		ggml_backend_buffer_free(t->buf_lora);
	}
	if (t->ctx_lora) {
		ggml_free(t->ctx_lora);
	}
	if (t->backend) {
		ggml_backend_free(t->backend);
	}
	if (t->ctx_w) {
		ggml_free(t->ctx_w);
	}
	if (t->gguf) {
		gguf_free(t->gguf);
	}
	free(t);
}

void paw_trainer_get_info(const paw_trainer *t, paw_trainer_info *info) { *info = t->info; }

int paw_trainer_lora(paw_trainer *t, int32_t i, const char **name, int64_t *ne0, int64_t *ne1,
                     float **data, float **grad) {
	if (i < 0 || i >= t->info.n_lora) {
		return -1;
	}
	lora_tensor *lt = &t->lora[i];
	*name = lt->name;
	*ne0 = lt->w->ne[0];
	*ne1 = lt->w->ne[1];
	*data = (float *)lt->w->data;
	*grad = (float *)lt->acc->data;
	return 0;
}

// linear is W x plus the LoRA term scale·B(A x) when the projection is adapted.
static struct ggml_tensor *linear(paw_trainer *t, struct ggml_context *ctx, const layer *l, int k,
                                  struct ggml_tensor *x) {
	struct ggml_tensor *y = ggml_mul_mat(ctx, l->w[k], x);
	if (l->a[k]) {
		struct ggml_tensor *ab = ggml_mul_mat(ctx, l->b[k], ggml_mul_mat(ctx, l->a[k], x));
		y = ggml_add(ctx, y, ggml_scale(ctx, ab, t->scale));
	}
	if (l->bias[k]) {
		y = ggml_add(ctx, y, l->bias[k]);
	}
	return y;
}

static struct ggml_tensor *norm(paw_trainer *t, struct ggml_context *ctx, struct ggml_tensor *x,
                                struct ggml_tensor *w) {
	return ggml_mul(ctx, ggml_rms_norm(ctx, x, t->eps), w);
}

// layer_norm is GPT-2's norm built from ops ggml can differentiate
// (ggml_norm has no backward): the RMS norm of the centred input.
static struct ggml_tensor *layer_norm(paw_trainer *t, struct ggml_context *ctx, struct ggml_tensor *x,
                                      struct ggml_tensor *w, struct ggml_tensor *b) {
	// ggml_mean's backward assumes one row, so the row mean is a scaled sum.
	struct ggml_tensor *mean = ggml_scale(ctx, ggml_sum_rows(ctx, x), 1.0f / (float)x->ne[0]);
	struct ggml_tensor *c = ggml_sub(ctx, x, ggml_repeat(ctx, mean, x));
	return ggml_add(ctx, norm(t, ctx, c, w), b);
}

// gelu is GELU's tanh form as x·σ(2z), z = √(2/π)(x + 0.044715x³), from
// ops ggml can differentiate (its GELU op has no backward).
static struct ggml_tensor *gelu(struct ggml_context *ctx, struct ggml_tensor *x) {
	const float k = 0.7978845608f;
	struct ggml_tensor *u = ggml_add(ctx, x, ggml_scale(ctx, ggml_mul(ctx, ggml_sqr(ctx, x), x), 0.044715f));
	struct ggml_tensor *den = ggml_scale_bias(ctx, ggml_exp(ctx, ggml_scale(ctx, u, -2 * k)), 1, 1);
	return ggml_div(ctx, x, den);
}

// attention is causal softmax attention over packed sequences (mask), with
// the KV heads broadcast over groups of query heads (GQA) by ggml_mul_mat.
static struct ggml_tensor *attention(paw_trainer *t, struct ggml_context *ctx, const layer *l,
                                     struct ggml_tensor *x, struct ggml_tensor *pos, struct ggml_tensor *mask) {
	const paw_trainer_info *in = &t->info;
	int64_t n = x->ne[1], hd = in->head_dim;
	struct ggml_tensor *q, *k, *v;
	if (in->gpt2) {
		struct ggml_tensor *qkv = linear(t, ctx, l, T_QKV, x);
		// Each part is copied out and reshaped, so that its gradient reaches
		// the fused output contiguous (ggml's CONT and VIEW backward need it).
		int64_t nq = hd * in->n_head, nkv = hd * in->n_head_kv;
		q = ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_view_2d(ctx, qkv, nq, n, qkv->nb[1], 0)), hd, in->n_head, n);
		k = ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_view_2d(ctx, qkv, nkv, n, qkv->nb[1], sizeof(float) * (size_t)nq)), hd,
		                    in->n_head_kv, n);
		v = ggml_reshape_3d(ctx, ggml_cont(ctx, ggml_view_2d(ctx, qkv, nkv, n, qkv->nb[1], sizeof(float) * (size_t)(nq + nkv))),
		                    hd, in->n_head_kv, n);
	} else {
		q = ggml_reshape_3d(ctx, linear(t, ctx, l, T_Q, x), hd, in->n_head, n);
		k = ggml_reshape_3d(ctx, linear(t, ctx, l, T_K, x), hd, in->n_head_kv, n);
		v = ggml_reshape_3d(ctx, linear(t, ctx, l, T_V, x), hd, in->n_head_kv, n);
		if (in->qk_norm) {
			q = norm(t, ctx, q, l->q_norm);
			k = norm(t, ctx, k, l->k_norm);
		}
		q = ggml_rope_ext(ctx, q, pos, NULL, in->n_rot, t->rope_mode, 0, t->freq_base, 1, 0, 1, 0, 0);
		k = ggml_rope_ext(ctx, k, pos, NULL, in->n_rot, t->rope_mode, 0, t->freq_base, 1, 0, 1, 0, 0);
	}
	q = ggml_cont(ctx, ggml_permute(ctx, q, 0, 2, 1, 3));                    // [hd, n, heads]
	k = ggml_cont(ctx, ggml_permute(ctx, k, 0, 2, 1, 3));                    // [hd, n, kv heads]
	struct ggml_tensor *vt = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3)); // [n, hd, kv heads]
	struct ggml_tensor *kq = ggml_mul_mat(ctx, k, q);                          // [n keys, n queries, heads]
	kq = ggml_soft_max_ext(ctx, kq, mask, 1.0f / sqrtf((float)hd), 0.0f);
	struct ggml_tensor *o = ggml_mul_mat(ctx, vt, kq); // [hd, n, heads]
	o = ggml_cont(ctx, ggml_permute(ctx, o, 0, 2, 1, 3));
	o = ggml_reshape_2d(ctx, o, hd * in->n_head, n);
	return linear(t, ctx, l, T_O, o);
}

static struct ggml_tensor *ffn(paw_trainer *t, struct ggml_context *ctx, const layer *l, struct ggml_tensor *x) {
	if (t->info.gpt2) {
		return linear(t, ctx, l, T_DOWN, gelu(ctx, linear(t, ctx, l, T_UP, x)));
	}
	struct ggml_tensor *g = ggml_silu(ctx, linear(t, ctx, l, T_GATE, x));
	return linear(t, ctx, l, T_DOWN, ggml_mul(ctx, g, linear(t, ctx, l, T_UP, x)));
}

// inputs of one evaluation graph.
typedef struct {
	struct ggml_tensor *tokens, *pos, *mask, *rows, *labels;
} graph_inputs;

// build returns the loss; the logits of the selected rows are in *logits.
static struct ggml_tensor *build(paw_trainer *t, struct ggml_context *ctx, graph_inputs *gi, int32_t n,
                                 int32_t n_rows, struct ggml_tensor **logits) {
	gi->tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
	gi->pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
	gi->mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n, n);
	gi->rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_rows);
	gi->labels = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, t->info.n_vocab, n_rows);
	struct ggml_tensor *ins[] = {gi->tokens, gi->pos, gi->mask, gi->rows, gi->labels};
	for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
		ggml_set_input(ins[i]);
	}
	bool gpt2 = t->info.gpt2;
	struct ggml_tensor *x = ggml_get_rows(ctx, t->tok_embd, gi->tokens);
	if (gpt2) {
		x = ggml_add(ctx, x, ggml_get_rows(ctx, t->pos_embd, gi->pos));
	}
	for (int il = 0; il < t->info.n_layer; il++) {
		const layer *l = &t->layers[il];
		struct ggml_tensor *h = gpt2 ? layer_norm(t, ctx, x, l->attn_norm, l->attn_norm_b) : norm(t, ctx, x, l->attn_norm);
		x = ggml_add(ctx, x, attention(t, ctx, l, h, gi->pos, gi->mask));
		h = gpt2 ? layer_norm(t, ctx, x, l->ffn_norm, l->ffn_norm_b) : norm(t, ctx, x, l->ffn_norm);
		x = ggml_add(ctx, x, ffn(t, ctx, l, h));
	}
	x = gpt2 ? layer_norm(t, ctx, x, t->out_norm, t->out_norm_b) : norm(t, ctx, x, t->out_norm);
	x = ggml_get_rows(ctx, x, gi->rows);
	if (t->output_pad) {
		struct ggml_tensor *padded = ggml_mul_mat(ctx, t->output_pad, x);
		*logits = ggml_cont(ctx, ggml_view_2d(ctx, padded, t->info.n_vocab, n_rows, padded->nb[1], 0));
	} else {
		*logits = ggml_mul_mat(ctx, t->output, x);
	}
	ggml_set_output(*logits);
	struct ggml_tensor *loss = ggml_cross_entropy_loss(ctx, *logits, gi->labels);
	ggml_set_loss(loss);
	ggml_set_output(loss);
	return loss;
}

// set_inputs fills the graph inputs from the packed batch.
static void set_inputs(paw_trainer *t, const graph_inputs *gi, const int32_t *tokens, const int32_t *pos,
                       const int32_t *seq, const int32_t *targets, int32_t n, int32_t n_rows) {
	ggml_backend_tensor_set(gi->tokens, tokens, 0, (size_t)n * sizeof(int32_t));
	ggml_backend_tensor_set(gi->pos, pos, 0, (size_t)n * sizeof(int32_t));
	float *mask = malloc((size_t)n * (size_t)n * sizeof(float));
	for (int32_t q = 0; q < n; q++) {
		for (int32_t k = 0; k < n; k++) {
			mask[(size_t)q * (size_t)n + (size_t)k] = seq[k] == seq[q] && pos[k] <= pos[q] ? 0.0f : -INFINITY;
		}
	}
	ggml_backend_tensor_set(gi->mask, mask, 0, (size_t)n * (size_t)n * sizeof(float));
	free(mask);
	int32_t *rows = malloc((size_t)n_rows * sizeof(int32_t));
	size_t nv = (size_t)t->info.n_vocab;
	float *labels = calloc((size_t)n_rows * nv, sizeof(float));
	for (int32_t i = 0, r = 0; i < n; i++) {
		if (targets[i] >= 0) {
			rows[r] = i;
			labels[(size_t)r * nv + (size_t)targets[i]] = 1.0f;
			r++;
		}
	}
	ggml_backend_tensor_set(gi->rows, rows, 0, (size_t)n_rows * sizeof(int32_t));
	ggml_backend_tensor_set(gi->labels, labels, 0, (size_t)n_rows * nv * sizeof(float));
	free(rows);
	free(labels);
}

// transposed_of is the transposed copy of frozen weight w, or NULL.
static struct ggml_tensor *transposed_of(const paw_trainer *t, const struct ggml_tensor *w) {
	if (w == t->output || (w == t->output_pad && w)) {
		return t->output_t;
	}
	for (int il = 0; il < t->info.n_layer; il++) {
		for (int k = 0; k < T_COUNT; k++) {
			if (t->layers[il].w[k] == w) {
				return t->layers[il].wt[k];
			}
		}
	}
	return NULL;
}

// use_transposed rewrites the input gradients through frozen weights. ggml's
// autodiff computes dx of y = W x as out_prod(W, dyᵀ), which dequantizes W
// row by row and ran 6x slower than mul_mat; with the transposed copy the same
// product is mul_mat(Wᵀ, dy), so those nodes become mul_mats in place.
static void use_transposed(const paw_trainer *t, struct ggml_cgraph *g) {
	for (int i = 0; i < ggml_graph_n_nodes(g); i++) {
		struct ggml_tensor *node = ggml_graph_node(g, i);
		if (node->op != GGML_OP_OUT_PROD || node->src[1]->op != GGML_OP_TRANSPOSE) {
			continue;
		}
		struct ggml_tensor *wt = transposed_of(t, node->src[0]), *dy = node->src[1]->src[0];
		if (!wt || !ggml_is_contiguous(dy) || wt->ne[0] != dy->ne[0] || wt->ne[1] != node->ne[0] ||
		    dy->ne[1] != node->ne[1] || dy->ne[2] != 1 || dy->ne[3] != 1) {
			continue;
		}
		node->op = GGML_OP_MUL_MAT;
		node->src[0] = wt;
		node->src[1] = dy;
	}
}

// protect_inplace keeps ggml's graph allocator from computing two backward
// ops in place of the one input they must not overwrite: the CPU kernels of
// RMS_NORM_BACK (dx := x, then dx += dz) and SOFT_MAX_BACK (dx := dy, then
// dx *= y) read that input after writing dx, so sharing its memory gave
// gradients off by 100%+. An output is never shared, so marking the input as
// one lets the allocator reuse memory everywhere else.
static void protect_inplace(struct ggml_cgraph *g) {
	for (int i = 0; i < ggml_graph_n_nodes(g); i++) {
		struct ggml_tensor *node = ggml_graph_node(g, i);
		if (node->op == GGML_OP_RMS_NORM_BACK) {
			ggml_set_output(node->src[0]);
		} else if (node->op == GGML_OP_SOFT_MAX_BACK) {
			ggml_set_output(node->src[1]);
		}
	}
}

static bool is_empty_op(enum ggml_op op) {
	return op == GGML_OP_NONE || op == GGML_OP_RESHAPE || op == GGML_OP_VIEW || op == GGML_OP_PERMUTE ||
	       op == GGML_OP_TRANSPOSE;
}

// profile_node is the CPU backend's abort callback: it runs after every
// non-empty node and charges the time since the previous one to that node's
// op, split by the type of its first input and by forward or backward.
static bool profile_node(void *data) {
	struct profile *p = data;
	int n = ggml_graph_n_nodes(p->g);
	while (p->node < n && is_empty_op(ggml_graph_node(p->g, p->node)->op)) {
		p->node++;
	}
	if (p->node >= n) {
		return false;
	}
	struct ggml_tensor *node = ggml_graph_node(p->g, p->node);
	char key[48];
	snprintf(key, sizeof key, "%s %s %s", p->node < p->n_fwd ? "fwd" : "bwd", ggml_op_desc(node),
	         node->src[0] ? ggml_type_name(node->src[0]->type) : "");
	int64_t now = ggml_time_us();
	int i = 0;
	while (i < p->n && strcmp(p->rows[i].key, key) != 0) {
		i++;
	}
	if (i == p->n && p->n < PROF_MAX) {
		snprintf(p->rows[p->n++].key, sizeof key, "%s", key);
	}
	if (i < p->n) {
		p->rows[i].us += now - p->last;
		p->rows[i].count++;
	}
	p->last = now;
	p->node++;
	return false;
}

void paw_trainer_profile(paw_trainer *t, int on) {
	free(t->prof);
	t->prof = on ? calloc(1, sizeof *t->prof) : NULL;
	ggml_backend_cpu_set_abort_callback(t->backend, on ? profile_node : NULL, t->prof);
}

int paw_trainer_profile_row(const paw_trainer *t, int32_t i, const char **key, int64_t *us, int64_t *count) {
	if (!t->prof || i < 0 || i >= t->prof->n) {
		return -1;
	}
	*key = t->prof->rows[i].key;
	*us = t->prof->rows[i].us;
	*count = t->prof->rows[i].count;
	return 0;
}

int paw_trainer_eval(paw_trainer *t, const int32_t *tokens, const int32_t *pos, const int32_t *seq,
                     const int32_t *targets, int32_t n, int backward, float *loss, float *logits,
                     char *err, size_t err_len) {
	int32_t n_rows = 0;
	for (int32_t i = 0; i < n; i++) {
		if (tokens[i] < 0 || tokens[i] >= t->info.n_vocab || targets[i] >= t->info.n_vocab) {
			set_err(err, err_len, "token %d out of the vocabulary at %d", tokens[i] < 0 || tokens[i] >= t->info.n_vocab ? tokens[i] : targets[i], i);
			return -1;
		}
		n_rows += targets[i] >= 0;
	}
	if (n <= 0 || n_rows == 0) {
		set_err(err, err_len, "no target in a batch of %d tokens", n);
		return -1;
	}
	size_t graph_size = 4096 + (size_t)t->info.n_layer * 512;
	struct ggml_init_params ip = {ggml_tensor_overhead() * graph_size + ggml_graph_overhead_custom(graph_size, true), NULL, true};
	struct ggml_context *ctx = ggml_init(ip);
	graph_inputs gi;
	struct ggml_tensor *out;
	struct ggml_tensor *l = build(t, ctx, &gi, n, n_rows, &out);
	struct ggml_cgraph *g = ggml_new_graph_custom(ctx, graph_size, backward != 0);
	ggml_build_forward_expand(g, l);
	int n_fwd = ggml_graph_n_nodes(g);
	if (backward) {
		int nn = ggml_graph_n_nodes(g);
		struct ggml_tensor **accs = calloc((size_t)nn, sizeof *accs);
		for (int i = 0; i < nn; i++) {
			struct ggml_tensor *node = ggml_graph_node(g, i);
			if (node == l) {
				accs[i] = t->loss_acc;
			}
			for (int j = 0; j < t->info.n_lora; j++) {
				if (node == t->lora[j].w) {
					accs[i] = t->lora[j].acc;
				}
			}
		}
		ggml_build_backward_expand(ctx, g, accs);
		free(accs);
		if (!t->autodiff_only) {
			use_transposed(t, g);
		}
		protect_inplace(g);
	}
	if (!ggml_gallocr_alloc_graph(backward ? t->galloc_bw : t->galloc, g)) {
		set_err(err, err_len, "cannot allocate the graph for %d tokens", n);
		ggml_free(ctx);
		return -1;
	}
	set_inputs(t, &gi, tokens, pos, seq, targets, n, n_rows);
	if (backward) {
		ggml_graph_reset(g); // zero the LoRA gradients, seed d loss = 1
	}
	if (t->prof) {
		t->prof->g = g;
		t->prof->node = 0;
		t->prof->n_fwd = n_fwd;
		t->prof->last = ggml_time_us();
	}
	if (ggml_backend_graph_compute(t->backend, g) != GGML_STATUS_SUCCESS) {
		set_err(err, err_len, "graph compute failed");
		ggml_free(ctx);
		return -1;
	}
	ggml_backend_tensor_get(l, loss, 0, sizeof(float));
	if (logits) {
		ggml_backend_tensor_get(out, logits, 0, ggml_nbytes(out));
	}
	ggml_free(ctx);
	return 0;
}

void paw_trainer_set_autodiff_only(paw_trainer *t, int on) { t->autodiff_only = on; }

float paw_trainer_adam(paw_trainer *t, int64_t step, float lr, float beta1, float beta2, float eps,
                       float weight_decay, float clip) {
	double sq = 0;
	for (int i = 0; i < t->info.n_lora; i++) {
		const float *g = (const float *)t->lora[i].acc->data;
		int64_t n = ggml_nelements(t->lora[i].acc);
		for (int64_t j = 0; j < n; j++) {
			sq += (double)g[j] * g[j];
		}
	}
	float norm = (float)sqrt(sq);
	float gs = clip > 0 && norm > clip ? clip / norm : 1.0f;
	float bc1 = 1.0f - powf(beta1, (float)step), bc2 = 1.0f - powf(beta2, (float)step);
	for (int i = 0; i < t->info.n_lora; i++) {
		lora_tensor *lt = &t->lora[i];
		float *w = (float *)lt->w->data;
		const float *g = (const float *)lt->acc->data;
		int64_t n = ggml_nelements(lt->w);
		for (int64_t j = 0; j < n; j++) {
			float gj = g[j] * gs;
			lt->m[j] = beta1 * lt->m[j] + (1 - beta1) * gj;
			lt->v[j] = beta2 * lt->v[j] + (1 - beta2) * gj * gj;
			float mh = lt->m[j] / bc1, vh = lt->v[j] / bc2;
			w[j] -= lr * (mh / (sqrtf(vh) + eps) + weight_decay * w[j]);
		}
	}
	return norm;
}

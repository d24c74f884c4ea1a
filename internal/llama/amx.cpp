// paw's AMX matrix kernel; see amx.h.
#include "amx.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cpuid.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "ggml-backend-impl.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml-cpu/traits.h"

// Weight rows per group (one tile's 16 output columns) and values per block
// (the Q4_0/Q8_0 block, one per-block scale each).
#define PAW_MM_N 16
#define PAW_MM_QK 32

static bool paw_mm_on = true;
static long paw_mm_count;

// paw_mm_layout is the layout a weight of type t has in paw's buffer: a
// Q6_K weight is requantized to Q8_0 on upload (paw_mm_set_tensor), so it is
// stored and computed as Q8_0.
static enum ggml_type paw_mm_layout(enum ggml_type t) { return t == GGML_TYPE_Q6_K ? GGML_TYPE_Q8_0 : t; }

// paw_mm_quant_bytes is the bytes of quants in one record (16 rows x 32
// columns): Q8_0 as int8, Q4_0 as nibbles. The record's 16 F16 scales follow.
static size_t paw_mm_quant_bytes(enum ggml_type t) { return paw_mm_layout(t) == GGML_TYPE_Q8_0 ? 512 : 256; }

static size_t paw_mm_record_bytes(enum ggml_type t) { return paw_mm_quant_bytes(t) + PAW_MM_N * sizeof(ggml_fp16_t); }

static size_t paw_mm_weight_bytes(const struct ggml_tensor *t) {
	const int64_t groups = (t->ne[1] + PAW_MM_N - 1) / PAW_MM_N;
	return (size_t)groups * (size_t)(t->ne[0] / PAW_MM_QK) * paw_mm_record_bytes(t->type);
}

// paw_mm_repack_group writes rows 16g..16g+15 of a plain Q4_0/Q8_0 matrix
// (type t, K columns, N rows; src holds row 16g, rows rs bytes apart) in
// paw's layout, at dst the group's records: record b holds columns
// 32b..32b+31, the value of row n,
// column k at byte (k/4)*64 + n*4 + k%4 (the order of a TDPBSSD B tile);
// Q4_0 keeps the nibble of byte i+256 in the high half of byte i. Rows past
// the matrix are zero with scale 0.
static void paw_mm_repack_group(enum ggml_type t, int64_t K, int64_t N, int64_t g, uint8_t *dst, const uint8_t *src, size_t rs) {
	const int64_t KB = K / PAW_MM_QK;
	const size_t bs = ggml_type_size(t), rb = paw_mm_record_bytes(t), qb = paw_mm_quant_bytes(t);
	const bool q8 = t == GGML_TYPE_Q8_0;
	int8_t v[512];
	ggml_fp16_t sc[PAW_MM_N];
	for (int64_t b = 0; b < KB; b++) {
		memset(v, q8 ? 0 : -8, sizeof v);
		memset(sc, 0, sizeof sc);
		for (int n = 0; n < PAW_MM_N && g * PAW_MM_N + n < N; n++) {
			const uint8_t *blk = src + (size_t)n * rs + (size_t)b * bs;
			memcpy(&sc[n], blk, sizeof sc[n]);
			const uint8_t *qs = blk + sizeof(ggml_fp16_t);
			for (int k = 0; k < PAW_MM_QK; k++) {
				int8_t q = q8 ? (int8_t)qs[k] : (int8_t)((k < 16 ? qs[k] & 0x0F : qs[k - 16] >> 4) - 8);
				v[(k / 4) * 64 + n * 4 + k % 4] = q;
			}
		}
		uint8_t *rec = dst + (size_t)b * rb;
		if (q8) {
			memcpy(rec, v, 512);
		} else {
			for (int i = 0; i < 256; i++) {
				rec[i] = (uint8_t)((v[i] + 8) | ((v[i + 256] + 8) << 4));
			}
		}
		memcpy(rec + qb, sc, sizeof sc);
	}
}

// The kernel: ggml-cpu calls it on each of its threads for a MUL_MAT node.
// Work buffer: the activations as int8 rows (padded to a multiple of 16 with
// zero rows) and their F32 block scales, shared, then per thread a group's
// unpacked quants and F32 scales and one tile of int32 sums.

struct paw_mm_shape {
	int64_t K, N, KB, G, M, MT;
};

static struct paw_mm_shape paw_mm_shape_of(const struct ggml_tensor *op) {
	struct paw_mm_shape s;
	s.K = op->src[0]->ne[0];
	s.N = op->src[0]->ne[1];
	s.KB = s.K / PAW_MM_QK;
	s.G = (s.N + PAW_MM_N - 1) / PAW_MM_N;
	s.M = ggml_nrows(op->src[1]);
	s.MT = (s.M + 15) / 16;
	return s;
}

static size_t paw_mm_align(size_t n) { return (n + 63) & ~(size_t)63; }

// The shared part: a chunk counter, the int8 rows, their scales and (for the
// VNNI path) the sums of each block's quants.
static size_t paw_mm_shared_bytes(const struct paw_mm_shape &s) {
	return 64 + paw_mm_align((size_t)s.MT * 16 * s.K) + 2 * paw_mm_align((size_t)s.MT * 16 * s.KB * sizeof(float));
}

static size_t paw_mm_thread_bytes(const struct paw_mm_shape &s) {
	return paw_mm_align((size_t)s.KB * 512) + paw_mm_align((size_t)s.KB * PAW_MM_N * sizeof(float)) + 16 * 16 * 4;
}

// Batches of at most this many rows (one-token decodes, small drafts) take
// the AVX-512 VNNI path: a tile product would be mostly padding rows.
#define PAW_MM_VNNI_ROWS 4

struct paw_mm_tilecfg {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

#pragma GCC push_options
#pragma GCC target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")

// paw_mm_quantize writes row x (K floats) as int8 per 32-block with its
// scales (amax/127 rounded to F16, as Q8_0 stores them: paw's products then
// equal ggml's up to the order of the float sums).
static void paw_mm_quantize(const float *x, int64_t K, int8_t *q, float *d, float *sum) {
	for (int64_t b = 0; b < K / PAW_MM_QK; b++) {
		__m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
		float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
		float s = amax / 127.0f, is = amax > 0 ? 127.0f / amax : 0.0f;
		__m512 vis = _mm512_set1_ps(is);
		const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vis)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vis));
		_mm_storeu_si128((__m128i *)(q + b * 32), _mm512_cvtsepi32_epi8(i0));
		_mm_storeu_si128((__m128i *)(q + b * 32 + 16), _mm512_cvtsepi32_epi8(i1));
		sum[b] = (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
		d[b] = _cvtsh_ss(_cvtss_sh(s, 0)); // rounded as ggml stores a Q8_0 scale
	}
}

// paw_mm_tile computes the rows of one 16-row activation tile times one
// 16-row weight group, over all K blocks: per block one TDPBSSD into a zeroed int32 tile, then the sums times the
// weight scales (db) and the row's activation scale added to F32 accumulators.
static void paw_mm_tile(const int8_t *qa, const float *sa, int64_t K, int64_t KB, const int8_t *bq, size_t bstride,
                        const float *bs, int32_t *cbuf, float *out, size_t out_stride, int rows, int cols) {
	__m512 acc[16];
	for (int r = 0; r < 16; r++) {
		acc[r] = _mm512_setzero_ps();
	}
	for (int64_t b = 0; b < KB; b++) {
		_tile_zero(0);
		_tile_loadd(2, qa + b * 32, K);
		_tile_loadd(3, bq + b * bstride, 64);
		_tile_dpbssd(0, 2, 3);
		_tile_stored(0, cbuf, 64);
		const __m512 db = _mm512_loadu_ps(bs + b * PAW_MM_N);
		for (int r = 0; r < 16; r++) {
			const __m512 c = _mm512_cvtepi32_ps(_mm512_load_si512(cbuf + r * 16));
			acc[r] = _mm512_fmadd_ps(c, _mm512_mul_ps(db, _mm512_set1_ps(sa[r * KB + b])), acc[r]);
		}
	}
	const __mmask16 mask = (__mmask16)((1u << cols) - 1);
	for (int r = 0; r < rows; r++) {
		_mm512_mask_storeu_ps(out + r * out_stride, mask, acc[r]);
	}
}

// paw_mm_dot is one record's 16 int32 dot products with the activation
// block's 8 broadcast 4-byte pieces (a), as floats, less the unsigned-side
// correction. VPDPBUSD multiplies unsigned by signed bytes: Q4_0 takes the
// nibbles (0..15) as the unsigned side and subtracts 8 x the block's
// activation sum (corr); Q8_0 takes the activations + 128 and subtracts 128 x
// the weights' sums (one more VPDPBUSD by ones). Two independent int32 chains
// halve the latency of the eight dependent VPDPBUSDs; integer sums are exact,
// so the result does not depend on the split.
template <bool Q8>
static inline __m512 paw_mm_dot(const uint8_t *rec, const __m512i a[8], float corr) {
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	if (Q8) {
		const __m512i ones = _mm512_set1_epi8(1);
		__m512i w0 = _mm512_setzero_si512(), w1 = _mm512_setzero_si512();
		for (int r = 0; r < 8; r += 2) {
			const __m512i x = _mm512_loadu_si512(rec + r * 64), y = _mm512_loadu_si512(rec + r * 64 + 64);
			s0 = _mm512_dpbusd_epi32(s0, a[r], x);
			s1 = _mm512_dpbusd_epi32(s1, a[r + 1], y);
			w0 = _mm512_dpbusd_epi32(w0, ones, x);
			w1 = _mm512_dpbusd_epi32(w1, ones, y);
		}
		return _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
		                     _mm512_mul_ps(_mm512_set1_ps(128.0f), _mm512_cvtepi32_ps(_mm512_add_epi32(w0, w1))));
	}
	const __m512i lo4 = _mm512_set1_epi8(0x0F);
	for (int i = 0; i < 4; i++) {
		const __m512i v = _mm512_loadu_si512(rec + i * 64);
		s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(v, lo4), a[i]);
		s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4), a[i + 4]);
	}
	return _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_set1_ps(corr));
}

// paw_mm_row computes one activation row times NG consecutive weight groups
// (gs bytes apart) with AVX-512 VNNI straight from the records: the
// activation broadcasts are shared by the groups, and each group's records
// are an independent stream of loads. One F32 accumulator per group, summed
// in block order as before.
template <bool Q8, int NG>
static void paw_mm_row(const uint8_t *recs, size_t rb, size_t gs, const int8_t *qa, const float *sa, const float *asum,
                       int64_t KB, float *out, const int *cols) {
	const size_t qbytes = Q8 ? 512 : 256;
	__m512 acc[NG];
	for (int j = 0; j < NG; j++) {
		acc[j] = _mm512_setzero_ps();
	}
	for (int64_t b = 0; b < KB; b++) {
		__m512i a[8];
		for (int r = 0; r < 8; r++) {
			int32_t v;
			memcpy(&v, qa + b * 32 + r * 4, sizeof v);
			a[r] = _mm512_set1_epi32(Q8 ? v ^ (int32_t)0x80808080 : v);
		}
		const __m512 sb = _mm512_set1_ps(sa[b]);
		const float corr = Q8 ? 0.0f : 8.0f * asum[b];
		for (int j = 0; j < NG; j++) {
			const uint8_t *rec = recs + j * gs + (size_t)b * rb;
			const __m512 f = paw_mm_dot<Q8>(rec, a, corr);
			const __m512 db = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rec + qbytes)));
			acc[j] = _mm512_fmadd_ps(f, _mm512_mul_ps(db, sb), acc[j]);
		}
	}
	for (int j = 0; j < NG; j++) {
		_mm512_mask_storeu_ps(out + j * PAW_MM_N, (__mmask16)((1u << cols[j]) - 1), acc[j]);
	}
}

static void paw_mm_compute(const struct ggml_compute_params *p, struct ggml_tensor *op) {
	const struct ggml_tensor *w = op->src[0], *x = op->src[1];
	const struct paw_mm_shape s = paw_mm_shape_of(op);
	const bool q8 = paw_mm_layout(w->type) == GGML_TYPE_Q8_0;
	uint8_t *wd = (uint8_t *)(((uintptr_t)p->wdata + 63) & ~(uintptr_t)63);
	int *next = (int *)wd; // the next chunk of groups, taken atomically
	int8_t *qa = (int8_t *)(wd + 64);
	float *sa = (float *)(wd + 64 + paw_mm_align((size_t)s.MT * 16 * s.K));
	float *asum = sa + paw_mm_align((size_t)s.MT * 16 * s.KB * sizeof(float)) / sizeof(float);
	uint8_t *mine = wd + paw_mm_shared_bytes(s) + (size_t)p->ith * paw_mm_thread_bytes(s);
	int8_t *bq = (int8_t *)mine;
	float *bs = (float *)(mine + paw_mm_align((size_t)s.KB * 512));
	int32_t *cbuf = (int32_t *)(mine + paw_mm_align((size_t)s.KB * 512) + paw_mm_align((size_t)s.KB * PAW_MM_N * 4));

	// The activations: rows split over the threads (the tile path pads them
	// to 16 with zero rows), then a barrier.
	const int64_t ne11 = x->ne[1], ne12 = x->ne[2], padded = s.M <= PAW_MM_VNNI_ROWS ? s.M : s.MT * 16;
	for (int64_t m = p->ith; m < padded; m += p->nth) {
		if (m < s.M) {
			const int64_t i11 = m % ne11, i12 = (m / ne11) % ne12, i13 = m / (ne11 * ne12);
			const float *row = (const float *)((const char *)x->data + i11 * x->nb[1] + i12 * x->nb[2] + i13 * x->nb[3]);
			paw_mm_quantize(row, s.K, qa + m * s.K, sa + m * s.KB, asum + m * s.KB);
		} else {
			memset(qa + m * s.K, 0, s.K);
			memset(sa + m * s.KB, 0, s.KB * sizeof(float));
		}
	}
	if (p->ith == 0) {
		__atomic_store_n(next, 0, __ATOMIC_RELAXED);
	}
	ggml_barrier(p->threadpool);

	// Groups in chunks taken from a shared counter, so that a thread slowed
	// by the shared machine takes fewer.
	const int64_t chunk = s.G / (8 * p->nth) > 1 ? s.G / (8 * p->nth) : 1, n_chunks = (s.G + chunk - 1) / chunk;
	const size_t rb = paw_mm_record_bytes(w->type), qbytes = paw_mm_quant_bytes(w->type);
	const size_t ostride = op->nb[1] / sizeof(float);
	if (s.M <= PAW_MM_VNNI_ROWS) {
		const size_t gs = (size_t)s.KB * rb;
		auto rows = [&](int64_t g, int ng) {
			int cols[2];
			for (int j = 0; j < ng; j++) {
				const int64_t left = s.N - (g + j) * PAW_MM_N;
				cols[j] = (int)(left < PAW_MM_N ? left : PAW_MM_N);
			}
			const uint8_t *recs = (const uint8_t *)w->data + (size_t)g * gs;
			for (int64_t m = 0; m < s.M; m++) {
				float *out = (float *)op->data + m * ostride + g * PAW_MM_N;
				const int8_t *q = qa + m * s.K;
				const float *d = sa + m * s.KB, *u = asum + m * s.KB;
				if (q8) {
					ng == 2 ? paw_mm_row<true, 2>(recs, rb, gs, q, d, u, s.KB, out, cols)
					        : paw_mm_row<true, 1>(recs, rb, gs, q, d, u, s.KB, out, cols);
				} else {
					ng == 2 ? paw_mm_row<false, 2>(recs, rb, gs, q, d, u, s.KB, out, cols)
					        : paw_mm_row<false, 1>(recs, rb, gs, q, d, u, s.KB, out, cols);
				}
			}
		};
		for (int64_t c; (c = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED)) < n_chunks;) {
			const int64_t end = std::min((c + 1) * chunk, s.G);
			int64_t g = c * chunk;
			for (; g + 2 <= end; g += 2) {
				rows(g, 2);
			}
			if (g < end) {
				rows(g, 1);
			}
		}
		return;
	}

	struct paw_mm_tilecfg cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.palette = 1;
	cfg.rows[0] = 16, cfg.colsb[0] = 64; // C: 16 x 16 int32
	cfg.rows[2] = 16, cfg.colsb[2] = 32; // A: 16 rows x 32 int8
	cfg.rows[3] = 8, cfg.colsb[3] = 64;  // B: 32 x 16 int8 in 4-byte pairs
	_tile_loadconfig(&cfg);

	const __m512i lo4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
	for (int64_t c; (c = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED)) < n_chunks;) {
		for (int64_t g = c * chunk; g < (c + 1) * chunk && g < s.G; g++) {
			const uint8_t *recs = (const uint8_t *)w->data + (size_t)g * s.KB * rb;
			for (int64_t b = 0; b < s.KB; b++) {
				const uint8_t *rec = recs + (size_t)b * rb;
				_mm512_storeu_ps(bs + b * PAW_MM_N, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rec + qbytes))));
				if (!q8) {
					for (int i = 0; i < 4; i++) {
						__m512i v = _mm512_loadu_si512(rec + i * 64);
						_mm512_store_si512(bq + b * 512 + i * 64, _mm512_sub_epi8(_mm512_and_si512(v, lo4), eight));
						_mm512_store_si512(bq + b * 512 + 256 + i * 64,
						                   _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), lo4), eight));
					}
				}
			}
			const int8_t *bsrc = q8 ? (const int8_t *)recs : bq;
			const size_t bstride = q8 ? rb : 512;
			const int cols = (int)(s.N - g * PAW_MM_N < PAW_MM_N ? s.N - g * PAW_MM_N : PAW_MM_N);
			for (int64_t mt = 0; mt < s.MT; mt++) {
				const int rows = (int)(s.M - mt * 16 < 16 ? s.M - mt * 16 : 16);
				float *out = (float *)op->data + mt * 16 * ostride + g * PAW_MM_N;
				paw_mm_tile(qa + mt * 16 * s.K, sa + mt * 16 * s.KB, s.K, s.KB, bsrc, bstride, bs, cbuf, out, ostride, rows, cols);
			}
		}
	}
	_tile_release();
}

#pragma GCC pop_options

// paw_mm_repack writes weight t's plain data src in paw's layout at dst. A
// Q6_K weight is converted 16 rows at a time: dequantized to float by ggml
// and quantized per 32 values as Q8_0 (paw_mm_quantize: ggml's Q8_0
// rounding, vectorized; ggml's scalar reference doubled the load time), then
// repacked as Q8_0, so the conversion needs only one group's floats.
static void paw_mm_repack(const struct ggml_tensor *t, uint8_t *dst, const uint8_t *src) {
	const int64_t K = t->ne[0], N = t->ne[1], G = (N + PAW_MM_N - 1) / PAW_MM_N;
	const size_t gb = (size_t)(K / PAW_MM_QK) * paw_mm_record_bytes(t->type);
	if (t->type != GGML_TYPE_Q6_K) {
		for (int64_t g = 0; g < G; g++) {
			paw_mm_repack_group(t->type, K, N, g, dst + g * gb, src + (size_t)g * PAW_MM_N * t->nb[1], t->nb[1]);
		}
		return;
	}
	const ggml_to_float_t to_float = ggml_get_type_traits(GGML_TYPE_Q6_K)->to_float;
	const int64_t KB = K / PAW_MM_QK;
	const size_t q8row = ggml_row_size(GGML_TYPE_Q8_0, K);
	auto convert = [&](int64_t g0, int64_t g1) {
		std::vector<float> f((size_t)K), d((size_t)KB), sum((size_t)KB);
		std::vector<int8_t> q((size_t)K);
		std::vector<uint8_t> q8((size_t)PAW_MM_N * q8row);
		for (int64_t g = g0; g < g1; g++) {
			for (int64_t n = 0; n < PAW_MM_N && g * PAW_MM_N + n < N; n++) {
				to_float(src + (size_t)(g * PAW_MM_N + n) * t->nb[1], f.data(), K);
				paw_mm_quantize(f.data(), K, q.data(), d.data(), sum.data());
				for (int64_t b = 0; b < KB; b++) { // as a Q8_0 block: F16 scale, 32 int8
					uint8_t *blk = q8.data() + (size_t)n * q8row + (size_t)b * (sizeof(ggml_fp16_t) + PAW_MM_QK);
					const ggml_fp16_t h = ggml_fp32_to_fp16(d[b]);
					memcpy(blk, &h, sizeof h);
					memcpy(blk + sizeof h, q.data() + b * PAW_MM_QK, PAW_MM_QK);
				}
			}
			paw_mm_repack_group(GGML_TYPE_Q8_0, K, N, g, dst + g * gb, q8.data(), q8row);
		}
	};
	// The loader uploads one weight at a time with the CPU otherwise idle:
	// large weights are converted on all cores (load time halved on two).
	const int64_t nt = std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), std::max<int64_t>(1, G / 64));
	std::vector<std::thread> th;
	for (int64_t i = 1; i < nt; i++) {
		th.emplace_back(convert, G * i / nt, G * (i + 1) / nt);
	}
	convert(0, G / nt);
	for (auto &x : th) {
		x.join();
	}
}

// ggml-cpu's interfaces for an extra buffer type.

static bool paw_mm_takes(const struct ggml_tensor *op);

namespace {

class paw_traits : public ggml::cpu::tensor_traits {
	bool work_size(int n_threads, const struct ggml_tensor *op, size_t &size) override {
		const struct paw_mm_shape s = paw_mm_shape_of(op);
		size = paw_mm_shared_bytes(s) + (size_t)n_threads * paw_mm_thread_bytes(s) + 64;
		return true;
	}

	bool compute_forward(struct ggml_compute_params *p, struct ggml_tensor *op) override {
		if (p->ith == 0) {
			__atomic_fetch_add(&paw_mm_count, 1, __ATOMIC_RELAXED);
		}
		paw_mm_compute(p, op);
		return true;
	}
};

paw_traits paw_mm_traits;

ggml_backend_buffer_type_t paw_mm_buft(void);

class paw_extra : public ggml::cpu::extra_buffer_type {
	// A weight already in paw's buffer (size > 0) is always computed here;
	// the loader's probe (an empty buffer) follows the switch.
	bool supports_op(ggml_backend_dev_t, const struct ggml_tensor *op) override {
		const struct ggml_tensor *w = op->src[0];
		if (!w->buffer || w->buffer->buft != paw_mm_buft() || !paw_mm_takes(op)) {
			return false;
		}
		return __atomic_load_n(&paw_mm_on, __ATOMIC_RELAXED) || ggml_backend_buffer_get_size(w->buffer) > 0;
	}

	ggml::cpu::tensor_traits *get_tensor_traits(const struct ggml_tensor *op) override {
		if (op->op == GGML_OP_MUL_MAT && op->src[0]->buffer && op->src[0]->buffer->buft == paw_mm_buft()) {
			return &paw_mm_traits;
		}
		return nullptr;
	}
};

void paw_mm_set_tensor(ggml_backend_buffer_t buf, struct ggml_tensor *t, const void *data, size_t offset, size_t size) {
	(void)buf;
	GGML_ASSERT(offset == 0 && size == ggml_nbytes(t)); // the loader uploads whole weights
	paw_mm_repack(t, (uint8_t *)t->data, (const uint8_t *)data);
#ifdef MADV_PAGEOUT
	// The loader hands over the weight's pages in the model file's mapping;
	// paw's layout replaces them, so let the kernel reclaim them now rather
	// than keep both resident until memory runs short (the hint changes no
	// content: a page read again comes back from the file).
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)data + page - 1) & ~(page - 1),
	                hi = ((uintptr_t)data + size) & ~(page - 1);
	if (hi > lo) {
		madvise((void *)lo, hi - lo, MADV_PAGEOUT);
	}
#endif
}

const char *paw_mm_buft_name(ggml_backend_buffer_type_t) { return "PAW_AMX"; }

ggml_backend_buffer_t paw_mm_alloc(ggml_backend_buffer_type_t buft, size_t size) {
	ggml_backend_buffer_t b = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), size);
	if (!b) {
		return nullptr;
	}
	b->buft = buft;
#ifdef MADV_HUGEPAGE
	// A decode streams every weight once per token: on 2 MB pages it walks
	// 512x fewer page-table entries (the system's THP setting is "madvise").
	const uintptr_t huge = (uintptr_t)2 << 20, base = (uintptr_t)ggml_backend_buffer_get_base(b),
	                lo = (base + huge - 1) & ~(huge - 1), hi = (base + size) & ~(huge - 1);
	if (hi > lo) {
		madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
	}
#endif
	b->iface.set_tensor = paw_mm_set_tensor;
	b->iface.get_tensor = nullptr; // nothing reads weights back
	b->iface.cpy_tensor = nullptr;
	return b;
}

size_t paw_mm_alignment(ggml_backend_buffer_type_t) { return 64; }

size_t paw_mm_alloc_size(ggml_backend_buffer_type_t, const struct ggml_tensor *t) {
	return t->type == GGML_TYPE_Q4_0 || t->type == GGML_TYPE_Q8_0 || t->type == GGML_TYPE_Q6_K ? paw_mm_weight_bytes(t)
	                                                                                           : ggml_nbytes(t);
}

ggml_backend_buffer_type_t paw_mm_buft(void) {
	static struct ggml_backend_buffer_type buft = {
		/* .iface = */ {
			/* .get_name = */ paw_mm_buft_name,
			/* .alloc_buffer = */ paw_mm_alloc,
			/* .get_alignment = */ paw_mm_alignment,
			/* .get_max_size = */ nullptr,
			/* .get_alloc_size = */ paw_mm_alloc_size,
			/* .is_host = */ nullptr, // the layout is paw's: ggml must not read it as Q4_0/Q8_0
			/* .noalloc_buffer = */ nullptr,
		},
		/* .device = */ ggml_backend_reg_dev_get(ggml_backend_cpu_reg(), 0),
		/* .context = */ new paw_extra(),
		/* .no_alloc = */ false,
	};
	return &buft;
}

} // namespace

// paw_mm_takes: a 2-D Q4_0/Q8_0/Q6_K weight times F32 rows with contiguous
// floats.
static bool paw_mm_takes(const struct ggml_tensor *op) {
	const struct ggml_tensor *w = op->src[0], *x = op->src[1];
	const bool typ = w->type == GGML_TYPE_Q4_0 || w->type == GGML_TYPE_Q8_0 ||
	                 (w->type == GGML_TYPE_Q6_K && w->ne[0] % ggml_blck_size(GGML_TYPE_Q6_K) == 0);
	return op->op == GGML_OP_MUL_MAT && typ && w->ne[2] == 1 && w->ne[3] == 1 && w->ne[0] % PAW_MM_QK == 0 && x->type == GGML_TYPE_F32 && op->type == GGML_TYPE_F32 &&
	       x->nb[0] == sizeof(float) && op->nb[0] == sizeof(float) && ggml_is_contiguous_rows(op) &&
	       op->nb[2] == op->nb[1] * op->ne[1] && op->nb[3] == op->nb[2] * op->ne[2] &&
	       (!x->buffer || ggml_backend_buft_is_host(x->buffer->buft));
}

// paw_mm_usable: AMX-INT8 and AVX-512 (F, BW, VL, DQ, VNNI) and the OS's
// permission to use the tile data (Linux asks each process to request it).
static bool paw_mm_usable(void) {
	unsigned a, b, c, d;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		return false;
	}
	const bool amx = (d >> 24 & 1) && (d >> 25 & 1); // AMX-TILE, AMX-INT8
	__builtin_cpu_init();
	if (!amx || !__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
	    !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq") ||
	    !__builtin_cpu_supports("avx512vnni")) {
		return false;
	}
#if defined(__linux__)
	const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
	return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
	return false;
#endif
}

static const char *paw_mm_kernel;

extern "C" {

const char *paw_mm_register(void) {
	static bool done;
	if (!done) {
		done = true;
		if (paw_mm_usable()) {
			std::vector<ggml_backend_buffer_type_t> &extra = ggml_backend_cpu_get_extra_buffer_types();
			extra.insert(extra.begin(), paw_mm_buft());
			paw_mm_kernel = "amx";
		}
	}
	return paw_mm_kernel;
}

void paw_mm_enable(bool on) { __atomic_store_n(&paw_mm_on, on, __ATOMIC_RELAXED); }

long paw_mm_nodes(void) { return __atomic_load_n(&paw_mm_count, __ATOMIC_RELAXED); }

bool paw_mm_check(int seed, int type, int n, int k, int m, int n_threads, float *err_ggml, float *err_exact,
                  float *ggml_err_exact, float *max_out) {
	if (!paw_mm_register()) {
		return false;
	}
	const enum ggml_type t = (enum ggml_type)type;
	uint64_t rng = (uint64_t)seed * 2654435761ULL + 1;
	auto rand1 = [&rng]() { // uniform in [-1, 1)
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		return (float)((rng >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f;
	};
	std::vector<float> wf((size_t)n * k), xf((size_t)m * k), wd((size_t)n * k);
	for (auto &v : wf) {
		v = rand1();
	}
	for (auto &v : xf) {
		v = 2 * rand1();
	}
	const size_t row = ggml_row_size(t, k);
	std::vector<uint8_t> wq(row * n);
	ggml_quantize_chunk(t, wf.data(), wq.data(), 0, n, k, nullptr);
	ggml_get_type_traits(t)->to_float(wq.data(), wd.data(), (int64_t)n * k);

	struct ggml_init_params dp = {(size_t)n * k * 2 + (size_t)m * k * 4 + (size_t)n * m * 8 + 16 * ggml_tensor_overhead() +
	                                  ggml_graph_overhead() + (1 << 20),
	                              nullptr, false};
	struct ggml_context *ctx = ggml_init(dp);
	struct ggml_init_params wp = {4 * ggml_tensor_overhead(), nullptr, true};
	struct ggml_context *wctx = ggml_init(wp);
	struct ggml_tensor *plain = ggml_new_tensor_2d(ctx, t, k, n);
	memcpy(plain->data, wq.data(), wq.size());
	struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, m);
	memcpy(x->data, xf.data(), xf.size() * sizeof(float));
	struct ggml_tensor *packed = ggml_new_tensor_2d(wctx, t, k, n);
	ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, paw_mm_buft());
	ggml_backend_tensor_set(packed, wq.data(), 0, wq.size());

	struct ggml_tensor *ref = ggml_mul_mat(ctx, plain, x), *mine = ggml_mul_mat(ctx, packed, x);
	bool ok = paw_mm_takes(mine);
	if (ok) {
		struct ggml_cgraph *g = ggml_new_graph(ctx);
		ggml_build_forward_expand(g, ref);
		ggml_build_forward_expand(g, mine);
		ok = ggml_graph_compute_with_ctx(ctx, g, n_threads) == GGML_STATUS_SUCCESS;
	}
	float eg = 0, ee = 0, ge = 0, mo = 0;
	for (int i = 0; ok && i < m; i++) {
		for (int j = 0; j < n; j++) {
			double e = 0;
			for (int kk = 0; kk < k; kk++) {
				e += (double)wd[(size_t)j * k + kk] * xf[(size_t)i * k + kk];
			}
			const float p = ((const float *)mine->data)[(size_t)i * n + j], r = ((const float *)ref->data)[(size_t)i * n + j];
			const float d1 = fabsf(p - r), d2 = fabsf(p - (float)e), d3 = fabsf(r - (float)e);
			eg = d1 > eg || isnan(d1) ? d1 : eg;
			ee = d2 > ee || isnan(d2) ? d2 : ee;
			ge = d3 > ge ? d3 : ge;
			mo = fabsf((float)e) > mo ? fabsf((float)e) : mo;
		}
	}
	*err_ggml = eg, *err_exact = ee, *ggml_err_exact = ge, *max_out = mo;
	ggml_backend_buffer_free(buf);
	ggml_free(wctx);
	ggml_free(ctx);
	return ok;
}

} // extern "C"

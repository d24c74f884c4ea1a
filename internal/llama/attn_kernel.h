// The tile kernel of attn.c, included once per instruction set: the includer
// defines PAW_VW (floats per vector), PAW_SFX(name) (the per-ISA name),
// PAW_CVT(dst, src) (PAW_VW halfs to floats) and sets the target with
// #pragma GCC target, so one source gives an AVX-512 and an AVX2 kernel and
// the one the CPU has is picked at run time (the portable x86-64-v3 build
// carries both).

typedef float PAW_SFX(vf) __attribute__((vector_size(PAW_VW * 4)));
typedef int32_t PAW_SFX(vi) __attribute__((vector_size(PAW_VW * 4)));
#define VF PAW_SFX(vf)
#define VI PAW_SFX(vi)

static inline VF PAW_SFX(ld)(const float *p) {
	VF v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline void PAW_SFX(st)(float *p, VF v) { memcpy(p, &v, sizeof v); }

static inline VF PAW_SFX(vmax)(VF a, VF b) {
	VI gt = a > b;
	return (VF)(((VI)a & gt) | ((VI)b & ~gt));
}

// exp(x) for x <= 0, zero where x is -inf: 2^k * e^f with f in [-ln2/2, ln2/2]
// by a degree-6 polynomial (relative error ~2e-7); inputs below -87 give
// ~1e-38, under any softmax term that matters.
static inline VF PAW_SFX(vexp)(VF x) {
	VI live = x > -INFINITY;
	VF y = PAW_SFX(vmax)(x, (VF){0} - 87.0f);
	VF k = (y * 1.4426950409f + 12582912.0f) - 12582912.0f;
	VF f = (y - k * 0.693145751953125f) - k * 1.428606765330187e-6f;
	VF c6 = (VF){0} + 1.0f / 720, c5 = (VF){0} + 1.0f / 120, c4 = (VF){0} + 1.0f / 24;
	VF e = ((((((c6 * f + c5) * f + c4) * f + 1.0f / 6) * f + 0.5f) * f + 1.0f) * f) + 1.0f;
	VI bits = (__builtin_convertvector(k, VI) + 127) << 23;
	return (VF)((VI)(e * (VF)bits) & live);
}

static inline float PAW_SFX(hmax)(VF v) {
	float m = v[0];
	for (int i = 1; i < PAW_VW; i++) {
		m = v[i] > m ? v[i] : m;
	}
	return m;
}

static inline float PAW_SFX(hsum)(VF v) {
	float s = 0;
	for (int i = 0; i < PAW_VW; i++) {
		s += v[i];
	}
	return s;
}

// halfs converts n halfs to floats (any n).
static void PAW_SFX(halfs)(float *dst, const ggml_fp16_t *src, int64_t n) {
	int64_t i = 0;
	for (; i + PAW_VW <= n; i += PAW_VW) {
		PAW_CVT(dst + i, src + i);
	}
	for (; i < n; i++) {
		dst[i] = _cvtsh_ss(src[i]);
	}
}

// tile computes one task: the queries [q0, q0+qt) of every head sharing K/V
// head ik2 in sequence iq3, against all of K/V in blocks of PAW_KB.
static void PAW_SFX(tile)(const struct paw_attn_args *a, int64_t task, float *ws) {
	const int64_t DK = a->dk, DV = a->dv, G = a->group, KB = PAW_KB;
	const int64_t iq3 = task / (a->n_head_kv * a->n_tiles);
	const int64_t ik2 = (task / a->n_tiles) % a->n_head_kv;
	const int64_t q0 = (task % a->n_tiles) * a->qt;
	const int64_t nq = a->n_q - q0 < a->qt ? a->n_q - q0 : a->qt;
	const int64_t R = nq * G, RP = (R + 3) & ~3;
	const int64_t ik3 = iq3 / a->rk3;
	float *Q = ws, *O = Q + RP * DK, *S = O + RP * DV, *Kt = S + RP * KB, *Vf = Kt + DK * KB;
	float *M = Vf + KB * DV, *L = M + RP, *row = L + RP;
	const struct ggml_tensor *q = a->q, *k = a->k, *v = a->v, *mask = a->mask;

	// Row r is query q0 + r/G of head ik2*G + r%G; rows past R pad the tile
	// to whole micro-kernel steps and are never written.
	for (int64_t r = 0; r < RP; r++) {
		M[r] = -INFINITY;
		L[r] = 0;
		memset(O + r * DV, 0, DV * sizeof(float));
		float *qr = Q + r * DK;
		if (r >= R) {
			memset(qr, 0, DK * sizeof(float));
			continue;
		}
		const float *src = (const float *)((const char *)q->data + (q0 + r / G) * q->nb[1] +
		                                   (ik2 * G + r % G) * q->nb[2] + iq3 * q->nb[3]);
		for (int64_t d = 0; d < DK; d++) {
			qr[d] = src[d] * a->scale;
		}
	}
	for (int64_t j0 = 0; j0 < a->n_kv; j0 += KB) {
		const int64_t kb = a->n_kv - j0 < KB ? a->n_kv - j0 : KB;
		// The scores start as the mask (-inf past the block's end).
		bool any = false;
		for (int64_t r = 0; r < RP; r++) {
			float *sr = S + r * KB;
			if (mask && r < R) {
				const int64_t h = ik2 * G + r % G;
				const ggml_fp16_t *mr = (const ggml_fp16_t *)((const char *)mask->data + (q0 + r / G) * mask->nb[1] +
				                                                (h % mask->ne[2]) * mask->nb[2] +
				                                                (iq3 % mask->ne[3]) * mask->nb[3]) + j0;
				PAW_SFX(halfs)(sr, mr, kb);
			} else {
				for (int64_t j = 0; j < kb; j++) {
					sr[j] = 0;
				}
			}
			for (int64_t j = kb; j < KB; j++) {
				sr[j] = -INFINITY;
			}
			if (r < R && !any) {
				for (int64_t j = 0; j < kb; j++) {
					any |= sr[j] != -INFINITY;
				}
			}
		}
		if (!any) {
			continue; // hidden from every row of the tile (causal future, padding)
		}
		// K transposed (Kt[d][j]) and V as floats, zero past the block's end.
		for (int64_t j = 0; j < KB; j++) {
			float *vr = Vf + j * DV;
			if (j >= kb) {
				memset(vr, 0, DV * sizeof(float));
				for (int64_t d = 0; d < DK; d++) {
					Kt[d * KB + j] = 0;
				}
				continue;
			}
			const char *kr = (const char *)k->data + (j0 + j) * k->nb[1] + ik2 * k->nb[2] + ik3 * k->nb[3];
			PAW_SFX(halfs)(row, (const ggml_fp16_t *)kr, DK);
			for (int64_t d = 0; d < DK; d++) {
				Kt[d * KB + j] = row[d];
			}
			const char *vsrc = (const char *)v->data + (j0 + j) * v->nb[1] + ik2 * v->nb[2] + ik3 * v->nb[3];
			PAW_SFX(halfs)(vr, (const ggml_fp16_t *)vsrc, DV);
		}
		// S += Q Kt: 4 rows x 2 vectors of scores per step.
		for (int64_t r0 = 0; r0 < RP; r0 += 4) {
			for (int64_t c0 = 0; c0 < KB; c0 += 2 * PAW_VW) {
				VF acc[4][2];
				for (int i = 0; i < 4; i++) {
					acc[i][0] = PAW_SFX(ld)(S + (r0 + i) * KB + c0);
					acc[i][1] = PAW_SFX(ld)(S + (r0 + i) * KB + c0 + PAW_VW);
				}
				for (int64_t d = 0; d < DK; d++) {
					VF k0 = PAW_SFX(ld)(Kt + d * KB + c0), k1 = PAW_SFX(ld)(Kt + d * KB + c0 + PAW_VW);
					for (int i = 0; i < 4; i++) {
						float qv = Q[(r0 + i) * DK + d];
						acc[i][0] += qv * k0;
						acc[i][1] += qv * k1;
					}
				}
				for (int i = 0; i < 4; i++) {
					PAW_SFX(st)(S + (r0 + i) * KB + c0, acc[i][0]);
					PAW_SFX(st)(S + (r0 + i) * KB + c0 + PAW_VW, acc[i][1]);
				}
			}
		}
		// Online softmax: S becomes the block's weights under the row's new max.
		for (int64_t r = 0; r < RP; r++) {
			float *sr = S + r * KB;
			VF mv = PAW_SFX(ld)(sr);
			for (int64_t c = PAW_VW; c < KB; c += PAW_VW) {
				mv = PAW_SFX(vmax)(mv, PAW_SFX(ld)(sr + c));
			}
			const float mx = PAW_SFX(hmax)(mv);
			if (mx == -INFINITY) {
				memset(sr, 0, KB * sizeof(float));
				continue;
			}
			const float mnew = mx > M[r] ? mx : M[r];
			const float alpha = M[r] == -INFINITY ? 0.0f : expf(M[r] - mnew);
			VF sum = {0};
			for (int64_t c = 0; c < KB; c += PAW_VW) {
				VF p = PAW_SFX(vexp)(PAW_SFX(ld)(sr + c) - mnew);
				sum += p;
				PAW_SFX(st)(sr + c, p);
			}
			L[r] = L[r] * alpha + PAW_SFX(hsum)(sum);
			M[r] = mnew;
			if (alpha != 1.0f) {
				float *orow = O + r * DV;
				for (int64_t d = 0; d < DV; d += PAW_VW) {
					PAW_SFX(st)(orow + d, PAW_SFX(ld)(orow + d) * alpha);
				}
			}
		}
		// O += P V: 4 rows x 4 vectors of outputs per step.
		for (int64_t d0 = 0; d0 < DV; d0 += 4 * PAW_VW) {
			for (int64_t r0 = 0; r0 < RP; r0 += 4) {
				VF acc[4][4];
				for (int i = 0; i < 4; i++) {
					for (int c = 0; c < 4; c++) {
						acc[i][c] = PAW_SFX(ld)(O + (r0 + i) * DV + d0 + c * PAW_VW);
					}
				}
				for (int64_t j = 0; j < kb; j++) {
					const float *vr = Vf + j * DV + d0;
					VF v0 = PAW_SFX(ld)(vr), v1 = PAW_SFX(ld)(vr + PAW_VW), v2 = PAW_SFX(ld)(vr + 2 * PAW_VW),
					   v3 = PAW_SFX(ld)(vr + 3 * PAW_VW);
					for (int i = 0; i < 4; i++) {
						float p = S[(r0 + i) * KB + j];
						acc[i][0] += p * v0;
						acc[i][1] += p * v1;
						acc[i][2] += p * v2;
						acc[i][3] += p * v3;
					}
				}
				for (int i = 0; i < 4; i++) {
					for (int c = 0; c < 4; c++) {
						PAW_SFX(st)(O + (r0 + i) * DV + d0 + c * PAW_VW, acc[i][c]);
					}
				}
			}
		}
	}
	// dst is permuted: row (head, query) of sequence iq3.
	const struct ggml_tensor *dst = a->dst;
	for (int64_t r = 0; r < R; r++) {
		const int64_t iq1 = q0 + r / G, h = ik2 * G + r % G;
		float *out = (float *)((char *)dst->data + ((iq3 * dst->ne[2] + iq1) * dst->ne[1] + h) * dst->nb[1]);
		const float inv = L[r] == 0 ? 0.0f : 1.0f / L[r];
		for (int64_t d = 0; d < DV; d++) {
			out[d] = O[r * DV + d] * inv;
		}
	}
}

#undef VF
#undef VI

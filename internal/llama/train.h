// paw's own training graph in ggml (no KV cache): the llama, qwen3 and GPT-2 layer
// math with LoRA on chosen projections, differentiated by ggml's autodiff.
// llama.cpp's llama_opt_* cannot train in this version (in-place KV writes
// break backward), so paw builds the forward graph itself.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct paw_trainer paw_trainer;

typedef struct {
	int32_t n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_rot;
	int32_t n_lora; // LoRA tensors (A and B of every adapted projection)
	int32_t qk_norm, tied, gpt2;
	char arch[32];
} paw_trainer_info;

// paw_trainer_new reads the base model at path (its weights stay frozen) and
// creates zeroed F32 LoRA tensors of rank for every block projection named in
// targets (comma separated, e.g. "attn_q,attn_v"; empty: every projection
// of the architecture), scaled by alpha/rank.
// NULL on failure, with a message in err.
paw_trainer *paw_trainer_new(const char *path, const char *targets, int32_t rank, float alpha,
                             int32_t n_threads, char *err, size_t err_len);
void paw_trainer_free(paw_trainer *t);
void paw_trainer_get_info(const paw_trainer *t, paw_trainer_info *info);

// paw_trainer_lora describes LoRA tensor i: its name in the official layout
// ("blk.N.attn_q.weight.lora_a"), its ggml shape, and pointers to its values
// and to its gradient from the last backward pass.
int paw_trainer_lora(paw_trainer *t, int32_t i, const char **name, int64_t *ne0, int64_t *ne1,
                     float **data, float **grad);

// paw_trainer_eval runs n tokens packed from several sequences (seq[i] is the
// sequence of token i, pos[i] its position in it; a token attends to earlier
// tokens of its own sequence). targets[i] is the token that position i must
// predict, or -1 to mask it out of the loss. With backward, gradients of the
// mean cross-entropy are left in the LoRA gradients. With logits non-NULL,
// the logits of the positions whose target is not -1 are written there, in
// order (n_vocab floats each). Returns 0, or -1 with a message in err.
int paw_trainer_eval(paw_trainer *t, const int32_t *tokens, const int32_t *pos, const int32_t *seq,
                     const int32_t *targets, int32_t n, int backward, float *loss, float *logits,
                     char *err, size_t err_len);

// paw_trainer_set_autodiff_only makes later backward passes keep ggml's
// autodiff for every op (on) instead of mul_mats against transposed copies
// of the frozen weights (off, the default): tests compare the two.
void paw_trainer_set_autodiff_only(paw_trainer *t, int on);

// paw_trainer_profile starts (on) or stops timing every op of later
// evaluations; paw_trainer_profile_row reads row i of the table: the op
// ("bwd MUL_MAT q8_0": pass, op, type of its first input), its total
// microseconds and node count. -1 past the last row.
void paw_trainer_profile(paw_trainer *t, int on);
int paw_trainer_profile_row(const paw_trainer *t, int32_t i, const char **key, int64_t *us, int64_t *count);

// paw_trainer_adam clips the gradients to global norm clip (0: no clip) and
// takes one AdamW step (step counts from 1). Returns the norm before clipping.
float paw_trainer_adam(paw_trainer *t, int64_t step, float lr, float beta1, float beta2, float eps,
                       float weight_decay, float clip);

package llama

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionKernel checks paw's flash-attention kernel against ggml's own
// CPU FLASH_ATTN_EXT and against ggml's unfused mul_mat + soft_max_ext path on
// random shapes: head sizes, grouped-query ratios, prompt and cache lengths
// (odd ones, shorter and longer than a K/V block), several sequences, no mask,
// a random mask with hidden cells and a causal mask over a cache.
func TestAttentionKernel(t *testing.T) {
	if AttentionKernel() == "ggml" {
		t.Skip("no AVX2/AVX-512 kernel on this CPU")
	}
	type tc struct{ d, nQ, nKV, nHead, nHeadKV, nSeq, mask int }
	cases := []tc{
		{128, 38, 294, 16, 8, 1, 2},  // a label call's prompt after a 256-token prefix (Qwen3-0.6B)
		{128, 128, 128, 16, 8, 1, 2}, // a 128-token prompt
		{64, 9, 9, 12, 12, 1, 2},     // GPT-2 heads, no grouping
		{128, 1, 70, 4, 1, 1, 1},     // one query (a decode), 4 heads per K/V head
		{64, 33, 65, 8, 2, 2, 1},     // two sequences, just past a block
		{128, 17, 17, 2, 2, 1, 0},    // no mask
	}
	rng := rand.New(rand.NewPCG(19, 1))
	for i := 0; i < 10; i++ { // random shapes
		d := []int{64, 128, 256}[rng.IntN(3)]
		hkv := 1 + rng.IntN(4)
		nQ := 1 + rng.IntN(150)
		cases = append(cases, tc{d, nQ, nQ + rng.IntN(300), hkv * (1 + rng.IntN(4)), hkv, 1 + rng.IntN(2), rng.IntN(3)})
	}
	for i, c := range cases {
		scale := float32(1 / math.Sqrt(float64(c.d)))
		errFA, errSM, ok := attentionCheck(i+1, c.d, c.nQ, c.nKV, c.nHead, c.nHeadKV, c.nSeq, c.mask, scale, 2)
		if !ok {
			t.Errorf("case %+v: the kernel refused the shape", c)
			continue
		}
		// ggml's kernel rounds Q to F16 and accumulates V in F16; the unfused
		// path multiplies in F32 like paw's (outputs are ~0.1 in size here).
		if errSM > 2e-4 || errFA > 4e-3 || math.IsNaN(float64(errFA)) {
			t.Errorf("case %+v: max |paw - ggml| = %.2g (flash attention), %.2g (soft_max path)", c, errFA, errSM)
		}
		t.Logf("case %+v: max abs diff %.2g vs ggml flash attention, %.2g vs soft_max path", c, errFA, errSM)
	}
}

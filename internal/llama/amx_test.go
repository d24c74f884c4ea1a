package llama

import "testing"

// TestMatmulKernel checks paw's AMX matrix kernel against ggml-cpu's own
// mul_mat (plain Q4_0/Q8_0 rows times Q8_0-quantized activations) and against
// the exact product of the dequantized weights (for Q6_K weights, which paw
// requantizes to Q8_0, only the latter), on random weights and
// activations: one row (a decode), odd row counts, input widths from 32 to
// 4096 that are not multiples of 2048 (both the VNNI path for 4 rows or
// fewer and the tile path), and weight row counts that are not
// multiples of the 16-row group.
func TestMatmulKernel(t *testing.T) {
	if MatmulKernel() != "amx" {
		t.Skip("paw's matrix kernel is not in use: the CPU has no AMX-INT8/AVX-512 (or PAW_MATMUL_KERNEL=ggml)")
	}
	type tc struct{ n, k, m int }
	cases := []tc{
		{16, 32, 1}, {17, 64, 1}, {40, 160, 2}, {31, 256, 4}, {50, 320, 5}, {33, 96, 3}, {1, 128, 16}, {100, 1024, 17},
		{1024, 1024, 1}, {64, 4096, 7}, {3072, 1024, 128}, {48, 3072, 33}, {200, 2016, 5},
	}
	// Q6_K rows are multiples of 256 wide.
	q6Cases := []tc{
		{16, 256, 1}, {17, 512, 1}, {40, 256, 2}, {31, 768, 4}, {50, 1024, 5}, {1, 256, 16}, {100, 1024, 17},
		{1024, 1024, 1}, {64, 4096, 7}, {3072, 1024, 128}, {48, 3072, 33},
	}
	var q6Paw, q6GGML float32 // Q6_K: sums over the cases of the errors from the exact product
	for _, typ := range []string{"q4_0", "q8_0", "q6_k"} {
		cs := cases
		if typ == "q6_k" {
			cs = q6Cases
		}
		for i, c := range cs {
			before := matmulNodes()
			errGGML, errExact, ggmlExact, maxOut, ok := matmulCheck(i+1, typ, c.n, c.k, c.m, 2)
			if !ok {
				t.Errorf("%s %+v: the kernel refused the shape", typ, c)
				continue
			}
			if matmulNodes() != before+1 {
				t.Fatalf("%s %+v: paw's kernel did not compute the matmul", typ, c)
			}
			t.Logf("%s %+v: max |paw - ggml| %.2g, |paw - exact| %.2g, |ggml - exact| %.2g, outputs up to %.3g",
				typ, c, errGGML, errExact, ggmlExact, maxOut)
			if typ == "q6_k" {
				// paw requantizes Q6_K weights to Q8_0 on upload (int8 per 32
				// values, step amax/127 of weights in [-1, 1)) and rounds the
				// activations (in [-2, 2)) to int8 per 32 values; ggml
				// multiplies the Q6_K weights exactly and rounds only the
				// activations, per 256 values (Q8_K). With these ranges the two
				// roundings of paw's add about as much variance as ggml's one,
				// so paw's error is ~1.4x ggml's: summed over the cases at most
				// 1.6x (measured 1.37x); in one case at most 2x plus 0.4% of
				// the outputs, since the largest of few outputs is noisy
				// (measured 3.1x, 0.13 against 0.043, on 16 outputs up to 23).
				if !(errExact <= 2*ggmlExact+4e-3*maxOut) {
					t.Errorf("%s %+v: max |paw - exact| = %.3g, more than 2x ggml's %.3g + 0.4%% of the outputs (up to %.3g)",
						typ, c, errExact, ggmlExact, maxOut)
				}
				q6Paw, q6GGML = q6Paw+errExact, q6GGML+ggmlExact
				continue
			}
			// paw rounds the activations to int8 per 32 values exactly as ggml
			// does (scale amax/127 as F16), so its outputs equal ggml's up to the
			// order of the float sums and are as far from the exact product.
			if !(errGGML <= 2e-5*maxOut) || !(errExact <= ggmlExact+2e-5*maxOut) {
				t.Errorf("%s %+v: max |paw - ggml| = %.3g, |paw - exact| = %.3g (ggml - exact %.3g), outputs up to %.3g",
					typ, c, errGGML, errExact, ggmlExact, maxOut)
			}
		}
	}
	if !(q6Paw <= 1.6*q6GGML) {
		t.Errorf("q6_k: paw's errors from the exact product sum to %.3g, more than 1.6x ggml's %.3g", q6Paw, q6GGML)
	}
	t.Logf("q6_k: errors from the exact product summed over the cases: paw %.3g, ggml %.3g (%.2fx)", q6Paw, q6GGML, q6Paw/q6GGML)
}

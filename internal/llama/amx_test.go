package llama

import "testing"

// TestMatmulKernel checks paw's AMX matrix kernel against ggml-cpu's own
// mul_mat (plain Q4_0/Q8_0 rows times Q8_0-quantized activations) and against
// the exact product of the dequantized weights, on random weights and
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
	for _, typ := range []string{"q4_0", "q8_0"} {
		for i, c := range cases {
			before := matmulNodes()
			errGGML, errExact, ggmlExact, maxOut, ok := matmulCheck(i+1, typ, c.n, c.k, c.m, 2)
			if !ok {
				t.Errorf("%s %+v: the kernel refused the shape", typ, c)
				continue
			}
			if matmulNodes() != before+1 {
				t.Fatalf("%s %+v: paw's kernel did not compute the matmul", typ, c)
			}
			// paw rounds the activations to int8 per 32 values exactly as ggml
			// does (scale amax/127 as F16), so its outputs equal ggml's up to the
			// order of the float sums and are as far from the exact product.
			if !(errGGML <= 2e-5*maxOut) || !(errExact <= ggmlExact+2e-5*maxOut) {
				t.Errorf("%s %+v: max |paw - ggml| = %.3g, |paw - exact| = %.3g (ggml - exact %.3g), outputs up to %.3g",
					typ, c, errGGML, errExact, ggmlExact, maxOut)
			}
			t.Logf("%s %+v: max |paw - ggml| %.2g, |paw - exact| %.2g, |ggml - exact| %.2g, outputs up to %.3g",
				typ, c, errGGML, errExact, ggmlExact, maxOut)
		}
	}
}

package llama

/*
#include "amx.h"
#include "ggml.h"
*/
import "C"

import (
	"os"
	"sync/atomic"
)

var (
	matmulKernel string      // "amx" when paw's matrix kernel is registered (Init)
	matmulOff    atomic.Bool // its claim on new models turned off (SetFastMatmul)
)

// registerMatmul puts paw's AMX matrix kernel (amx.cpp) first among ggml-cpu's
// extra buffer types before any model is loaded, unless PAW_MATMUL_KERNEL=ggml
// asks for ggml-cpu's own kernels: Q4_0 and Q8_0 matmul weights of models
// loaded afterwards are repacked for it (Q6_K ones requantized to Q8_0) and their matmuls (prompt and decode)
// run on it.
func registerMatmul() {
	if os.Getenv("PAW_MATMUL_KERNEL") == "ggml" {
		return
	}
	if k := C.paw_mm_register(); k != nil {
		matmulKernel = C.GoString(k)
	}
}

// MatmulKernel reports the kernel that computes Q4_0/Q8_0/Q6_K matmuls of models
// loaded from now on: "amx" (paw's), or "ggml" (ggml-cpu's repacked AVX-512/AVX2
// kernels) on CPUs without AMX, with PAW_MATMUL_KERNEL=ggml or after
// SetFastMatmul(false).
func MatmulKernel() string {
	Init()
	if matmulKernel == "" || matmulOff.Load() {
		return "ggml"
	}
	return matmulKernel
}

// SetFastMatmul turns paw's matrix kernel on or off for models loaded
// afterwards (on by default where the CPU has AMX), so that one process can
// measure both; models already loaded keep the kernel they were loaded with.
func SetFastMatmul(on bool) {
	Init()
	matmulOff.Store(!on)
	C.paw_mm_enable(C.bool(on))
}

// matmulCheck runs one random case of paw_mm_check (amx.h). Only the tests
// call it (cgo cannot be used in _test.go files).
// typ is "q4_0", "q8_0" or "q6_k".
func matmulCheck(seed int, typ string, n, k, m, threads int) (errGGML, errExact, ggmlErrExact, maxOut float32, ok bool) {
	Init()
	t := map[string]C.int{"q4_0": C.GGML_TYPE_Q4_0, "q8_0": C.GGML_TYPE_Q8_0, "q6_k": C.GGML_TYPE_Q6_K}[typ]
	var a, b, c, d C.float
	ok = bool(C.paw_mm_check(C.int(seed), t, C.int(n), C.int(k), C.int(m), C.int(threads), &a, &b, &c, &d))
	return float32(a), float32(b), float32(c), float32(d), ok
}

// matmulNodes counts the matmul nodes paw's matrix kernel has computed (tests).
func matmulNodes() int64 { return int64(C.paw_mm_nodes()) }

package llama

/*
#include "paw.h"
*/
import "C"

// int8Peak runs the int8 peak loop on the calling thread (see paw.h) and
// returns the multiply-adds done, 0 where the CPU lacks AVX-512 VNNI. Only
// BenchmarkInt8Peak uses it: the ceiling the matrix kernels are measured
// against.
func int8Peak(rounds int64) int64 { return int64(C.paw_int8_peak(C.longlong(rounds))) }

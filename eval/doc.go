// Package eval scores a fuzzy function on a test set: it reads cases (JSONL,
// Parquet, or the Input:/Output: examples of a spec), runs them through a
// one-method [Runner] — a compiled program, an older version of it or the
// hosted model it replaces — and reports exact-match accuracy, the
// confusion matrix and per-label figures, latency and tokens, calibration
// with the fallback threshold, and drift between two runs. It never prints;
// rendering the report is the caller's job.
package eval

import "errors"

// Sentinel errors.
var (
	ErrNoInput    = errors.New("eval: case has no input")
	ErrNoCases    = errors.New("eval: no cases")
	ErrNoColumn   = errors.New("eval: no such column")
	ErrBadType    = errors.New("eval: wrong value type")
	ErrMismatch   = errors.New("eval: runs are not over the same cases")
	ErrGate       = errors.New("eval: gate failed")
	ErrConfidence = errors.New("eval: confidence outside [0, 1]")
)

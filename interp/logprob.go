package interp

import "github.com/paw-dev/paw/internal/llama"

// logSumExp returns log(sum(exp(x))) of a logits row, stably (vectorized C:
// it runs once per generated token over the whole vocabulary).
func logSumExp(x []float32) float64 { return llama.LogSumExp(x) }

// logprobStats accumulates the log-probabilities of generated tokens.
type logprobStats struct {
	sum, min float64
	n        int
}

func (s *logprobStats) add(lp float64) {
	if s.n == 0 || lp < s.min {
		s.min = lp
	}
	s.sum += lp
	s.n++
}

func (s logprobStats) mean() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / float64(s.n)
}

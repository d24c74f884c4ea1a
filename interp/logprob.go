package interp

import "math"

// logSumExp returns log(sum(exp(x))) of a logits row, stably.
func logSumExp(x []float32) float64 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - m))
	}
	return float64(m) + math.Log(s)
}

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

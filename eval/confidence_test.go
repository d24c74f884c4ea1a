package eval

import (
	"math"
	"testing"
)

func TestConfidence(t *testing.T) {
	tests := []struct {
		name       string
		probs      map[string]float64
		output     string
		tokens     int
		logprobMin float64
		want       float64
		ok         bool
	}{
		{"label probability", map[string]float64{"a": 0.7, "b": 0.3}, "a", 1, -3, 0.7, true},
		{"output not a label", map[string]float64{"a": 0.7}, "c", 1, -3, 0, false},
		{"free text", nil, "hello", 2, math.Log(0.25), 0.25, true},
		{"nothing generated", nil, "", 0, 0, 0, false},
	}
	for _, tt := range tests {
		got, ok := Confidence(tt.probs, tt.output, tt.tokens, tt.logprobMin)
		if ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAgree(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"Billing", " billing\n", true},
		{`{"a": 1.0}`, `{"a":1}`, true},
		{"billing", "technical", false},
	} {
		if got := Agree(tt.a, tt.b); got != tt.want {
			t.Errorf("Agree(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

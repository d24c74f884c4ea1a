package eval

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// calibrationPoints are eight calls, worked by hand below.
var calibrationPoints = []Point{
	{0.95, true}, {0.95, true},
	{0.85, true}, {0.85, false},
	{0.55, true},
	{0.45, false}, {0.45, false},
	{0.15, false},
}

// TestCalibrate checks bins, ECE and the threshold curve against a hand
// calculation. With 10 bins of width 0.1 the calls fall in five bins:
//
//	bin [0.9,1.0): 0.95 ✓, 0.95 ✓  n 2, conf 0.95, acc 1    |acc−conf| 0.05
//	bin [0.8,0.9): 0.85 ✓, 0.85 ✗  n 2, conf 0.85, acc 0.5  |acc−conf| 0.35
//	bin [0.5,0.6): 0.55 ✓          n 1, conf 0.55, acc 1    |acc−conf| 0.45
//	bin [0.4,0.5): 0.45 ✗, 0.45 ✗  n 2, conf 0.45, acc 0    |acc−conf| 0.45
//	bin [0.1,0.2): 0.15 ✗          n 1, conf 0.15, acc 0    |acc−conf| 0.15
//
// ECE = (2·0.05 + 2·0.35 + 1·0.45 + 2·0.45 + 1·0.15) / 8 = 2.3 / 8 = 0.2875.
//
// With 5 bins of width 0.2: [0.8,1.0] holds 4 calls (conf 0.9, acc 0.75,
// gap 0.15), [0.4,0.6) holds 3 (conf 1.45/3, acc 1/3, gap 0.15) and
// [0,0.2) one (gap 0.15), so ECE = (4+3+1)·0.15 / 8 = 0.15.
//
// The curve keeps calls with confidence ≥ t local:
//
//	t 0.15: 8 local, 4 right → 0.5,  hosted 0
//	t 0.45: 7 local, 4 right → 4/7,  hosted 1/8
//	t 0.55: 5 local, 4 right → 0.8,  hosted 3/8
//	t 0.85: 4 local, 3 right → 0.75, hosted 1/2
//	t 0.95: 2 local, 2 right → 1,    hosted 3/4
func TestCalibrate(t *testing.T) {
	c := Calibrate(calibrationPoints, 0)
	var got []Bin
	for _, b := range c.Bins {
		if b.N > 0 {
			got = append(got, b)
		}
	}
	want := []Bin{
		{Lo: 0.1, Hi: 0.2, N: 1, Confidence: 0.15, Accuracy: 0},
		{Lo: 0.4, Hi: 0.5, N: 2, Confidence: 0.45, Accuracy: 0},
		{Lo: 0.5, Hi: 0.6, N: 1, Confidence: 0.55, Accuracy: 1},
		{Lo: 0.8, Hi: 0.9, N: 2, Confidence: 0.85, Accuracy: 0.5},
		{Lo: 0.9, Hi: 1, N: 2, Confidence: 0.95, Accuracy: 1},
	}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("bins (-want +got):\n%s", diff)
	}
	if len(c.Bins) != DefaultBins || c.N != 8 {
		t.Errorf("%d bins over %d calls, want 10 over 8", len(c.Bins), c.N)
	}
	if !cmp.Equal(c.ECE, 0.2875, approx) {
		t.Errorf("ECE %v, want 0.2875", c.ECE)
	}
	if five := Calibrate(calibrationPoints, 5); !cmp.Equal(five.ECE, 0.15, approx) || len(five.Bins) != 5 {
		t.Errorf("5 bins: ECE %v over %d bins, want 0.15 over 5", five.ECE, len(five.Bins))
	}
	wantCurve := []ThresholdPoint{
		{Threshold: 0.15, Local: 8, LocalAccuracy: 0.5, HostedShare: 0},
		{Threshold: 0.45, Local: 7, LocalAccuracy: 4.0 / 7, HostedShare: 1.0 / 8},
		{Threshold: 0.55, Local: 5, LocalAccuracy: 0.8, HostedShare: 3.0 / 8},
		{Threshold: 0.85, Local: 4, LocalAccuracy: 0.75, HostedShare: 0.5},
		{Threshold: 0.95, Local: 2, LocalAccuracy: 1, HostedShare: 0.75},
	}
	if diff := cmp.Diff(wantCurve, c.Curve, approx); diff != "" {
		t.Errorf("curve (-want +got):\n%s", diff)
	}
	// A confidence of exactly 1 belongs to the last bin.
	if one := Calibrate([]Point{{1, true}}, 10); one.Bins[9].N != 1 {
		t.Errorf("confidence 1 not in the last bin: %+v", one.Bins)
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		target    float64
		threshold float64 // 0: none reaches it
	}{
		{0.5, 0.15},  // every threshold does; the lowest sends nothing to the hosted model
		{0.8, 0.55},  // 0.55 reaches 0.8 though 0.85 does not: fewest hosted calls wins
		{0.9, 0.95},  // only the top threshold
		{1.01, 0},    // none
		{0.75, 0.55}, // 0.8 ≥ 0.75 at 0.55 already
	}
	for _, tt := range tests {
		c := Calibrate(calibrationPoints, 10)
		c.SetTarget(tt.target)
		switch {
		case tt.threshold == 0 && (c.Threshold != nil || !strings.Contains(c.TargetNote, "no threshold reaches accuracy 1.01: the best is 1 at threshold 0.95")):
			t.Errorf("target %v: threshold %+v, note %q; want none", tt.target, c.Threshold, c.TargetNote)
		case tt.threshold != 0 && (c.Threshold == nil || c.Threshold.Threshold != tt.threshold || c.TargetNote != ""):
			t.Errorf("target %v: threshold %+v, want %v", tt.target, c.Threshold, tt.threshold)
		}
	}
}

// TestRunCalibration: calls with a confidence and an expected answer are
// calibrated, others left out; the report carries ECE and the threshold.
func TestRunCalibration(t *testing.T) {
	var cases []Case
	answers := map[string]Answer{}
	for i, p := range calibrationPoints {
		in := string(rune('a' + i))
		cases = append(cases, expect(in, "yes"))
		out := "yes"
		if !p.Correct {
			out = "no"
		}
		answers[in] = Answer{Output: out, Valid: true, Confidence: p.Confidence, HasConfidence: true}
	}
	cases = append(cases, Case{Input: "unscored"}, expect("unknown", "yes"))
	answers["unscored"] = Answer{Output: "yes", Confidence: 0.1, HasConfidence: true}
	answers["unknown"] = Answer{Output: "no"}
	r, err := Run(context.Background(), RunnerFunc(func(_ context.Context, in string) (Answer, error) {
		a, ok := answers[in]
		if !ok {
			return a, errors.New("unexpected input")
		}
		return a, nil
	}), cases, Options{TargetAccuracy: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	if r.ECE == nil || !cmp.Equal(*r.ECE, 0.2875, approx) || r.Calibration.N != 8 {
		t.Fatalf("ECE %v over %d calls, want 0.2875 over 8", r.ECE, r.Calibration.N)
	}
	if th := r.Calibration.Threshold; th == nil || th.Threshold != 0.55 || r.Calibration.Target != 0.8 {
		t.Errorf("threshold %+v for target %v, want 0.55 for 0.8", th, r.Calibration.Target)
	}
}

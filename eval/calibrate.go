package eval

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Point is one call for calibration: its confidence and whether its output
// matched the expected answer (normalized).
type Point struct {
	Confidence float64
	Correct    bool
}

// Bin is one reliability bin: the calls with confidence in [Lo, Hi) (the
// last bin includes 1), their mean confidence and their accuracy.
type Bin struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	N          int     `json:"n"`
	Confidence float64 `json:"confidence"`
	Accuracy   float64 `json:"accuracy"`
}

// ThresholdPoint is the fallback route at one confidence threshold: calls
// with confidence ≥ Threshold stay local, the rest go to the hosted model.
type ThresholdPoint struct {
	Threshold     float64 `json:"threshold"`
	Local         int     `json:"local"`          // calls kept local
	LocalAccuracy float64 `json:"local_accuracy"` // their accuracy
	HostedShare   float64 `json:"hosted_share"`   // share sent to the hosted model
}

// Calibration is how well confidence predicts correctness, and the
// fallback threshold curve derived from it.
type Calibration struct {
	N    int   `json:"n"`
	Bins []Bin `json:"bins"`
	// ECE is the expected calibration error: Σ (n_bin/N)·|acc_bin − conf_bin|.
	ECE float64 `json:"ece"`
	// Curve has one point per distinct confidence, by rising threshold.
	Curve []ThresholdPoint `json:"curve"`
	// Target, when set (SetTarget), is the accuracy asked for; Threshold
	// is the point reaching it with the fewest hosted calls, nil when no
	// threshold does (TargetNote says so).
	Target     float64         `json:"target,omitempty"`
	Threshold  *ThresholdPoint `json:"threshold,omitempty"`
	TargetNote string          `json:"target_note,omitempty"`
}

// Calibrate bins points into bins equal-width bins over [0, 1]
// (DefaultBins when bins ≤ 0) and computes the ECE and threshold curve.
func Calibrate(points []Point, bins int) Calibration {
	if bins <= 0 {
		bins = DefaultBins
	}
	c := Calibration{N: len(points), Bins: make([]Bin, bins)}
	for i := range c.Bins {
		c.Bins[i].Lo, c.Bins[i].Hi = float64(i)/float64(bins), float64(i+1)/float64(bins)
	}
	for _, p := range points {
		b := &c.Bins[min(int(p.Confidence*float64(bins)), bins-1)]
		b.N++
		b.Confidence += p.Confidence
		b.Accuracy += b2f(p.Correct)
	}
	for i := range c.Bins {
		b := &c.Bins[i]
		b.Confidence, b.Accuracy = ratio(b.Confidence, b.N), ratio(b.Accuracy, b.N)
		c.ECE += ratio(float64(b.N), c.N) * math.Abs(b.Accuracy-b.Confidence)
	}
	c.Curve = thresholdCurve(points)
	return c
}

// thresholdCurve walks the calls from the most confident down; at each
// distinct confidence t the calls seen so far are those kept local.
func thresholdCurve(points []Point) []ThresholdPoint {
	sorted := slices.SortedFunc(slices.Values(points), func(a, b Point) int { return cmp.Compare(b.Confidence, a.Confidence) })
	var curve []ThresholdPoint
	correct := 0
	for i, p := range sorted {
		correct += int(b2f(p.Correct))
		if i+1 < len(sorted) && sorted[i+1].Confidence == p.Confidence {
			continue
		}
		kept := i + 1
		curve = append(curve, ThresholdPoint{Threshold: p.Confidence, Local: kept,
			LocalAccuracy: ratio(float64(correct), kept), HostedShare: 1 - ratio(float64(kept), len(sorted))})
	}
	slices.Reverse(curve)
	return curve
}

// SetTarget records target and the threshold that reaches it with the
// fewest hosted calls: the lowest threshold whose local accuracy is at
// least target.
func (c *Calibration) SetTarget(target float64) {
	c.Target, c.Threshold, c.TargetNote = target, nil, ""
	best := -1
	for i, p := range c.Curve {
		if p.LocalAccuracy >= target {
			c.Threshold = &c.Curve[i]
			return
		}
		if best < 0 || p.LocalAccuracy > c.Curve[best].LocalAccuracy {
			best = i
		}
	}
	if best < 0 {
		c.TargetNote = fmt.Sprintf("no threshold reaches accuracy %g: no calls with confidence", target)
		return
	}
	b := c.Curve[best]
	c.TargetNote = fmt.Sprintf("no threshold reaches accuracy %g: the best is %g at threshold %g (%d calls kept local)",
		target, b.LocalAccuracy, b.Threshold, b.Local)
}

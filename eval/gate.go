package eval

import (
	"errors"
	"fmt"
)

// Gates are CI limits on a report; a nil field is not checked (so a zero
// limit, such as MaxInvalid 0, can be asked for).
type Gates struct {
	MinAccuracy           *float64 // raw exact match
	MinAccuracyNormalized *float64
	MaxInvalid            *float64 // invalid rate
	MaxP95MS              *float64 // latency p95, milliseconds
}

// Check returns nil when r passes every gate, else an error matching
// ErrGate that lists each failed one.
func (g Gates) Check(r *Report) error {
	var errs []error
	check := func(limit *float64, got float64, isMin bool, what string) {
		switch {
		case limit == nil:
		case isMin && got < *limit:
			errs = append(errs, fmt.Errorf("%w: %s %.4g < %.4g", ErrGate, what, got, *limit))
		case !isMin && got > *limit:
			errs = append(errs, fmt.Errorf("%w: %s %.4g > %.4g", ErrGate, what, got, *limit))
		}
	}
	check(g.MinAccuracy, r.Accuracy, true, "accuracy")
	check(g.MinAccuracyNormalized, r.AccuracyNormalized, true, "normalized accuracy")
	check(g.MaxInvalid, r.InvalidRate, false, "invalid rate")
	check(g.MaxP95MS, r.LatencyMSP95, false, "latency p95 (ms)")
	return errors.Join(errs...)
}

package eval

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Drift compares two runs over the same cases: an old and a new version,
// or a program and its hosted baseline.
type Drift struct {
	N int `json:"n"`
	// Agreement is the share of cases whose answers match (normalized).
	Agreement float64 `json:"agreement"`
	Flips     []Flip  `json:"flips"`
	// LabelShift is, per label, how many cases each side answered with it
	// (classification-like runs only: see labelShift).
	LabelShift map[string]Shift `json:"label_shift,omitempty"`
	// Accuracies of each side, when the cases have expected answers.
	Scored      int      `json:"scored"`
	OldAccuracy *float64 `json:"old_accuracy,omitempty"`
	NewAccuracy *float64 `json:"new_accuracy,omitempty"`
}

// Flip is a case whose answer changed.
type Flip struct {
	Index    int      `json:"index"`
	Source   string   `json:"source,omitempty"`
	Input    string   `json:"input"`
	Expected *string  `json:"expected,omitempty"`
	Old      string   `json:"old"`
	New      string   `json:"new"`
	Tags     []string `json:"tags,omitempty"`
}

// Shift is one label's count on each side.
type Shift struct {
	Old   int `json:"old"`
	New   int `json:"new"`
	Delta int `json:"delta"` // New − Old
}

// Compare reports the drift from old to next. Both must be over the same
// cases in the same order (ErrMismatch otherwise).
func Compare(old, next *Report) (*Drift, error) {
	if len(old.Results) != len(next.Results) {
		return nil, fmt.Errorf("%w: %d cases against %d", ErrMismatch, len(old.Results), len(next.Results))
	}
	d := &Drift{N: len(old.Results), Flips: []Flip{}}
	agree := 0
	for i, o := range old.Results {
		n := next.Results[i]
		if o.Case.Input != n.Case.Input {
			return nil, fmt.Errorf("%w: case %d has input %q against %q", ErrMismatch, i, o.Case.Input, n.Case.Input)
		}
		if Agree(o.Answer, n.Answer) {
			agree++
			continue
		}
		f := Flip{Index: i, Source: o.Case.Source, Input: o.Case.Input, Old: o.Answer, New: n.Answer, Tags: o.Case.Tags}
		if o.Case.HasExpected {
			f.Expected = &o.Case.Expected
		}
		d.Flips = append(d.Flips, f)
	}
	d.Agreement = ratio(float64(agree), d.N)
	if old.Scored > 0 && old.Scored == next.Scored {
		d.Scored = old.Scored
		d.OldAccuracy, d.NewAccuracy = &old.Accuracy, &next.Accuracy
	}
	d.LabelShift = labelShift(old, next)
	return d, nil
}

// labelShift counts each side's answers per label (normalized, shown as
// first written), for classification-like runs: either report has labels,
// or the answers take at most DefaultMaxLabels short values.
func labelShift(old, next *Report) map[string]Shift {
	display := map[string]string{}
	counts := map[string]*Shift{}
	for i := range old.Results {
		for side, a := range []string{old.Results[i].Answer, next.Results[i].Answer} {
			k := normKey(a)
			if counts[k] == nil {
				display[k], counts[k] = strings.TrimSpace(a), new(Shift)
			}
			if side == 0 {
				counts[k].Old++
			} else {
				counts[k].New++
			}
		}
	}
	labelled := old.Labels != nil || next.Labels != nil
	if !labelled && (len(counts) > DefaultMaxLabels || slices.ContainsFunc(slices.Collect(maps.Values(display)), func(l string) bool {
		return !labelLike(Case{Expected: l})
	})) {
		return nil
	}
	m := map[string]Shift{}
	for k, s := range counts {
		s.Delta = s.New - s.Old
		m[display[k]] = *s
	}
	return m
}

// CheckAgreement returns an error matching ErrGate when the agreement is
// below minAgreement.
func (d *Drift) CheckAgreement(minAgreement float64) error {
	if d.Agreement < minAgreement {
		return fmt.Errorf("%w: agreement %.4g < %.4g (%d of %d cases flipped)", ErrGate, d.Agreement, minAgreement, len(d.Flips), d.N)
	}
	return nil
}

package eval

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func runTable(t *testing.T, cases []Case, answers map[string]string) *Report {
	t.Helper()
	r, err := Run(context.Background(), tableRunner(answers, nil, nil), cases, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCompare: the flips are exactly the cases whose answers differ
// (normalized), with both answers; label counts shift accordingly.
func TestCompare(t *testing.T) {
	cases := []Case{expect("a", "pos"), expect("b", "neg"), expect("c", "pos"), expect("d", "neg"), {Input: "e"}}
	old := runTable(t, cases, map[string]string{"a": "pos", "b": "pos", "c": "pos", "d": "neg", "e": "neg"})
	next := runTable(t, cases, map[string]string{"a": "POS", "b": "neg", "c": "neg", "d": "neg", "e": "pos"})
	d, err := Compare(old, next)
	if err != nil {
		t.Fatal(err)
	}
	pos, neg := "pos", "neg"
	want := &Drift{
		N:         5,
		Agreement: 2.0 / 5, // a ("pos" and "POS" agree normalized) and d
		Flips: []Flip{
			{Index: 1, Input: "b", Expected: &neg, Old: "pos", New: "neg"},
			{Index: 2, Input: "c", Expected: &pos, Old: "pos", New: "neg"},
			{Index: 4, Input: "e", Old: "neg", New: "pos"},
		},
		LabelShift: map[string]Shift{
			"pos": {Old: 3, New: 2, Delta: -1}, // a, b, c → a, e
			"neg": {Old: 2, New: 3, Delta: 1},  // d, e → b, c, d
		},
		Scored:      4,
		OldAccuracy: ptr(0.75), // a, c, d
		NewAccuracy: ptr(0.5),  // b, d; a's "POS" is no exact match
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	if err := d.CheckAgreement(0.4); err != nil {
		t.Errorf("agreement 0.4 against 0.4: %v", err)
	}
	if err := d.CheckAgreement(0.9); !errors.Is(err, ErrGate) || err.Error() != "eval: gate failed: agreement 0.4 < 0.9 (3 of 5 cases flipped)" {
		t.Errorf("agreement gate: %v", err)
	}
}

// TestCompareSaved: drift works on reports read back from JSON, and
// refuses runs over different cases.
func TestCompareSaved(t *testing.T) {
	cases := []Case{expect("a", "x"), expect("b", "y")}
	old := runTable(t, cases, map[string]string{"a": "x", "b": "x"})
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var saved Report
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	next := runTable(t, cases, map[string]string{"a": "x", "b": "y"})
	d, err := Compare(&saved, next)
	if err != nil || len(d.Flips) != 1 || d.Flips[0].Input != "b" || *d.OldAccuracy != 0.5 || *d.NewAccuracy != 1 {
		t.Errorf("drift from a saved report: %+v, %v", d, err)
	}
	if _, err := Compare(old, runTable(t, cases[:1], map[string]string{"a": "x"})); !errors.Is(err, ErrMismatch) {
		t.Errorf("different case counts: %v, want ErrMismatch", err)
	}
	other := runTable(t, []Case{expect("a", "x"), expect("c", "y")}, map[string]string{"a": "x", "c": "y"})
	if _, err := Compare(old, other); !errors.Is(err, ErrMismatch) {
		t.Errorf("different inputs: %v, want ErrMismatch", err)
	}
}

// TestScoreSaved: rescoring saved results gives the same report.
func TestScoreSaved(t *testing.T) {
	cases := []Case{expect("a", "x", "t"), expect("b", "y"), {Input: "c"}}
	r := runTable(t, cases, map[string]string{"a": "x", "b": "z", "c": "x"})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var saved Report
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, Score(saved.Results, Options{})); diff != "" {
		t.Errorf("rescored (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

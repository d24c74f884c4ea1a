package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeRunner is a Runner whose behaviour each test supplies.
type fakeRunner struct {
	RunFunc func(ctx context.Context, input string) (Answer, error)
}

func (f *fakeRunner) Run(ctx context.Context, input string) (Answer, error) {
	return f.RunFunc(ctx, input)
}

var _ Runner = (*fakeRunner)(nil)
var _ Runner = RunnerFunc(nil)

// tableRunner answers from a table, marking outputs outside labels invalid;
// each answer's latency and tokens come from latency.
func tableRunner(answers map[string]string, labels []string, latency map[string]time.Duration) *fakeRunner {
	return &fakeRunner{RunFunc: func(_ context.Context, input string) (Answer, error) {
		out, ok := answers[input]
		if !ok {
			return Answer{}, fmt.Errorf("no answer for %q", input)
		}
		return Answer{Output: out, Valid: slices.Contains(labels, out), Latency: latency[input], Tokens: 2, PromptTokens: 10}, nil
	}}
}

func expect(input, expected string, tags ...string) Case {
	return Case{Input: input, Expected: expected, HasExpected: true, Tags: tags}
}

var approx = cmpopts.EquateApprox(0, 1e-12)

// TestScoreClassification: a sentiment set where the runner is right on
// some cases and the expectations are deliberately wrong on others; every
// figure is worked out by hand in the comments.
func TestScoreClassification(t *testing.T) {
	cases := []Case{
		expect("a", "pos", "t1"), // pos ✓
		expect("b", "pos"),       // pos ✓
		expect("c", "pos", "t1"), // neg ✗
		expect("d", "neg"),       // neg ✓
		expect("e", "neg"),       // pos ✗ (a wrong expectation)
		expect("f", "neu"),       // neg ✗
		expect("g", "neu", "t1"), // "Neu " ✓ only normalized, and invalid
		{Input: "h"},             // pos, not scored
	}
	answers := map[string]string{"a": "pos", "b": "pos", "c": "neg", "d": "neg", "e": "pos", "f": "neg", "g": "Neu ", "h": "pos"}
	latency := map[string]time.Duration{}
	for i, in := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		latency[in] = time.Duration(i+1) * 10 * time.Millisecond // 10…80 ms
	}
	r, err := Run(context.Background(), tableRunner(answers, []string{"pos", "neg", "neu"}, latency), cases, Options{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	type figures struct {
		N, Scored, Calls, Errors           int
		Accuracy, AccuracyNormalized       float64
		InvalidRate                        float64
		LatencyMSP50, LatencyMSP95         float64
		Tokens, PromptTokens               int
		TokensMean                         float64
		Labels                             []string
		Confusion                          [][]int
		PerLabel                           map[string]LabelStats
		PerTag                             map[string]TagStats
		ConsistencyNil, ECENil, FailingIdx any
	}
	got := figures{r.N, r.Scored, r.Calls, r.Errors, r.Accuracy, r.AccuracyNormalized, r.InvalidRate,
		r.LatencyMSP50, r.LatencyMSP95, r.Tokens, r.PromptTokens, r.TokensMean, r.Labels, r.Confusion, r.PerLabel, r.PerTag,
		r.Consistency == nil, r.ECE == nil, failingIndexes(r)}
	want := figures{
		N: 8, Scored: 7, Calls: 8,
		Accuracy:           3.0 / 7, // a, b, d
		AccuracyNormalized: 4.0 / 7, // and g
		InvalidRate:        1.0 / 8, // "Neu "
		// Nearest rank over 10…80 ms: p50 is the 4th (ceil(0.5·8)), p95 the 8th (ceil(0.95·8)).
		LatencyMSP50: 40, LatencyMSP95: 80,
		Tokens: 16, PromptTokens: 80, TokensMean: 2,
		Labels: []string{"neg", "neu", "pos"}, // sorted: no declared labels
		Confusion: [][]int{ // rows expected, columns predicted
			{1, 0, 1}, // neg: d→neg, e→pos
			{1, 1, 0}, // neu: f→neg, g→neu
			{1, 0, 2}, // pos: a,b→pos, c→neg
		},
		PerLabel: map[string]LabelStats{
			// neg: TP 1, predicted 3 (c, d, f), expected 2: P 1/3, R 1/2, F1 2·(1/6)/(5/6) = 2/5.
			"neg": {Precision: 1.0 / 3, Recall: 0.5, F1: 0.4, Support: 2, Predicted: 3},
			// neu: TP 1, predicted 1, expected 2: P 1, R 1/2, F1 2·(1/2)/(3/2) = 2/3.
			"neu": {Precision: 1, Recall: 0.5, F1: 2.0 / 3, Support: 2, Predicted: 1},
			// pos: TP 2, predicted 3 (a, b, e), expected 3.
			"pos": {Precision: 2.0 / 3, Recall: 2.0 / 3, F1: 2.0 / 3, Support: 3, Predicted: 3},
		},
		PerTag:         map[string]TagStats{"t1": {N: 3, Accuracy: 1.0 / 3, AccuracyNormalized: 2.0 / 3}},
		ConsistencyNil: true, ECENil: true,
		FailingIdx: []int{2, 4, 5, 6},
	}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("figures (-want +got):\n%s", diff)
	}
	g := r.Failing[3]
	if g.Input != "g" || g.Output != "Neu " || !g.NormalizedMatch || !g.Invalid {
		t.Errorf("failure for g: %+v, want output %q, a normalized match, invalid", g, "Neu ")
	}
}

func failingIndexes(r *Report) []int {
	var idx []int
	for _, f := range r.Failing {
		idx = append(idx, f.Index)
	}
	return idx
}

// TestDeclaredLabels: declared labels keep their order and appear even when
// unused; an output outside them still gets a column.
func TestDeclaredLabels(t *testing.T) {
	cases := []Case{expect("a", "yes"), expect("b", "no")}
	r, err := Run(context.Background(), tableRunner(map[string]string{"a": "YES", "b": "maybe"}, nil, nil), cases,
		Options{Labels: []string{"yes", "no", "unsure"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"yes", "no", "unsure", "maybe"}, r.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	want := [][]int{{1, 0, 0, 0}, {0, 0, 0, 1}, {0, 0, 0, 0}, {0, 0, 0, 0}}
	if diff := cmp.Diff(want, r.Confusion); diff != "" {
		t.Errorf("confusion (-want +got):\n%s", diff)
	}
	if s := r.PerLabel["unsure"]; s != (LabelStats{}) {
		t.Errorf("unused label: %+v, want zeros", s)
	}
}

// TestFreeText: a set of free-text answers is not classification.
func TestFreeText(t *testing.T) {
	cases := []Case{expect("x", "Paris"), expect("y", "a longer answer\nover two lines")}
	r, err := Run(context.Background(), tableRunner(map[string]string{"x": "Paris", "y": "no"}, nil, nil), cases, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Labels != nil || r.Confusion != nil || r.PerLabel != nil {
		t.Errorf("free text got labels %v, confusion %v", r.Labels, r.Confusion)
	}
}

func TestNormalizedMatch(t *testing.T) {
	tests := []struct {
		name       string
		c          Case
		output     string
		raw, normd bool
	}{
		{"exact", expect("i", "Yes"), "Yes", true, true},
		{"case and space", expect("i", "Yes"), "  yes\n", false, true},
		{"json text", expect("i", `{"a":1,"b":[1,2]}`), `{ "b": [1, 2.0], "a": 1 }`, false, true},
		{"json value", Case{Input: "i", Expected: `{"a":1}`, HasExpected: true, ExpectedJSON: true}, `{"a": 1.0}`, true, true},
		{"json value, not json", Case{Input: "i", Expected: `{"a":1}`, HasExpected: true, ExpectedJSON: true}, `{a: 1}`, false, false},
		{"json strings are case-sensitive", expect("i", `{"a":"X"}`), `{"a":"x"}`, false, false},
		{"number forms", expect("i", "1"), "1.0", false, true},
		{"different", expect("i", "yes"), "no", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Result{Case: tt.c, Calls: []Call{{Output: tt.output, Valid: true}}}
			res.score()
			if res.Correct != tt.raw || res.CorrectNormalized != tt.normd {
				t.Errorf("raw %v normalized %v, want %v %v", res.Correct, res.CorrectNormalized, tt.raw, tt.normd)
			}
		})
	}
}

// TestRepeat: each case runs Repeat times; its answer is the most frequent
// output and its consistency that output's share.
func TestRepeat(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	seq := map[string][]string{
		"a": {"x", "x", "x", "x"},   // consistency 1
		"b": {"y", "x", "Y ", "z"},  // "y" twice (normalized): 0.5
		"c": {"p", "q", "r", "q"},   // "q" twice: 0.5
		"d": {"m", "n", "n", "err"}, // "n" twice; the error counts against: 0.5
	}
	r, err := Run(context.Background(), &fakeRunner{RunFunc: func(_ context.Context, in string) (Answer, error) {
		mu.Lock()
		out := seq[in][calls[in]]
		calls[in]++
		mu.Unlock()
		if out == "err" {
			return Answer{}, errors.New("boom")
		}
		return Answer{Output: out, Valid: true}, nil
	}}, []Case{expect("a", "x"), expect("b", "y"), expect("c", "q"), expect("d", "m")}, Options{Repeat: 4, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	var cons []float64
	for _, res := range r.Results {
		answers = append(answers, res.Answer)
		cons = append(cons, res.Consistency)
	}
	if diff := cmp.Diff([]string{"x", "y", "q", "n"}, answers); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{1, 0.5, 0.5, 0.5}, cons); diff != "" {
		t.Errorf("consistency (-want +got):\n%s", diff)
	}
	if r.Calls != 16 || r.Errors != 1 || r.Consistency == nil || *r.Consistency != 0.625 || r.InvalidRate != 1.0/16 {
		t.Errorf("calls %d errors %d consistency %v invalid %v; want 16, 1, 0.625, 1/16", r.Calls, r.Errors, r.Consistency, r.InvalidRate)
	}
	if r.Accuracy != 0.75 { // a, b, c right; d answered n, expected m
		t.Errorf("accuracy %v, want 0.75", r.Accuracy)
	}
}

// TestRunErrors: a runner error or a confidence out of range is recorded
// against the call, not returned.
func TestRunErrors(t *testing.T) {
	r, err := Run(context.Background(), &fakeRunner{RunFunc: func(_ context.Context, in string) (Answer, error) {
		if in == "bad" {
			return Answer{}, errors.New("context too long")
		}
		return Answer{Output: "ok", Valid: true, Confidence: 1.5, HasConfidence: true}, nil
	}}, []Case{expect("bad", "ok"), expect("good", "ok")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 2 || r.InvalidRate != 1 || r.Accuracy != 0 || len(r.Failing) != 2 {
		t.Fatalf("errors %d invalid %v accuracy %v failing %d; want 2, 1, 0, 2", r.Errors, r.InvalidRate, r.Accuracy, len(r.Failing))
	}
	if r.Failing[0].Error != "context too long" || r.Failing[1].Error != "eval: confidence outside [0, 1]: 1.5" {
		t.Errorf("recorded errors %q, %q", r.Failing[0].Error, r.Failing[1].Error)
	}
}

// TestRunCancel: a cancelled context stops the run and is returned.
func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	cases := make([]Case, 100)
	for i := range cases {
		cases[i] = Case{Input: fmt.Sprint(i)}
	}
	_, err := Run(ctx, &fakeRunner{RunFunc: func(ctx context.Context, _ string) (Answer, error) {
		if n.Add(1) == 3 {
			cancel()
		}
		return Answer{}, ctx.Err()
	}}, cases, Options{Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if got := n.Load(); got > 10 {
		t.Errorf("%d calls after cancelling at the 3rd", got)
	}
}

func TestGates(t *testing.T) {
	r := &Report{Accuracy: 0.8, AccuracyNormalized: 0.9, InvalidRate: 0.1, LatencyMSP95: 120}
	f := func(v float64) *float64 { return &v }
	if err := (Gates{MinAccuracy: f(0.8), MaxInvalid: f(0.1), MaxP95MS: f(120)}).Check(r); err != nil {
		t.Errorf("gates at the limits: %v", err)
	}
	err := Gates{MinAccuracy: f(0.81), MinAccuracyNormalized: f(0.9), MaxInvalid: f(0), MaxP95MS: f(100)}.Check(r)
	if !errors.Is(err, ErrGate) {
		t.Fatalf("error %v, want ErrGate", err)
	}
	want := "eval: gate failed: accuracy 0.8 < 0.81\n" +
		"eval: gate failed: invalid rate 0.1 > 0\n" +
		"eval: gate failed: latency p95 (ms) 120 > 100"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
}

func TestCostPer1000(t *testing.T) {
	// 3 answered calls: 300 prompt and 30 generated tokens, so 100 and 10
	// per call; at $2 and $8 per million, 1,000 calls cost
	// 1000·(100·2 + 10·8)/1e6 = $0.28. The failed call is not counted.
	r := &Report{Calls: 4, Errors: 1, PromptTokens: 300, Tokens: 30}
	if got := r.CostPer1000(2, 8); !cmp.Equal(got, 0.28, approx) {
		t.Errorf("cost %v, want 0.28", got)
	}
}

// TestReportJSON: the keys the CLI's --json promises are always present.
func TestReportJSON(t *testing.T) {
	r, err := Run(context.Background(), tableRunner(map[string]string{"a": "x"}, nil, nil), []Case{expect("a", "x")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"n", "accuracy", "accuracy_normalized", "invalid_rate", "confusion", "per_label", "latency_ms_p50", "latency_ms_p95", "ece", "failing"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, b)
		}
	}
}

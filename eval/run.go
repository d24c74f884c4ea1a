package eval

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Runner answers one input: a compiled program, an older version of it or
// the hosted model. Errors for one input are recorded in the report (the
// call counts as invalid); only a cancelled context stops a run.
type Runner interface {
	Run(ctx context.Context, input string) (Answer, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, input string) (Answer, error)

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, input string) (Answer, error) { return f(ctx, input) }

// Answer is one call's result.
type Answer struct {
	Output string
	// Valid reports that the output kept the program's contract (a label of
	// its set, JSON matching its schema); invalid calls count toward the
	// invalid rate.
	Valid bool
	// Confidence, when HasConfidence, is in [0, 1]: the probability of the
	// chosen label, or exp(logprob_min) (see ConfidenceFromLogprob).
	Confidence    float64
	HasConfidence bool
	Latency       time.Duration
	Tokens        int // generated tokens
	PromptTokens  int
}

// ConfidenceFromLogprob turns the lowest token log-probability of a
// generation into a confidence in [0, 1].
func ConfidenceFromLogprob(logprobMin float64) float64 {
	return min(1, math.Exp(logprobMin))
}

// Confidence is a call's confidence as calibration and fallback routing
// read it: the chosen label's probability when the call has label
// probabilities, else exp(logprob_min) of its generated tokens; none when
// it generated nothing. paw test's thresholds are on this scale.
func Confidence(probs map[string]float64, output string, tokens int, logprobMin float64) (float64, bool) {
	if probs != nil {
		p, ok := probs[output]
		return p, ok
	}
	if tokens > 0 {
		return ConfidenceFromLogprob(logprobMin), true
	}
	return 0, false
}

// Call is one recorded call, as it appears in a report.
type Call struct {
	Output       string   `json:"output"`
	Valid        bool     `json:"valid"`
	Confidence   *float64 `json:"confidence,omitempty"`
	LatencyMS    float64  `json:"latency_ms"`
	Tokens       int      `json:"tokens"`
	PromptTokens int      `json:"prompt_tokens,omitempty"`
	Error        string   `json:"error,omitempty"`
}

func newCall(a Answer, err error) Call {
	c := Call{Output: a.Output, Valid: a.Valid, LatencyMS: float64(a.Latency.Microseconds()) / 1000,
		Tokens: a.Tokens, PromptTokens: a.PromptTokens}
	if err == nil && a.HasConfidence && !(a.Confidence >= 0 && a.Confidence <= 1) {
		err = fmt.Errorf("%w: %v", ErrConfidence, a.Confidence)
	}
	if err != nil {
		return Call{Error: err.Error(), LatencyMS: c.LatencyMS}
	}
	if a.HasConfidence {
		c.Confidence = &a.Confidence
	}
	return c
}

// Result is one case and its calls (several with Repeat > 1).
type Result struct {
	Case  Case   `json:"case"`
	Calls []Call `json:"calls"`
	// Answer is the case's answer: the most frequent output among its calls
	// (normalized; the first seen wins a tie).
	Answer string `json:"answer"`
	// Correct and CorrectNormalized compare Answer with the expected answer
	// (both false without one).
	Correct           bool `json:"correct"`
	CorrectNormalized bool `json:"correct_normalized"`
	// Consistency is the share of the calls that gave Answer (normalized).
	Consistency float64 `json:"consistency"`
}

// Options configure Run and Score. The zero value works.
type Options struct {
	// Repeat calls the runner this many times per case (default 1), for
	// the consistency rate of a sampling runner.
	Repeat int
	// Concurrency is how many calls run at once (default 1).
	Concurrency int
	// Labels is the program's label set, when known; it orders the
	// confusion matrix and marks the set as classification. Without it a
	// set is classification when its expected answers are at most
	// MaxLabels short single-line values.
	Labels []string
	// MaxLabels bounds automatic classification (DefaultMaxLabels).
	MaxLabels int
	// Bins is the number of reliability bins (DefaultBins).
	Bins int
	// TargetAccuracy, when > 0, asks for the fallback threshold reaching it.
	TargetAccuracy float64
}

// Defaults for zero Options fields.
const (
	DefaultMaxLabels = 20
	DefaultBins      = 10
)

// Run calls r on every case (Repeat times each, Concurrency at once) and
// scores the answers. It returns early only when ctx is done.
func Run(ctx context.Context, r Runner, cases []Case, opts Options) (*Report, error) {
	repeat := max(opts.Repeat, 1)
	results := make([]Result, len(cases))
	for i := range results {
		results[i] = Result{Case: cases[i], Calls: make([]Call, repeat)}
	}
	jobs := make(chan [2]int)
	var wg sync.WaitGroup
	for range max(opts.Concurrency, 1) {
		wg.Go(func() {
			for j := range jobs {
				a, err := r.Run(ctx, cases[j[0]].Input)
				results[j[0]].Calls[j[1]] = newCall(a, err)
			}
		})
	}
feed:
	for i := range cases {
		for k := range repeat {
			if ctx.Err() != nil { // select would pick a ready worker half the time
				break feed
			}
			select {
			case jobs <- [2]int{i, k}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	return Score(results, opts), nil
}

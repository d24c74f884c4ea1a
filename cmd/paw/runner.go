package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/schema"
)

// funcRunner scores a loaded function with package eval: `paw test`, `paw
// diff` and any command that tests functions (a manifest's, say) use it.
//
// It lives in the CLI rather than the root package: the root importing eval
// would link eval's Parquet reader and its five compression libraries into
// every program that only calls functions, and package library (paw.yaml)
// may not import the root, so the CLI is where both kinds of `paw test` meet.
type funcRunner struct {
	fn   *paw.Function
	opts []paw.Option
	// With Temperature > 0 the n-th call of an input samples with seed
	// Seed+n: repeated calls differ (one seed gives one output), and a run
	// is reproducible whatever the concurrency.
	Temperature float32
	Seed        uint32

	mu    sync.Mutex
	calls map[string]uint32
}

var _ eval.Runner = (*funcRunner)(nil)

// newFuncRunner returns a runner calling fn with opts (which must not set
// the temperature: give it here).
func newFuncRunner(fn *paw.Function, temperature float32, seed uint32, opts ...paw.Option) *funcRunner {
	return &funcRunner{fn: fn, opts: slices.Clip(opts), Temperature: temperature, Seed: seed, calls: map[string]uint32{}}
}

// Run calls the function on input. An output that breaks the contract is an
// invalid answer, not an error; any other failure is returned.
func (r *funcRunner) Run(ctx context.Context, input string) (eval.Answer, error) {
	opts := r.opts
	if r.Temperature > 0 {
		r.mu.Lock()
		n := r.calls[input]
		r.calls[input]++
		r.mu.Unlock()
		opts = append(opts, paw.WithTemperature(r.Temperature, r.Seed+n))
	}
	res, err := r.fn.Call(ctx, input, opts...)
	valid := !errors.Is(err, paw.ErrNoValidOutput)
	if err != nil && valid {
		return eval.Answer{}, err
	}
	a := eval.Answer{Output: res.Output, Valid: valid, Latency: res.Latency, Tokens: res.Tokens, PromptTokens: res.PromptTokens}
	a.Confidence, a.HasConfidence = eval.Confidence(res.Probs, res.Output, res.Tokens, res.LogprobMin)
	return a, nil
}

// callContract is the contract calls run under: the one given on the command
// line, else the program's stored one (nil for free text).
func callContract(fn *paw.Function, given *schema.Contract) (*schema.Contract, error) {
	if given != nil {
		return given, nil
	}
	raw := fn.Program().Meta.Contract()
	if raw == nil {
		return nil, nil
	}
	var c schema.Contract
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: stored contract: %w", fn.Name(), err)
	}
	return &c, nil
}

// contractLabels is the label set of a labels contract (nil otherwise), which
// orders the confusion matrix.
func contractLabels(c *schema.Contract) []string {
	if c == nil || c.Kind != schema.KindLabels {
		return nil
	}
	return c.Labels
}

// validFunc tells whether an output keeps c (every output keeps no contract).
func validFunc(c *schema.Contract) func(string) bool {
	if c == nil {
		return nil
	}
	return func(out string) bool { return c.Validate(out) == nil }
}

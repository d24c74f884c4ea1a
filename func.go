package paw

import (
	"context"

	"github.com/paw-dev/paw/interp"
	"github.com/paw-dev/paw/program"
)

// Function is a loaded program. It is safe for concurrent use: concurrent
// calls are batched into shared decodes.
type Function struct {
	f    *interp.Func
	prog *program.Program // nil in base mode
}

// Result is one call's output: Output, the Program that produced it,
// PromptTokens and Tokens (generated), FinishReason (one of the Finish
// constants), Probs (each label's probability, for labels contracts),
// LogprobMean and LogprobMin (the output tokens' log-probabilities), and the
// Latency and FirstToken timings.
type Result = interp.Result

// Result.FinishReason values.
const (
	FinishStop    = interp.FinishStop    // the model ended its output
	FinishLength  = interp.FinishLength  // WithMaxTokens reached
	FinishContext = interp.FinishContext // the model's context is full
	FinishString  = interp.FinishString  // a WithStop string was reached
)

// Option tunes one call. The zero Option changes nothing.
type Option struct {
	apply func(*interp.CallOptions)
}

// WithMaxTokens bounds the output length (default DefaultMaxTokens).
func WithMaxTokens(n int) Option {
	return Option{func(o *interp.CallOptions) { o.MaxTokens = n }}
}

// WithTemperature samples instead of greedy decoding; the same seed gives the
// same output.
func WithTemperature(t float32, seed uint32) Option {
	return Option{func(o *interp.CallOptions) { o.Temperature, o.Seed = t, seed }}
}

// WithStop ends the output before the first of these strings.
func WithStop(s ...string) Option {
	return Option{func(o *interp.CallOptions) { o.Stop = append(o.Stop, s...) }}
}

// WithLogprobs fills Result.Logprobs with each output token's
// log-probability, and top (0 to MaxTopLogprobs) most probable alternatives
// at each step.
func WithLogprobs(top int) Option {
	return Option{func(o *interp.CallOptions) { o.Logprobs, o.TopLogprobs = true, top }}
}

// WithStream streams the call to fn, token by token (see Function.Stream).
func WithStream(fn func(Token) error) Option {
	return Option{func(o *interp.CallOptions) { o.OnToken = fn }}
}

// Token is one step of a streamed call: Text is what it adds to the output
// (held back, so possibly empty, while it may still change), Logprob the
// token generated (nil on a last Token releasing text held back).
type Token = interp.Token

// TokenLogprob is one output token, its log-probability and, when asked, the
// most probable tokens at its step.
type TokenLogprob = interp.TokenLogprob

// MaxTopLogprobs bounds WithLogprobs' top.
const MaxTopLogprobs = interp.MaxTopLogprobs

func callOptions(opts []Option) interp.CallOptions {
	var o interp.CallOptions
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(&o)
		}
	}
	return o
}

// Call runs the function on one input.
func (f *Function) Call(ctx context.Context, input string, opts ...Option) (Result, error) {
	return f.f.Call(ctx, input, callOptions(opts))
}

// Stream runs the function on one input and passes fn each Token as it is
// generated; the Tokens' texts add up to the Result's Output. fn runs on the
// caller's goroutine while the decode goes on: a slow fn slows no other
// call. An error from fn cancels the call and is returned. A function with
// an output contract (labels, JSON) streams its validated output as one
// Token when done.
func (f *Function) Stream(ctx context.Context, input string, fn func(Token) error, opts ...Option) (Result, error) {
	return f.f.Call(ctx, input, callOptions(append(opts, WithStream(fn))))
}

// Batch runs the function on several inputs, decoded together, with at most
// Options.MaxBatch calls in flight; results are in input order. It stops at
// the first error: the calls still running are cancelled, and the error
// names the input.
func (f *Function) Batch(ctx context.Context, inputs []string, opts ...Option) ([]Result, error) {
	return f.f.Batch(ctx, inputs, callOptions(opts))
}

// Program is the loaded bundle (nil in base mode).
func (f *Function) Program() *program.Program { return f.prog }

// Name is the program id, or "base:ARCH" in base mode.
func (f *Function) Name() string { return f.f.Name() }

// Close releases the function's adapter and prefix cache. Calls in flight
// and later calls fail with ErrFuncClosed.
func (f *Function) Close() error { return f.f.Close() }

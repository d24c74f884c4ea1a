package paw

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/paw-dev/paw/interp"
	"github.com/paw-dev/paw/schema"
)

// WithContract constrains one call's output (see package schema).
func WithContract(c schema.Contract) Option {
	return Option{func(o *interp.CallOptions) { o.Contract = &c }}
}

// withContract returns opts with c last (it wins over any WithContract in
// opts), in a new array: appending into the caller's spare capacity would
// race with another goroutine passing the same slice.
func withContract(opts []Option, c schema.Contract) []Option {
	return append(slices.Clip(opts), WithContract(c))
}

// Classifier calls a function constrained to a fixed label set.
type Classifier[T ~string] struct {
	fn       *Function
	contract schema.Contract
}

// Labels constrains fn to answer exactly one of labels:
//
//	type Priority string
//	cls, err := paw.Labels[Priority](fn, "urgent", "normal", "low")
//	p, probs, err := cls.Call(ctx, "Server down since 3am")
func Labels[T ~string](fn *Function, labels ...T) (*Classifier[T], error) {
	s := make([]string, len(labels))
	for i, l := range labels {
		s[i] = string(l)
	}
	c, err := schema.Labels(s...)
	if err != nil {
		return nil, err
	}
	return &Classifier[T]{fn: fn, contract: c}, nil
}

// Call returns the most probable label and every label's probability (they
// sum to 1), scored exactly rather than sampled.
func (c *Classifier[T]) Call(ctx context.Context, input string, opts ...Option) (T, map[T]float64, error) {
	res, err := c.fn.Call(ctx, input, withContract(opts, c.contract)...)
	if err != nil {
		return "", nil, err
	}
	probs := make(map[T]float64, len(res.Probs))
	for l, p := range res.Probs {
		probs[T(l)] = p
	}
	return T(res.Output), probs, nil
}

// Structured calls a function constrained to JSON matching T's schema.
type Structured[T any] struct {
	fn       *Function
	contract schema.Contract
}

// JSON constrains fn to output JSON for T, with the schema derived from T's
// fields and json tags (omitempty fields are optional):
//
//	type Ticket struct{ Team string `json:"team"`; Urgent bool `json:"urgent"` }
//	j, err := paw.JSON[Ticket](fn)
//	t, err := j.Call(ctx, "Server down since 3am")
func JSON[T any](fn *Function) (*Structured[T], error) {
	var zero T
	raw, err := schema.FromGoType(zero)
	if err != nil {
		return nil, fmt.Errorf("paw: schema for %T: %w", zero, err)
	}
	c, err := schema.JSON(raw)
	if err != nil {
		return nil, err
	}
	return &Structured[T]{fn: fn, contract: c}, nil
}

// Call decodes JSON valid against T's schema and unmarshals it.
func (s *Structured[T]) Call(ctx context.Context, input string, opts ...Option) (T, error) {
	var v T
	res, err := s.fn.Call(ctx, input, withContract(opts, s.contract)...)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(res.Output), &v); err != nil {
		return v, fmt.Errorf("paw: decode %T: %w", v, err)
	}
	return v, nil
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

// ErrUpstream reports that the upstream model could not answer a fallback
// or shadow request (down, timed out, or an answer breaking the contract).
var ErrUpstream = errors.New("server: upstream model failed")

// Fallback reasons, as the paw_fallbacks_total metric labels them.
const (
	reasonInvalid       = "invalid"
	reasonLowConfidence = "low_confidence"
)

// answer is one input's result and the path that answered it.
type answer struct {
	paw.Result
	Path string
}

// routeFor is the route of a request for ref served by fn: the one the
// routing file gives the reference as asked, else its program id.
func (s *Server) routeFor(ref string, fn *paw.Function) Route {
	for _, k := range []string{ref, s.canonical(ref), fn.Name()} {
		if r, ok := s.cfg.Routes[k]; ok {
			return r
		}
	}
	// A route keyed by a slug covers requests by program id too.
	for k, r := range s.cfg.Routes {
		if s.canonical(k) == fn.Name() {
			return r
		}
	}
	return Route{Mode: RouteLocal}
}

// local runs c's inputs on fn.
func (s *Server) local(ctx context.Context, fn *paw.Function, c call) ([]answer, error) {
	var res []paw.Result
	var err error
	if len(c.inputs) == 1 {
		opts := c.opts
		if c.stream != nil {
			opts = append(slices.Clip(opts), paw.WithStream(c.stream))
		}
		var r paw.Result
		r, err = s.call(ctx, fn, c.inputs[0], opts...)
		res = []paw.Result{r}
	} else {
		res, err = fn.Batch(ctx, c.inputs, c.opts...)
	}
	out := make([]answer, len(res))
	for i, r := range res {
		out[i] = answer{Result: r, Path: api.PathLocal}
	}
	return out, err
}

// routed runs c's inputs on a fallback or shadow route, each on its own
// (the engine batches concurrent calls); the first error fails the request.
func (s *Server) routed(ctx context.Context, fn *paw.Function, rt Route, c call) ([]answer, error) {
	contract, err := s.contractOf(fn, c.contract)
	if err != nil {
		return nil, err
	}
	out := make([]answer, len(c.inputs))
	errs := make([]error, len(c.inputs))
	var wg sync.WaitGroup
	for i, in := range c.inputs {
		wg.Go(func() {
			if rt.Mode == RouteShadow {
				out[i], errs[i] = s.shadowed(ctx, fn, rt, c, in, contract)
			} else {
				out[i], errs[i] = s.fallback(ctx, fn, rt, c, in, contract)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// fallback answers locally unless the answer is invalid or not confident
// enough, and then from the upstream model.
func (s *Server) fallback(ctx context.Context, fn *paw.Function, rt Route, c call, input string, contract *schema.Contract) (answer, error) {
	start := time.Now()
	res, err := s.call(ctx, fn, input, c.opts...)
	var reason string
	switch {
	case errors.Is(err, paw.ErrNoValidOutput):
		reason = reasonInvalid
	case err != nil:
		return answer{}, err
	default:
		if conf, ok := eval.Confidence(res.Probs, res.Output, res.Tokens, res.LogprobMin); ok && rt.Threshold != nil && conf < *rt.Threshold {
			reason = reasonLowConfidence
		}
	}
	if reason == "" {
		return answer{Result: res, Path: api.PathLocal}, nil
	}
	s.metrics.fallbacks.WithLabelValues(fn.Name(), reason).Inc()
	up, err := s.upstream(ctx, fn, rt, input, contract)
	if err != nil {
		return answer{}, fmt.Errorf("fallback (local answer %s): %w", reason, err)
	}
	up.Latency = time.Since(start)
	return answer{Result: up, Path: api.PathFallback}, nil
}

// shadowed answers from the upstream model and queues the local call to
// compare with it.
func (s *Server) shadowed(ctx context.Context, fn *paw.Function, rt Route, c call, input string, contract *schema.Contract) (answer, error) {
	up, err := s.upstream(ctx, fn, rt, input, contract)
	if err != nil {
		return answer{}, err
	}
	s.shadow.submit(shadowJob{ref: fn.Name(), name: c.ref, input: input, opts: c.opts, want: up.Output})
	return answer{Result: up, Path: api.PathUpstream}, nil
}

// upstream asks the route's upstream model about input, prompted with the
// program's spec as paw test's baseline is. An answer breaking the
// contract is an error: a client asking for labels or a schema never gets
// anything else with a 200.
func (s *Server) upstream(ctx context.Context, fn *paw.Function, rt Route, input string, contract *schema.Contract) (paw.Result, error) {
	var spec string
	if p := fn.Program(); p != nil {
		spec = p.Meta.Spec
	}
	comp, err := rt.Upstream.Complete(ctx, spec, input)
	if err == nil && contract != nil {
		comp.Text = fitContract(*contract, comp.Text)
		if verr := contract.Validate(comp.Text); verr != nil {
			err = fmt.Errorf("answer %q breaks the contract: %w", comp.Text, verr)
		}
	}
	if err != nil {
		s.metrics.upstreamErrors.WithLabelValues(fn.Name()).Inc()
		return paw.Result{}, fmt.Errorf("%w: %s: %w", ErrUpstream, fn.Name(), err)
	}
	return paw.Result{Output: comp.Text, Tokens: comp.CompletionTokens, PromptTokens: comp.PromptTokens,
		Latency: comp.Latency, Program: fn.Name(), FinishReason: paw.FinishStop}, nil
}

// contractOf is the contract a call runs under: the request's, else the
// program's stored one (nil for free text).
func (s *Server) contractOf(fn *paw.Function, given *schema.Contract) (*schema.Contract, error) {
	if given != nil || fn.Program() == nil {
		return given, nil
	}
	raw := fn.Program().Meta.Contract()
	if raw == nil {
		return nil, nil
	}
	var c schema.Contract
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: stored contract: %w", program.ErrMeta, fn.Name(), err)
	}
	return &c, nil
}

// fitContract trims a hosted model's answer and, for labels, takes the
// label it names up to case ("Billing" is billing): chat models add
// whitespace and capitals that a compiled program never would.
func fitContract(c schema.Contract, text string) string {
	text = strings.TrimSpace(text)
	if c.Kind == schema.KindLabels {
		for _, l := range c.Labels {
			if strings.EqualFold(l, text) {
				return l
			}
		}
	}
	return text
}

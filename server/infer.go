package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/registry"
	"github.com/paw-dev/paw/schema"
)

// call is one inference request: a program, its inputs (one, or a batch)
// and the options for each.
type call struct {
	ref    string
	inputs []string
	opts   []paw.Option
	// contract is the request's own output contract (response_format),
	// which opts carry too; upstream answers are checked against it.
	contract *schema.Contract
	// stream, when set, gets a one-input local call's tokens as they come
	// (fallback and shadow answers are whole: a local answer may be
	// replaced).
	stream func(paw.Token) error
}

// run admits c, loads its program and runs it on its route under the
// request deadline. It notes on w (the request's recorder) what answered,
// for the access log and the metrics, and names the answering path in the
// X-Paw-Path header. A client that disconnects cancels ctx, which cancels
// its calls.
func (s *Server) run(ctx context.Context, w http.ResponseWriter, c call) ([]answer, error) {
	if err := s.checkRef(c.ref); err != nil {
		return nil, err
	}
	for i, in := range c.inputs {
		if len(in) > s.cfg.MaxInputBytes {
			return nil, fmt.Errorf("%w: input %d has %d bytes, over the limit of %d", ErrInputTooLarge, i, len(in), s.cfg.MaxInputBytes)
		}
	}
	if len(c.inputs) > s.cfg.QueueDepth {
		return nil, fmt.Errorf("%w: a batch of %d inputs is over the queue depth %d; split it", ErrBadRequest, len(c.inputs), s.cfg.QueueDepth)
	}
	release, err := s.queue.admit(len(c.inputs))
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	fn, done, err := s.funcs.get(ctx, s.ctx, s.canonical(c.ref), false)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", c.ref, err)
	}
	defer done()
	var res []answer
	if rt := s.routeFor(c.ref, fn); rt.Mode == RouteLocal {
		w.Header().Set(api.HeaderPath, api.PathLocal) // before a stream starts
		res, err = s.local(ctx, fn, c)
	} else {
		res, err = s.routed(ctx, fn, rt, c)
	}
	path := answeredBy(res)
	if rw, ok := w.(*recorder); ok {
		rw.function, rw.path = fn.Name(), path
		for _, r := range res {
			rw.tokensIn += r.PromptTokens
			rw.tokens += r.Tokens
		}
	}
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", c.ref, err)
	}
	s.count(c.ref, fn.Name(), func(st *registry.ServeStats) {
		for _, r := range res {
			st.Calls++
			if r.Path == api.PathFallback {
				st.Fallbacks++
			}
		}
	})
	w.Header().Set(api.HeaderPath, path)
	return res, nil
}

// answeredBy is the path of a request's answers: the one furthest from
// local when a batch mixes them.
func answeredBy(res []answer) string {
	path := api.PathLocal
	for _, r := range res {
		switch r.Path {
		case api.PathUpstream:
			return r.Path
		case api.PathFallback:
			path = r.Path
		}
	}
	return path
}

// canonical is the program id a cached slug names, so that a program asked
// for by slug and by id is loaded once; any other reference is kept.
func (s *Server) canonical(ref string) string {
	if s.cfg.Hub == nil || s.funcs.has(ref) {
		return ref
	}
	if r, err := program.ParseRef(ref); err != nil || !r.IsSlug() {
		return ref
	}
	if dir, err := s.cfg.Hub.ProgramPath(ref); err == nil && program.ValidID(filepath.Base(dir)) {
		return filepath.Base(dir)
	}
	return ref
}

// checkRef refuses what the server never runs: an empty reference, the
// base model itself, and a local path not preloaded (a client must not
// make the server open files).
func (s *Server) checkRef(ref string) error {
	if ref == "" {
		return fmt.Errorf("%w: no program named (program_id, or model for the OpenAI routes)", ErrBadRequest)
	}
	if s.funcs.has(ref) || slices.Contains(s.cfg.Programs, ref) {
		return nil
	}
	_, isRuntime := hub.OfficialRuntimes()[ref]
	if _, err := program.ParseInterpreter(ref); err == nil || isRuntime || slices.Contains(s.cfg.BaseModels, ref) {
		return fmt.Errorf("%w: %q is the base model (or an interpreter); name a program (GET /v1/models lists them)", ErrBaseModel, ref)
	}
	r, err := program.ParseRef(ref)
	if err != nil {
		return fmt.Errorf("%w: %w", hub.ErrBadRef, err)
	}
	if r.Path != "" {
		return fmt.Errorf("%w: %q", ErrLocalPath, ref)
	}
	return nil
}

// options are a request's sampling options.
func options(maxTokens int, temperature *float64, seed *int64, stop []string) ([]paw.Option, error) {
	if maxTokens < 0 {
		return nil, fmt.Errorf("%w: max_tokens %d is negative", ErrBadRequest, maxTokens)
	}
	var opts []paw.Option
	if maxTokens > 0 {
		opts = append(opts, paw.WithMaxTokens(maxTokens))
	}
	if temperature != nil && *temperature != 0 {
		var sd uint32
		if seed != nil {
			sd = uint32(*seed)
		}
		opts = append(opts, paw.WithTemperature(float32(*temperature), sd))
	}
	if len(stop) > 0 {
		opts = append(opts, paw.WithStop(stop...))
	}
	return opts, nil
}

// jsonObject is the schema of response_format json_object.
const jsonObject = `{"type": "object"}`

// contractFor turns an OpenAI response_format into an output contract (nil
// for free text). An invalid or unsupported schema is an error, never
// unconstrained output.
func contractFor(rf *api.ResponseFormat) (*schema.Contract, error) {
	if rf == nil {
		return nil, nil
	}
	var raw []byte
	switch rf.Type {
	case "", api.FormatText:
		return nil, nil
	case api.FormatJSONObject:
		raw = []byte(jsonObject)
	case api.FormatJSONSchema:
		if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
			return nil, fmt.Errorf("%w: response_format json_schema needs json_schema.schema", ErrBadRequest)
		}
		raw = rf.JSONSchema.Schema
	default:
		return nil, fmt.Errorf("%w: response_format type %q (want text, json_object or json_schema)", ErrUnsupported, rf.Type)
	}
	c, err := schema.JSON(raw)
	if err != nil {
		return nil, fmt.Errorf("response_format: %w", err)
	}
	return &c, nil
}

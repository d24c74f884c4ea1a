package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/registry"
)

// The PAW REST routes, under /api/v1, in the official service's shapes.

func (s *Server) handleInfer(w http.ResponseWriter, r *http.Request) {
	var req api.InferRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.infer(r.Context(), w, req.ProgramID, []string{req.Input}, req.MaxTokens, req.Temperature)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inferResponse(res[0]))
}

func (s *Server) handleInferBatch(w http.ResponseWriter, r *http.Request) {
	var req api.InferBatchRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Inputs) == 0 {
		s.writeError(w, r, fmt.Errorf("%w: inputs is empty", ErrBadRequest))
		return
	}
	res, err := s.infer(r.Context(), w, req.ProgramID, req.Inputs, req.MaxTokens, req.Temperature)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := api.InferBatchResponse{Results: make([]api.InferResponse, len(res))}
	for i, r := range res {
		out.Results[i] = inferResponse(r)
	}
	writeJSON(w, http.StatusOK, out)
}

// infer runs a PAW REST inference (greedy unless a temperature is given).
func (s *Server) infer(ctx context.Context, w http.ResponseWriter, ref string, inputs []string, maxTokens int, temperature *float64) ([]answer, error) {
	opts, err := options(maxTokens, temperature, nil, nil)
	if err != nil {
		return nil, err
	}
	return s.run(ctx, w, call{ref: ref, inputs: inputs, opts: opts})
}

func inferResponse(r answer) api.InferResponse {
	return api.InferResponse{Output: r.Output, TokensGenerated: r.Tokens, LatencyMS: float64(r.Latency.Microseconds()) / 1000,
		ProgramID: r.Program, FinishReason: r.FinishReason, Probs: r.Probs,
		LogprobMin: r.LogprobMin, LogprobMean: r.LogprobMean, Path: r.Path}
}

// handleProgramPath serves GET /programs/resolve/{slug...},
// /programs/{ref}/download and /programs/{ref} (a ref may be a slug, with
// its slash).
func (s *Server) handleProgramPath(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	if slug, ok := strings.CutPrefix(ref, "resolve/"); ok {
		res, err := s.resolve(r.Context(), slug)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	if id, ok := strings.CutSuffix(ref, "/download"); ok {
		s.handleDownload(w, r, id)
		return
	}
	info, err := s.programInfo(r.Context(), ref)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// resolve maps a slug to its program id: a loaded function's, else the
// hub's answer (from its cache, or the service when the hub is online).
func (s *Server) resolve(ctx context.Context, slug string) (api.ResolveResponse, error) {
	if err := s.checkRef(slug); err != nil {
		return api.ResolveResponse{}, err
	}
	ref, err := program.ParseRef(slug)
	if err != nil || ref.ID != "" {
		return api.ResolveResponse{}, fmt.Errorf("%w: %q is not a slug", ErrBadRequest, slug)
	}
	res := api.ResolveResponse{Slug: slug, Version: ref.Version}
	for _, l := range s.funcs.loaded() {
		if slices.Contains(l.refs, slug) {
			res.ProgramID = l.fn.Name()
			return res, nil
		}
	}
	if s.cfg.Hub == nil {
		return res, fmt.Errorf("%w: %s", ErrNoProgram, slug)
	}
	if res.ProgramID, err = s.cfg.Hub.ResolveSlug(ctx, slug); err != nil {
		return res, err
	}
	return res, nil
}

// program returns the bundle ref names: a loaded function's, else the
// hub's cached copy (never fetched for a GET).
func (s *Server) program(ref string) (p *program.Program, loaded bool, err error) {
	for _, l := range s.funcs.loaded() {
		if slices.Contains(l.refs, ref) && l.fn.Program() != nil {
			return l.fn.Program(), true, nil
		}
	}
	if err := s.checkRef(ref); err != nil {
		return nil, false, err
	}
	if s.cfg.Hub == nil {
		return nil, false, fmt.Errorf("%w: %s", ErrNoProgram, ref)
	}
	dir, err := s.cfg.Hub.ProgramPath(ref)
	if err != nil {
		return nil, false, err
	}
	p, err = program.Open(dir)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", hub.ErrInvalidBundle, ref, err)
	}
	return p, false, nil
}

func (s *Server) programInfo(ctx context.Context, ref string) (api.ProgramInfo, error) {
	p, loaded, err := s.program(ref)
	if err != nil {
		return api.ProgramInfo{}, err
	}
	m := p.Meta
	info := api.ProgramInfo{ID: m.ProgramID, Name: m.ProgramID, Spec: m.Spec, Interpreter: m.Interpreter, RuntimeID: m.RuntimeID,
		CompilerSnapshot: m.CompilerSnapshot, CreatedAt: m.CreatedAt, Contract: m.Contract(), Loaded: loaded,
		Aliases: s.aliases(m.ProgramID)}
	if len(info.Aliases) > 0 {
		info.Name = info.Aliases[0]
	}
	info.Registry = s.registryInfo(ctx, m.ProgramID)
	return info, nil
}

// registryInfo is what the registry says of the function program id is a
// version of (its latest such version); nil without a registry or when
// the program is not registered. The registry is optional here, so a
// failure to read it is logged, not returned.
func (s *Server) registryInfo(ctx context.Context, id string) *api.RegistryInfo {
	if s.cfg.Registry == nil {
		return nil
	}
	fns, err := s.cfg.Registry.List(ctx)
	if err != nil {
		s.log.Warn("cannot read the registry", "err", err)
		return nil
	}
	for _, f := range fns {
		d, err := s.cfg.Registry.Show(ctx, f.Name)
		if err != nil {
			s.log.Warn("cannot read the registry", "function", f.Name, "err", err)
			continue
		}
		for i := len(d.Versions) - 1; i >= 0; i-- {
			if v := d.Versions[i]; v.ProgramID == id {
				return &api.RegistryInfo{Function: f.Name, Owner: f.Owner, Scope: f.Scope, Version: v.Number,
					LiveVersion: f.Live, Retired: f.Retired, Expired: f.Expired, LastTest: lastTest(v.Test)}
			}
		}
	}
	return nil
}

// lastTest summarises a recorded test; the report's accuracy and case
// count are read when it has them.
func lastTest(t *registry.TestResult) *api.RegistryTest {
	if t == nil {
		return nil
	}
	out := &api.RegistryTest{Passed: t.Passed, At: t.At.UTC().Format(time.RFC3339)}
	var rep struct {
		Accuracy *float64 `json:"accuracy"`
		N        int      `json:"n"`
	}
	if json.Unmarshal(t.Result, &rep) == nil {
		out.Accuracy, out.N = rep.Accuracy, rep.N
	}
	return out
}

// aliases are the cached slugs of program id.
func (s *Server) aliases(id string) []string {
	out := []string{}
	if s.cfg.Hub == nil {
		return out
	}
	items, err := s.cfg.Hub.List()
	if err != nil {
		s.log.Warn("cannot list the cache", "err", err)
		return out
	}
	for _, it := range items {
		if it.Kind == hub.KindProgram && it.ID == id {
			out = append(out, it.Slugs...)
		}
	}
	return out
}

// handleDownload serves the bundle as the official .paw ZIP, or 202 with
// Retry-After while the program is still being loaded at start.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, ref string) {
	if s.preloading(ref) {
		s.writeError(w, r, fmt.Errorf("%w: %s", ErrBuilding, ref))
		return
	}
	p, _, err := s.program(ref)
	var buf bytes.Buffer
	if err == nil {
		err = p.Write(&buf)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.paw"`, p.Meta.ProgramID))
	_, _ = buf.WriteTo(w)
}

// handleRuntime serves a runtime manifest: the cached one, else one made
// from the pin of an official runtime.
func (s *Server) handleRuntime(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var m *api.RuntimeManifest
	err := fmt.Errorf("%w: runtime %s", ErrNoProgram, id)
	if s.cfg.Hub != nil {
		m, err = s.cfg.Hub.RuntimeManifest(id)
	}
	if pin, ok := hub.OfficialRuntimes()[id]; errors.Is(err, hub.ErrNotCached) && ok {
		m, err = pinManifest(pin), nil
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// pinManifest is the manifest of an official runtime, made from its pin:
// the fields the official SDK checks before it downloads a base model.
func pinManifest(pin hub.Runtime) *api.RuntimeManifest {
	supported := true
	m := &api.RuntimeManifest{ManifestVersion: 1, RuntimeID: pin.ID, AdapterFormat: api.AdapterFormatGGUFLoRA,
		LocalSDK: api.LocalSDK{Supported: &supported, BaseModel: api.BaseModel{Name: pin.BaseModel, File: pin.File,
			URL: pin.URL, SizeBytes: pin.Size, SHA256: pin.SHA256}}}
	for _, in := range []string{program.InterpreterQwen3, program.InterpreterGPT2} {
		if program.DefaultRuntimeID(in) == pin.ID {
			m.Interpreter = in
		}
	}
	return m
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.health())
}

// handleReady is 503 until the preloads are done.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	status := http.StatusOK
	if !s.Ready() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, s.health())
}

func (s *Server) health() api.Health {
	h := api.Health{Status: "ok", Loaded: s.funcs.len(), Queue: s.queue.len()}
	if !s.Ready() {
		h.Status = "loading"
	}
	return h
}

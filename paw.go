// Package paw runs fuzzy functions compiled to weights, locally.
//
// A program (a .paw bundle: a pseudo-program prompt and a LoRA adapter) runs
// on a small base interpreter model with llama.cpp:
//
//	eng, err := paw.Open(ctx, paw.Options{})
//	fn, err := eng.Function(ctx, "email-triage")   // a slug, a program id, or a .paw path
//	res, err := fn.Call(ctx, "Server down since 3am, customers cannot log in")
//
// Programs and base models are fetched into the cache on first use (see
// package hub); every function on the same base model shares one loaded copy.
package paw

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/interp"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/registry"
)

// Defaults for zero Options fields and options left out of a call.
const (
	DefaultMaxBatch  = interp.DefaultMaxBatch
	DefaultKVCells   = interp.DefaultKVCells
	DefaultMaxTokens = interp.DefaultMaxTokens
)

// Options configures Open. The zero value uses the default cache directory,
// the network when needed, and every core.
type Options struct {
	// CacheDir holds programs, base models and prefix caches; "" means the
	// user's cache directory (os.UserCacheDir()/paw), or Hub.Dir when Hub is set.
	CacheDir string
	// Model is a base model GGUF to run every program on instead of the one
	// its runtime names (a local build, or a test fixture).
	Model   string
	Offline bool // never touch the network; fail with what is missing
	Threads int  // compute threads; 0 = one per core
	// MaxBatch bounds the calls decoded together per base model (0 =
	// DefaultMaxBatch); KVCells sizes each base model's KV cache, shared by
	// all its calls (0 = DefaultKVCells).
	MaxBatch int
	KVCells  int
	// NoDrafts decodes one token per step per call, without speculative
	// drafts: a call running alone is then bit-identical to a step-by-step
	// decode, even on near-ties.
	NoDrafts bool
	// FlashAttn uses flash attention, which measured faster for programs
	// with long outputs and slower for label-style calls.
	FlashAttn bool
	// NoAdapter runs programs without their adapters, so their outputs
	// change: it measures what an adapter costs per call (paw bench --vary).
	NoAdapter bool
	// Hub fetches programs and base models; nil means a hub.Client on
	// CacheDir, offline if Offline is set. A Hub brings its own Dir and
	// Offline, so setting CacheDir or Offline with it is an error.
	Hub *hub.Client
	// KVCacheMax bounds the bytes of prefix states and adapters kept under
	// CacheDir/kv, evicting the least recently used (0 = 2 GiB, negative = no
	// bound); files of loaded functions are never evicted.
	KVCacheMax int64
	// Registry, when set, resolves function names for Engine.Function: a
	// bare name it has a function of runs that function's live version,
	// name@vN its version N. The caller opens and closes it; nil = none.
	Registry *registry.Registry
}

// Engine loads functions. It is safe for concurrent use; Close it when done.
type Engine struct {
	opts Options
	hub  *hub.Client
	eng  *interp.Engine
	dir  string // the cache directory

	compileMu sync.Mutex // guards CompiledFile within the process
}

// Open returns an engine. Nothing is loaded until a function is asked for.
// Options.Hub excludes Options.CacheDir and Options.Offline (they configure
// the hub Open would make): that is an error matching ErrEngineOptions.
func Open(ctx context.Context, o Options) (*Engine, error) {
	dir := o.CacheDir
	h := o.Hub
	if h != nil {
		if o.CacheDir != "" || o.Offline {
			return nil, fmt.Errorf("%w: Options.Hub is set together with Options.CacheDir or Options.Offline, "+
				"which only configure the hub Open makes when Options.Hub is nil; set Dir and Offline on the hub.Client instead", ErrEngineOptions)
		}
		dir = h.Dir
	}
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("paw: no cache directory: %w (set Options.CacheDir, or Dir on Options.Hub)", err)
		}
		dir = filepath.Join(d, "paw")
	}
	if h == nil {
		h = &hub.Client{Dir: dir, Offline: o.Offline}
	}
	eng, err := interp.New(interp.Options{Threads: o.Threads, CacheDir: filepath.Join(dir, hub.KVDir), KVCacheMax: o.KVCacheMax,
		MaxBatch: o.MaxBatch, KVCells: o.KVCells, NoDrafts: o.NoDrafts, FlashAttn: o.FlashAttn,
		NoAdapter: o.NoAdapter})
	if err != nil {
		return nil, err
	}
	return &Engine{opts: o, hub: h, eng: eng, dir: dir}, nil
}

// Close frees every model and function.
func (e *Engine) Close() error { return e.eng.Close() }

// Stats is the engine's work since Open: prefixes evaluated or restored,
// speculative drafts, and decode steps with the calls batched into them
// (DecodeCalls/Decodes is the mean batch).
type Stats = interp.Stats

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats { return e.eng.Stats() }

// Function loads a program: a .paw file or unpacked directory, a program id,
// or a slug (user/name[@vN]; a bare name means programasweights/name),
// downloading it and its base model if they are not cached.
//
// With Options.Registry, a bare name or name@vN that names a registered
// function resolves through the registry first: name is its live version,
// name@vN its version N, each loaded by the version's program id. A retired
// function fails with a *RetiredError naming its owner, one with no live
// version with ErrNoLive, a version it lacks with registry.ErrNotFound.
// Names the registry does not have, paths, program ids and owner/name
// slugs never consult it.
func (e *Engine) Function(ctx context.Context, ref string) (*Function, error) {
	pull := ref
	if id, ok, err := e.registryProgram(ctx, ref); err != nil {
		return nil, err
	} else if ok {
		pull = id
	}
	dir, err := e.hub.PullProgram(ctx, pull)
	if err != nil {
		return nil, err
	}
	prog, err := program.Open(dir)
	if err != nil {
		return nil, err
	}
	base, err := e.baseModel(ctx, prog.Meta.RuntimeID, prog.Meta.Interpreter)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", ref, err)
	}
	f, err := e.eng.Load(ctx, prog, base)
	if err != nil {
		return nil, err
	}
	return &Function{f: f, prog: prog}, nil
}

// Base returns the interpreter itself, with no program: each input is wrapped
// in the model's own chat template (none for GPT-2). interpreter is "qwen3"
// or "gpt2" (or a runtime id).
func (e *Engine) Base(ctx context.Context, interpreter string) (*Function, error) {
	runtimeID := interpreter
	name, perr := program.ParseInterpreter(interpreter)
	if perr == nil {
		runtimeID = program.DefaultRuntimeID(name)
	}
	base, err := e.baseModel(ctx, runtimeID, "")
	if err != nil {
		if _, official := hub.OfficialRuntimes()[runtimeID]; perr != nil && !official {
			// Most likely a typo: say what the known names are.
			return nil, fmt.Errorf("%w (%q is neither an interpreter, qwen3 or gpt2, nor an official runtime, %s or %s, so it was taken for another runtime's id)",
				err, interpreter, program.DefaultRuntimeQwen3, program.DefaultRuntimeGPT2)
		}
		return nil, err
	}
	f, err := e.eng.LoadBase(ctx, base)
	if err != nil {
		return nil, err
	}
	return &Function{f: f}, nil
}

// baseModel returns the base model file: Options.Model, or the runtime's
// pinned model from the cache (downloaded if needed).
func (e *Engine) baseModel(ctx context.Context, runtimeID, interpreter string) (string, error) {
	if e.opts.Model != "" {
		return e.opts.Model, nil
	}
	if runtimeID == "" {
		runtimeID = program.DefaultRuntimeID(interpreter)
	}
	if runtimeID == "" {
		return "", fmt.Errorf("%w; Options.Model must name its base model", ErrNoRuntime)
	}
	return e.hub.PullRuntime(ctx, runtimeID)
}

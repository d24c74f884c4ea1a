package paw_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
)

// TestCompileCachesBySpec: Compile asks the stand-in service once per spec
// (and compiler): again in the same engine, in a new engine on the same
// cache, and offline, the remembered program is loaded with no request.
func TestCompileCachesBySpec(t *testing.T) {
	ctx := context.Background()
	cfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	id, bundle := fixtureBundle(t, 1, "Return ONLY one of: true, false.")
	h, mux := servePrograms(t, map[string][]byte{id: bundle}, nil)
	var compiles atomic.Int32
	var lastCompiler atomic.Value
	mux.HandleFunc("POST /api/v1/compile", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Spec, Compiler string }
		json.NewDecoder(r.Body).Decode(&req)
		compiles.Add(1)
		lastCompiler.Store(req.Compiler)
		json.NewEncoder(w).Encode(map[string]any{"program_id": id, "status": "ready"})
	})
	const spec = "Return true only when this log line suggests user-facing impact"
	open := func(h *hub.Client) *paw.Engine {
		eng, err := paw.Open(ctx, paw.Options{Hub: h, Model: base})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		return eng
	}
	compileOnce := func(eng *paw.Engine, wantCompiles int32, opts ...paw.CompileOption) {
		t.Helper()
		fn, err := eng.Compile(ctx, spec, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer fn.Close()
		if got := fn.Program().Meta.ProgramID; got != id {
			t.Errorf("Compile loaded program %s, want %s", got, id)
		}
		if _, err := fn.Call(ctx, "GET /checkout 502", paw.WithMaxTokens(2)); err != nil {
			t.Error(err)
		}
		if n := compiles.Load(); n != wantCompiles {
			t.Errorf("%d compile requests, want %d", n, wantCompiles)
		}
	}

	eng := open(h)
	compileOnce(eng, 1)
	compileOnce(eng, 1) // the same engine
	again := *h
	compileOnce(open(&again), 1) // a new engine on the same cache: a later process
	compileOnce(eng, 2, paw.WithCompiler("paw-large"))
	if c, _ := lastCompiler.Load().(string); c != "paw-large" {
		t.Errorf("the service was asked for compiler %q, want paw-large", c)
	}

	offline := *h
	offline.Offline = true
	compileOnce(open(&offline), 2)
	if _, err := open(&offline).Compile(ctx, "Another spec"); !errors.Is(err, paw.ErrOffline) {
		t.Errorf("offline Compile of a new spec: err = %v, want ErrOffline", err)
	}
	if n := compiles.Load(); n != 2 {
		t.Errorf("offline Compile made a request: %d compile requests, want 2", n)
	}
}

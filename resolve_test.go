package paw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/registry"
)

// servePrograms is a stand-in PAW service that serves bundles by program id
// and resolves the slugs given (slug "programasweights/name" → id); more
// routes can be added to its mux.
func servePrograms(t *testing.T, bundles map[string][]byte, slugs map[string]string) (*hub.Client, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/programs/{id}/download", func(w http.ResponseWriter, r *http.Request) {
		b, ok := bundles[r.PathValue("id")]
		if !ok {
			http.Error(w, `{"detail":"program not found"}`, http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("GET /api/v1/programs/resolve/{owner}/{name}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := slugs[r.PathValue("owner")+"/"+r.PathValue("name")]
		if !ok {
			http.Error(w, `{"detail":"program not found"}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"program_id": id})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &hub.Client{Dir: t.TempDir(), BaseURL: srv.URL, NoFallback: true, Retries: -1}, mux
}

// fixtureBundle packs a qwen3-tiny program and returns its id and bytes.
func fixtureBundle(t *testing.T, seed uint64, pseudo string) (string, []byte) {
	t.Helper()
	cfg, _ := fixture.Preset("qwen3-tiny")
	adapter := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := fixture.WriteAdapter(adapter, cfg, fixture.OfficialAdapter(seed)); err != nil {
		t.Fatal(err)
	}
	p, err := program.Pack(program.PackOptions{Spec: "Route a support ticket", PseudoProgram: pseudo,
		Interpreter: "qwen3", AdapterPath: adapter})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return p.Meta.ProgramID, b.Bytes()
}

// TestFunctionThroughRegistry: with Options.Registry, a registered name runs
// its live version's program, name@vN version N's; a name the registry lacks
// still goes to the hub; a missing version, a function with no live version
// and a retired one fail with errors callers can match.
func TestFunctionThroughRegistry(t *testing.T) {
	ctx := context.Background()
	cfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	id1, b1 := fixtureBundle(t, 1, "Return ONLY one of: billing, technical.")
	id2, b2 := fixtureBundle(t, 2, "Return ONLY one of: billing, technical, other.")
	h, _ := servePrograms(t, map[string][]byte{id1: b1, id2: b2}, map[string]string{"programasweights/unregistered": id2})

	reg, err := registry.Open(ctx, filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, name := range []string{"triage", "fresh"} {
		if err := reg.AddFunction(ctx, registry.Function{Name: name, Owner: "ops-team"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []registry.Version{{Function: "triage", ProgramID: id1}, {Function: "triage", ProgramID: id2}, {Function: "fresh", ProgramID: id2}} {
		if _, err := reg.AddVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Promote(ctx, "triage", 1, registry.PromoteOptions{Actor: "test", Force: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}

	eng, err := paw.Open(ctx, paw.Options{Hub: h, Model: base, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, tt := range []struct{ ref, want string }{
		{"triage", id1}, // the live version
		{"triage@v1", id1},
		{"triage@v2", id2},
		{"unregistered", id2}, // not in the registry: the hub's slug
		{id1, id1},            // a program id never consults the registry
	} {
		fn, err := eng.Function(ctx, tt.ref)
		if err != nil {
			t.Fatalf("Function(%q): %v", tt.ref, err)
		}
		if got := fn.Program().Meta.ProgramID; got != tt.want {
			t.Errorf("Function(%q) loaded program %s, want %s", tt.ref, got, tt.want)
		}
		if _, err := fn.Call(ctx, "I was charged twice", paw.WithMaxTokens(2)); err != nil {
			t.Errorf("Function(%q).Call: %v", tt.ref, err)
		}
		fn.Close()
	}

	if _, err := eng.Function(ctx, "triage@v3"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a version the registry lacks: err = %v, want registry.ErrNotFound", err)
	}
	if _, err := eng.Function(ctx, "fresh"); !errors.Is(err, paw.ErrNoLive) {
		t.Errorf("a function with no live version: err = %v, want ErrNoLive", err)
	}
	if err := reg.Retire(ctx, "triage", registry.ChangeOptions{Actor: "test", Reason: "replaced"}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"triage", "triage@v2"} {
		var retired *paw.RetiredError
		if _, err := eng.Function(ctx, ref); !errors.As(err, &retired) || retired.Owner != "ops-team" {
			t.Errorf("Function(%q) of a retired function: err = %v, want a *RetiredError naming ops-team", ref, err)
		}
	}
}

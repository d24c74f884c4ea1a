package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
)

// TestCompileThenRun walks a new user's path against a fake PAW service:
// paw compile prints an id, paw run pulls that program and runs it, a slug
// resolves to it, paw ls shows it, paw rm removes it, and offline mode then
// says what to pull.
func TestCompileThenRun(t *testing.T) {
	cfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	dir := t.TempDir()
	adapter := filepath.Join(dir, "adapter.gguf")
	if err := fixture.WriteAdapter(adapter, cfg, fixture.OfficialAdapter(6)); err != nil {
		t.Fatal(err)
	}
	p, err := program.Pack(program.PackOptions{Spec: "Triage a ticket", PseudoProgram: "Return ONLY one of: a, b.",
		Interpreter: "qwen3", AdapterPath: adapter})
	if err != nil {
		t.Fatal(err)
	}
	var bundle bytes.Buffer
	if err := p.Write(&bundle); err != nil {
		t.Fatal(err)
	}
	id := p.Meta.ProgramID
	var downloads atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/compile", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Spec string }
		json.NewDecoder(r.Body).Decode(&req)
		if !strings.Contains(req.Spec, "ticket") {
			http.Error(w, `{"detail":"spec too short"}`, http.StatusUnprocessableEntity)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"program_id": id, "status": "ready", "slug": "me/triage", "version": 1})
	})
	mux.HandleFunc("POST /api/v1/compile/async", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"job_id": "job-1", "status": "queued"})
	})
	mux.HandleFunc("GET /api/v1/compile/job-1", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"job_id": "job-1", "status": "completed",
			"result": map[string]any{"program_id": id, "status": "ready"}})
	})
	mux.HandleFunc("GET /api/v1/programs/resolve/me/triage", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"program_id": id, "slug": "me/triage"})
	})
	mux.HandleFunc("GET /api/v1/programs/{id}/download", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != id {
			http.Error(w, `{"detail":"program not found"}`, http.StatusNotFound)
			return
		}
		downloads.Add(1)
		w.Write(bundle.Bytes())
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	t.Setenv("PAW_API_URL", srv.URL)
	t.Setenv("PAW_HF_URL", srv.URL+"/hf")
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_QUIET", "1")
	t.Setenv("PAW_API_KEY", "test-key")

	out, err := runPaw(t, "compile", "--spec", "Route a support ticket to a team")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != id {
		t.Fatalf("paw compile printed %q, want the program id %s", got, id)
	}
	out, err = runPaw(t, "run", id, "--model", base, "--input", "my invoice is wrong", "--labels", "a", "--labels", "b", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var o runOutput
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Program != id || (o.Output != "a" && o.Output != "b") {
		t.Fatalf("paw run %s: %q (%v)", id, out, err)
	}
	if _, err := runPaw(t, "run", "me/triage", "--model", base, "--input", "again", "--max-tokens", "2"); err != nil {
		t.Fatal(err)
	}
	if n := downloads.Load(); n != 1 {
		t.Errorf("the bundle was downloaded %d times, want once (then cached)", n)
	}
	out, err = runPaw(t, "ls", "--json")
	if err != nil || !strings.Contains(out, id) {
		t.Fatalf("paw ls: %q (%v)", out, err)
	}
	if _, err := runPaw(t, "rm", id); err != nil {
		t.Fatal(err)
	}
	// An async job: submit, then wait for it and download the program.
	if _, err := runPaw(t, "compile", "--spec", "Route a ticket", "--async", "--pull"); err == nil {
		t.Error("--async --pull: no error")
	}
	out, err = runPaw(t, "compile", "--spec", "Route a ticket", "--async")
	if err != nil || !strings.Contains(out, "job-1") {
		t.Fatalf("paw compile --async: %q (%v)", out, err)
	}
	out, err = runPaw(t, "compile", "wait", "job-1", "--pull")
	if err != nil || strings.TrimSpace(out) != id {
		t.Fatalf("paw compile wait --pull: %q (%v), want %s", out, err, id)
	}
	if n := downloads.Load(); n != 2 {
		t.Errorf("after wait --pull: %d downloads, want 2", n)
	}
	if out, err := runPaw(t, "ls", "--json"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("paw ls after wait --pull: %q (%v)", out, err)
	}
	if _, err := runPaw(t, "rm", id); err != nil {
		t.Fatal(err)
	}
	if _, err := runPaw(t, "rm", id); err == nil || !strings.Contains(err.Error(), "nothing cached as "+id) {
		t.Errorf("second rm: %v", err)
	}
	t.Setenv("PAW_OFFLINE", "1")
	_, err = runPaw(t, "run", id, "--model", base, "--input", "x")
	if err == nil || !strings.Contains(err.Error(), "paw pull") {
		t.Errorf("offline run of a removed program: err = %v, want advice to paw pull", err)
	}
	if _, err := runPaw(t, "compile", "--spec", "x"); err == nil {
		t.Error("paw compile worked offline")
	}
}

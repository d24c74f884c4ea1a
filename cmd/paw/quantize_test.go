package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
)

// TestQuantize: paw quantize writes a model whose matrices are all Q8_0 and
// that generates the source's greedy text; a missing source fails (exit 1)
// and leaves nothing behind.
func TestQuantize(t *testing.T) {
	cfg, _ := fixture.Preset("qwen3-tiny")
	src := fixturetest.Cached(t, "qwen3-tiny", cfg)
	dir := t.TempDir()
	out := filepath.Join(dir, "q8.gguf")
	if got, err := runPaw(t, "quantize", src, "--type", "Q8_0", "-o", out, "--threads", "1"); err != nil || strings.TrimSpace(got) != out {
		t.Fatalf("paw quantize: %q, %v", got, err)
	}
	checkAllQ8(t, out)
	gen := func(model string) string {
		got, err := runPaw(t, "generate", "--model", model, "--prompt", "the quick brown fox", "--max-tokens", "12", "--threads", "1")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if a, b := gen(src), gen(out); a != b {
		t.Errorf("greedy text differs: F32 %q, Q8_0 %q", a, b)
	}
	_, err := runPaw(t, "quantize", filepath.Join(dir, "missing.gguf"), "--type", "q8_0", "-o", filepath.Join(dir, "x.gguf"))
	if exitCode(err) != exitFailure || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("missing source: exit %d, %v", exitCode(err), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left in the output directory: %v", ents)
	}
}

// TestPullRequant: paw pull --requant q8_0 on a runtime the service lists
// downloads its base model, writes the Q8_0 copy with llama.cpp's quantizer,
// and later pulls (which runs use) return the copy; --requant none goes back.
func TestPullRequant(t *testing.T) {
	cfg, _ := fixture.Preset("qwen3-tiny")
	src := fixturetest.Cached(t, "qwen3-tiny", cfg)
	model, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(model)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/models/runtimes/tiny-rt", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"runtime_id": "tiny-rt", "local_sdk": map[string]any{"base_model": map[string]any{
			"url": "/files/tiny.gguf", "size_bytes": len(model), "sha256": hex.EncodeToString(sum[:]), "filename": "tiny.gguf"}}})
	})
	mux.HandleFunc("GET /files/tiny.gguf", func(w http.ResponseWriter, r *http.Request) { w.Write(model) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cache := t.TempDir()
	t.Setenv("PAW_CACHE_DIR", cache)
	t.Setenv("PAW_API_URL", srv.URL)
	t.Setenv("PAW_QUIET", "1")
	t.Setenv("PAW_THREADS", "1")

	got, err := runPaw(t, "pull", "runtime:tiny-rt", "--requant", "q8_0")
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(cache, "models", "tiny-rt", "tiny.requant-q8_0.gguf")
	if strings.TrimSpace(got) != copyPath {
		t.Fatalf("pull --requant printed %q, want %s", got, copyPath)
	}
	checkAllQ8(t, copyPath)
	if got, err := runPaw(t, "pull", "runtime:tiny-rt"); err != nil || strings.TrimSpace(got) != copyPath {
		t.Errorf("a later pull: %q, %v; want the copy", got, err)
	}
	base := filepath.Join(cache, "models", "tiny-rt", "tiny.gguf")
	if got, err := runPaw(t, "pull", "runtime:tiny-rt", "--requant", "none"); err != nil || strings.TrimSpace(got) != base {
		t.Errorf("--requant none: %q, %v; want the base model", got, err)
	}
	if _, err := os.Stat(copyPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--requant none left the copy: %v", err)
	}
}

// checkAllQ8 fails t unless every matrix of the GGUF at path is Q8_0.
func checkAllQ8(t *testing.T, path string) {
	t.Helper()
	r, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, ti := range r.Tensors {
		if len(ti.Shape) == 2 && ti.Type != gguf.TypeQ8_0 {
			t.Errorf("%s is %s, want Q8_0", ti.Name, ti.Type)
		}
	}
}

package main

import (
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
	r, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range r.Tensors {
		if len(ti.Shape) == 2 && ti.Type != gguf.TypeQ8_0 {
			t.Errorf("%s is %s, want Q8_0", ti.Name, ti.Type)
		}
	}
	r.Close()
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
	_, err = runPaw(t, "quantize", filepath.Join(dir, "missing.gguf"), "--type", "q8_0", "-o", filepath.Join(dir, "x.gguf"))
	if exitCode(err) != exitFailure || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("missing source: exit %d, %v", exitCode(err), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left in the output directory: %v", ents)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestPackPublishesToStore: with PAW_STORE, what `paw pack` writes on one
// machine and `paw push --runtime` adds there is pulled from the store on
// another machine whose cache is empty and whose service is unreachable.
func TestPackPublishesToStore(t *testing.T) {
	t.Setenv("PAW_STORE", "file://"+t.TempDir())
	t.Setenv("PAW_QUIET", "1")
	t.Setenv("PAW_API_URL", "http://127.0.0.1:1") // nothing listens: only the store can answer
	t.Setenv("PAW_HF_URL", "http://127.0.0.1:1")
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	base, _, packed := packFixture(t, "gpt2-tiny", 3, "Say whether the text is about cats.", "--json")
	var p packResult
	if err := json.Unmarshal([]byte(packed), &p); err != nil {
		t.Fatal(err)
	}
	if _, err := runPaw(t, "push", "--runtime", "gpt2-tiny-fixture", base); err != nil {
		t.Fatal(err)
	}

	other := t.TempDir()
	t.Setenv("PAW_CACHE_DIR", other)
	out, err := runPaw(t, "pull", "--json", p.ProgramID, "runtime:gpt2-tiny-fixture")
	if err != nil {
		t.Fatal(err)
	}
	checkJSONLines(t, "paw pull", out, 2)
	if _, err := os.Stat(filepath.Join(other, "programs", p.ProgramID, "adapter.gguf")); err != nil {
		t.Error(err)
	}
	got, _ := os.ReadFile(filepath.Join(other, "models", "gpt2-tiny-fixture", filepath.Base(base)))
	want, _ := os.ReadFile(base)
	if len(got) == 0 || string(got) != string(want) {
		t.Errorf("base model from the store: %d bytes, want %d", len(got), len(want))
	}
	if _, err := runPaw(t, "run", p.ProgramID, "--model", filepath.Join(other, "models", "gpt2-tiny-fixture", filepath.Base(base)),
		"--input", "my cat", "--max-tokens", "2"); err != nil {
		t.Error(err)
	}
}

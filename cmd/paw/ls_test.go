package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/kvcache"
	"github.com/paw-dev/paw/program"
)

// TestLsRmKV: the engine cache that paw run leaves is listed by its program
// with sizes and a total, paw rm removes it, and PAW_KV_CACHE_MAX evicts the
// least recently used.
func TestLsRmKV(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	cfg, _ := fixture.Preset("gpt2-tiny")
	base := fixturetest.Cached(t, "gpt2-tiny", cfg)
	dir := t.TempDir()
	// bundle writes a program with its own adapter and returns its file and id.
	bundle := func(seed uint64) (string, string) {
		adapter := filepath.Join(dir, "adapter.gguf")
		if err := fixture.WriteAdapter(adapter, cfg, fixture.OfficialAdapter(seed)); err != nil {
			t.Fatal(err)
		}
		p, err := program.Pack(program.PackOptions{Spec: "yes or no", PseudoProgram: "Answer yes or no.",
			Interpreter: "gpt2", AdapterPath: adapter})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, p.ID()+".paw")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := p.Write(f); err != nil {
			t.Fatal(err)
		}
		return path, p.ID()
	}
	run := func(path string) {
		t.Helper()
		if _, err := runPaw(t, "run", path, "--model", base, "--input", "is it?", "--max-tokens", "2"); err != nil {
			t.Fatal(err)
		}
	}
	// kv returns the size of each kv row of paw ls --json, by owner.
	kv := func() map[string]int64 {
		t.Helper()
		out, err := runPaw(t, "ls", "--json")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for line := range strings.Lines(out) { // one item per line
			var it hub.Item
			if err := json.Unmarshal([]byte(line), &it); err != nil {
				t.Fatalf("paw ls --json: %v\n%s", err, out)
			}
			if it.Kind == hub.KindKV {
				m[it.ID] = it.Size
			}
		}
		return m
	}

	path1, id1 := bundle(41)
	run(path1)
	// Run from a file, the program is not cached: its prefix state is listed
	// under its id, its extracted adapter as unowned.
	got := kv()
	if got[id1] <= 0 || got[kvcache.Unowned] <= 0 || len(got) != 2 {
		t.Fatalf("kv rows after paw run: %v, want %s and %s", got, id1, kvcache.Unowned)
	}
	out, err := runPaw(t, "ls")
	if err != nil || !strings.Contains(out, id1) || !strings.Contains(out, humanBytes(got[id1]+got[kvcache.Unowned])) {
		t.Errorf("paw ls: %v\n%s\nwant %s and a total of %s", err, out, id1, humanBytes(got[id1]+got[kvcache.Unowned]))
	}

	// A cap of one byte keeps only what the running program uses.
	t.Setenv("PAW_KV_CACHE_MAX", "1B")
	path2, id2 := bundle(42)
	run(path2)
	if got := kv(); got[id1] != 0 || got[id2] <= 0 || len(got) != 2 {
		t.Errorf("kv rows after a run over the cap: %v, want %s's state evicted, %s's kept", got, id1, id2)
	}

	if out, err := runPaw(t, "rm", id2); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("paw rm %s: %q (%v)", id2, out, err)
	}
	if got := kv(); got[id2] != 0 {
		t.Errorf("kv rows after paw rm %s: %v", id2, got)
	}
}

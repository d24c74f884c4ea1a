package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/library"
)

// TestRunByRegistryName: two builds of a function are imported into the
// registry and v1 promoted; `paw run NAME` runs v1's program, NAME@v2 v2's,
// and after a retire the run fails naming the owner. Running before any
// registry exists creates none.
func TestRunByRegistryName(t *testing.T) {
	srv := fixturetest.StandInHub(t, time.Time{})
	t.Setenv("PAW_API_URL", srv.URL)
	t.Setenv("PAW_HF_URL", srv.URL+"/hf")
	cache := t.TempDir()
	t.Setenv("PAW_CACHE_DIR", cache)
	t.Setenv("PAW_REGISTRY", "")
	t.Setenv("PAW_QUIET", "1")
	cfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	dir := t.TempDir()
	lockPath := filepath.Join(dir, library.LockFile)

	// build builds the project and registers the build; it returns the program id.
	build := func() string {
		t.Helper()
		if _, err := runPaw(t, "build", "--dir", dir); err != nil {
			t.Fatalf("paw build: %v", err)
		}
		if _, err := runPaw(t, "fn", "import", lockPath); err != nil {
			t.Fatalf("paw fn import: %v", err)
		}
		lock, err := library.ReadLock(lockPath)
		if err != nil {
			t.Fatal(err)
		}
		return lock.Functions["pager_worthy"].ProgramID
	}
	// run runs ref and returns the program that answered.
	run := func(ref string) (string, error) {
		t.Helper()
		out, err := runPaw(t, "run", ref, "--model", base, "--input", "GET /checkout 502", "--max-tokens", "2", "--json")
		if err != nil {
			return "", err
		}
		var o runOutput
		if err := json.Unmarshal([]byte(out), &o); err != nil {
			t.Fatalf("paw run %s --json: %q: %v", ref, out, err)
		}
		return o.Program, nil
	}

	if _, err := runPaw(t, "init", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := runPaw(t, "build", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	lock, _ := library.ReadLock(lockPath)
	if _, err := run(lock.Functions["pager_worthy"].ProgramID); err != nil {
		t.Fatalf("paw run by program id without a registry: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "registry.db")); err == nil {
		t.Error("paw run created the registry database")
	}
	if _, err := runPaw(t, "run", "pager_worthy", "--registry", filepath.Join(dir, "none.db"), "--model", base, "--input", "x"); err == nil {
		t.Error("paw run --registry with a missing file: no error")
	}

	if _, err := runPaw(t, "fn", "add", "pager_worthy", "--owner", "oncall@example.com"); err != nil {
		t.Fatal(err)
	}
	v1 := build()
	manifest := filepath.Join(dir, library.ManifestFile)
	yaml, _ := os.ReadFile(manifest)
	os.WriteFile(manifest, bytes.Replace(yaml, []byte("background messages."), []byte("background messages only."), 1), 0o644)
	v2 := build()
	if v1 == v2 {
		t.Fatalf("the two builds have one program id %s", v1)
	}
	if _, err := run("pager_worthy"); err == nil || !strings.Contains(err.Error(), "no live version (paw fn promote pager_worthy@vN") {
		t.Errorf("paw run of a function with no live version = %v", err)
	}
	if _, err := runPaw(t, "fn", "promote", "pager_worthy@v1", "--force", "--reason", "first deploy"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ ref, want string }{{"pager_worthy", v1}, {"pager_worthy@v1", v1}, {"pager_worthy@v2", v2}} {
		got, err := run(tt.ref)
		if err != nil || got != tt.want {
			t.Errorf("paw run %s ran program %q (%v), want %s", tt.ref, got, err, tt.want)
		}
	}
	if _, err := runPaw(t, "fn", "retire", "pager_worthy", "--reason", "replaced"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("pager_worthy"); err == nil || !strings.Contains(err.Error(), "retired (owner: oncall@example.com)") {
		t.Errorf("paw run of a retired function = %v, want an error naming the owner", err)
	}
}

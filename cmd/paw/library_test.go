package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/library"
)

// TestInitBuildGen walks a new project: paw init, paw build against a
// stand-in hub, paw build --offline, paw gen go; then, with the hub gone, a
// changed spec makes paw build say the service is unreachable and leave
// paw.lock as it was.
func TestInitBuildGen(t *testing.T) {
	srv := fixturetest.StandInHub(t, time.Time{})
	t.Setenv("PAW_API_URL", srv.URL)
	t.Setenv("PAW_HF_URL", srv.URL+"/hf")
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_QUIET", "1")
	dir := t.TempDir()

	if out, err := runPaw(t, "init", "--dir", dir); err != nil || !strings.Contains(out, library.ManifestFile) {
		t.Fatalf("paw init: %q, %v", out, err)
	}
	if _, err := runPaw(t, "init", "--dir", dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second paw init = %v, want a refusal", err)
	}
	out, err := runPaw(t, "build", "--dir", dir)
	if err != nil || !strings.Contains(out, "built pager_worthy: ") || !strings.Contains(out, "1 built, 0 unchanged, 0 failed") {
		t.Fatalf("paw build: %q, %v", out, err)
	}
	lockPath := filepath.Join(dir, library.LockFile)
	lock, err := library.ReadLock(lockPath)
	if err != nil || lock.Functions["pager_worthy"] == nil {
		t.Fatalf("lock after build: %v, %v", lock, err)
	}
	if out, err := runPaw(t, "build", "--dir", dir); err != nil || !strings.Contains(out, "0 built, 1 unchanged") {
		t.Errorf("second paw build: %q, %v", out, err)
	}
	if out, err := runPaw(t, "build", "--offline", "--dir", dir); err != nil || !strings.Contains(out, "1 functions locked and cached") {
		t.Errorf("paw build --offline: %q, %v", out, err)
	}
	if out, err := runPaw(t, "build", "--force", "pager_worthy", "--dir", dir); err != nil || !strings.Contains(out, "1 built, 0 unchanged") {
		t.Errorf("paw build --force pager_worthy: %q, %v", out, err)
	}
	var ue *usageError
	if _, err := runPaw(t, "build", "--force", "nope", "--dir", dir); !errors.As(err, &ue) || !strings.Contains(err.Error(), `no function "nope"`) {
		t.Errorf("paw build --force nope = %v, want a usage error naming it", err)
	}
	if _, err := runPaw(t, "build", "--offline", "--force-all", "--dir", dir); !errors.As(err, &ue) {
		t.Errorf("paw build --offline --force-all = %v, want a usage error", err)
	}
	genDir := filepath.Join(dir, "fuzzy")
	if _, err := runPaw(t, "gen", "go", "-o", genDir, "--dir", dir); err != nil {
		t.Fatalf("paw gen go: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(genDir, library.GenFile))
	if err != nil || !bytes.Contains(src, []byte("package fuzzy\n")) ||
		!bytes.Contains(src, []byte("func (l *Library) PagerWorthy(ctx context.Context, input string, opts ...paw.Option) (bool, map[bool]float64, error)")) {
		t.Errorf("generated code: %v\n%s", err, src)
	}

	// The hub goes away and the spec changes.
	srv.Close()
	before, _ := os.ReadFile(lockPath)
	manifest := filepath.Join(dir, library.ManifestFile)
	yaml, _ := os.ReadFile(manifest)
	os.WriteFile(manifest, bytes.Replace(yaml, []byte("background messages."), []byte("background messages only."), 1), 0o644)
	_, err = runPaw(t, "build", "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the PAW service at "+srv.URL) {
		t.Errorf("paw build with the hub gone = %v, want it to say the service is unreachable", err)
	}
	if after, _ := os.ReadFile(lockPath); !bytes.Equal(before, after) {
		t.Errorf("a failed build changed paw.lock:\n%s\n---\n%s", before, after)
	}
	if _, err := runPaw(t, "build", "--offline", "--dir", dir); err == nil || !strings.Contains(err.Error(), "its spec changed since the lock; run paw build") {
		t.Errorf("paw build --offline after a spec change = %v", err)
	}
}

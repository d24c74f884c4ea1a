package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/store"
)

// TestStoreBehindCache: what one machine pulls or adds is published to the
// shared store, and another machine with an empty cache installs it from
// there without asking the service; corrupt store objects are refused.
func TestStoreBehindCache(t *testing.T) {
	ctx := context.Background()
	p, zipb := testBundle(t)
	id := p.ID()
	storeDir := t.TempDir()
	st, err := store.Open(ctx, "file://"+storeDir)
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHub(t)
	h.programs[id] = zipb
	a := h.client(t.TempDir())
	a.Store = st
	evs := collect(a)
	if _, err := a.PullProgram(ctx, id); err != nil {
		t.Fatal(err)
	}
	if k := kinds(*evs); k[EventPublish] != 1 {
		t.Fatalf("events %v", k)
	}
	for _, e := range *evs {
		if e.Kind == EventPublish && e.Err != nil {
			t.Fatal(e.Err)
		}
	}

	// Machine B: empty cache, the same store, a service without the program.
	empty := newFakeHub(t)
	b := empty.client(t.TempDir())
	b.Store, b.NoFallback = st, true
	dir, err := b.PullProgram(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "adapter.gguf")); err != nil || sha(got) != p.AdapterSHA256 {
		t.Fatalf("installed adapter: %v", err)
	}
	if n := empty.totalHits(); n != 0 {
		t.Errorf("B asked the service %d times: %v", n, empty.hits)
	}

	// A base model added on A reaches B; a pin it contradicts is refused.
	model := testModel(t)
	src := filepath.Join(t.TempDir(), "tiny.gguf")
	os.WriteFile(src, model, 0o644)
	if _, err := a.AddRuntime(ctx, "gpt2-tiny", src); err != nil {
		t.Fatal(err)
	}
	path, err := b.PullRuntime(ctx, "gpt2-tiny")
	if got, _ := os.ReadFile(path); err != nil || sha(got) != sha(model) || filepath.Base(path) != "tiny.gguf" {
		t.Fatalf("runtime from store: %s, %v", path, err)
	}
	if got, err := b.RuntimePath("gpt2-tiny"); err != nil || got != path {
		t.Fatalf("RuntimePath after the store: %s, %v", got, err)
	}
	c := empty.client(t.TempDir())
	c.Store = st
	c.Runtimes = map[string]Runtime{"gpt2-tiny": {ID: "gpt2-tiny", File: "tiny.gguf", Size: int64(len(model)), SHA256: strings.Repeat("0", 64)}}
	if _, err := c.PullRuntime(ctx, "gpt2-tiny"); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("pin mismatch: %v", err)
	}

	// A corrupt blob is refused and nothing is installed.
	blobs, _ := filepath.Glob(filepath.Join(storeDir, "blobs", "sha256", "*"))
	for _, f := range blobs {
		os.WriteFile(f, []byte("rotten"), 0o644)
	}
	d := empty.client(t.TempDir())
	d.Store, d.NoFallback = st, true
	if _, err := d.PullProgram(ctx, id); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("corrupt store: %v", err)
	}
	if _, err := d.ProgramPath(id); !errors.Is(err, ErrNotCached) {
		t.Errorf("corrupt program installed: %v", err)
	}
}

// TestAddProgram: a packed bundle is installed under its id and published.
func TestAddProgram(t *testing.T) {
	ctx := context.Background()
	p, zipb := testBundle(t)
	src := filepath.Join(t.TempDir(), "x.paw")
	os.WriteFile(src, zipb, 0o644)
	st, err := store.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHub(t)
	a := h.client(t.TempDir())
	a.Store = st
	id, dir, err := a.AddProgramFile(ctx, src)
	if err != nil || id != p.ID() || dir != filepath.Join(a.Dir, "programs", id) {
		t.Fatalf("AddProgram = %s %s %v", id, dir, err)
	}
	b := h.client(t.TempDir())
	b.Store, b.NoFallback = st, true
	if _, err := b.PullProgram(ctx, id); err != nil || h.totalHits() != 0 {
		t.Fatalf("pull of an added program: %v (service hits %v)", err, h.hits)
	}
}

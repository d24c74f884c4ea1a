package interp

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/kvcache"
)

// TestKVCacheCap: under a cap, every write evicts the least recently used
// cache files, but never those of a function still loaded; a state read
// back counts as used.
func TestKVCacheCap(t *testing.T) {
	dir := t.TempDir()
	exists := func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	}
	stale := kvcache.PrefixPath(dir, "0123456789abcdef", "stale")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	p1, basePath := testProgram(t, "qwen3-tiny", 31, pseudo)
	p2, _ := testProgram(t, "qwen3-tiny", 32, pseudo)
	p3, _ := testProgram(t, "qwen3-tiny", 33, pseudo)
	e := newEngine(t, Options{CacheDir: dir, KVCacheMax: 1})
	files := func(f *Func) []string {
		return []string{f.prefixFile(), kvcache.AdapterPath(dir, f.adapterSHA)}
	}
	f1 := load(t, e, p1, basePath)
	if exists(stale) {
		t.Error("a stale file outlived a write over the cap")
	}
	f2 := load(t, e, p2, basePath)
	for _, p := range append(files(f1), files(f2)...) {
		if !exists(p) {
			t.Errorf("%s of a loaded function was evicted", p)
		}
	}
	f1.Close()
	load(t, e, p3, basePath)
	for _, p := range files(f1) {
		if exists(p) {
			t.Errorf("%s of a closed function outlived a write over the cap", p)
		}
	}
	for _, p := range files(f2) {
		if !exists(p) {
			t.Errorf("%s of a loaded function was evicted", p)
		}
	}

	// Read back by another engine: the state is touched.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(f2.prefixFile(), old, old); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, Options{CacheDir: dir, KVCacheMax: -1})
	load(t, e2, p2, basePath)
	if st := e2.Stats(); st.PrefixRestored != 1 {
		t.Fatalf("second engine: %+v, want the prefix restored", st)
	}
	if fi, err := os.Stat(f2.prefixFile()); err != nil {
		t.Fatal(err)
	} else if !fi.ModTime().After(old.Add(time.Minute)) {
		t.Errorf("restored state's modification time %v, want now", fi.ModTime())
	}
}

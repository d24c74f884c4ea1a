package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/internal/kvcache"
)

// TestListRemoveKV: List counts each program's engine cache files (prefix
// states and extracted adapter) and lists the rest by owner; Remove deletes a
// program's, keeping an adapter another cached program shares.
func TestListRemoveKV(t *testing.T) {
	p, zipb := testBundle(t)
	h := newFakeHub(t)
	h.programs[p.ID()] = zipb
	c := h.client(t.TempDir())
	ctx := context.Background()
	if _, err := c.Pull(ctx, p.ID()); err != nil {
		t.Fatal(err)
	}
	// A second cached program with the same adapter.
	const twin, gone = "00000000000000000000000000000002", "00000000000000000000000000000003"
	if err := os.CopyFS(filepath.Join(c.Dir, "programs", twin), os.DirFS(filepath.Join(c.Dir, "programs", p.ID()))); err != nil {
		t.Fatal(err)
	}
	kv := filepath.Join(c.Dir, KVDir)
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(kvcache.PrefixPath(kv, p.ID(), "k1"), make([]byte, 100))
	write(kvcache.PrefixPath(kv, p.ID(), "k2"), make([]byte, 200)) // another base model or flash setting
	write(kvcache.PrefixPath(kv, twin, "k1"), make([]byte, 10))
	write(kvcache.PrefixPath(kv, gone, "k1"), make([]byte, 20)) // a program run from a file, or removed before
	write(kvcache.PrefixPath(kv, kvcache.BaseOwner, "k3"), make([]byte, 30))
	write(filepath.Join(kv, "prefix", "old.kv"), make([]byte, 40)) // the layout before owners
	write(kvcache.AdapterPath(kv, "ffff"), make([]byte, 50))       // no cached program's
	adapter := kvcache.AdapterPath(kv, p.AdapterSHA256)
	write(adapter, p.Adapter)
	ad := int64(len(p.Adapter))

	type row struct {
		Kind, ID     string
		Size, KVSize int64
	}
	list := func() []row {
		t.Helper()
		items, err := c.List()
		if err != nil {
			t.Fatal(err)
		}
		var rows []row
		for _, it := range items {
			size := it.Size
			if it.Kind == KindProgram {
				size = 0 // the bundle's own size is tested elsewhere
			}
			rows = append(rows, row{it.Kind, it.ID, size, it.KVSize})
		}
		return rows
	}
	progs := []row{{KindProgram, twin, 0, 10 + ad}, {KindProgram, p.ID(), 0, 300 + ad}}
	if p.ID() < twin {
		progs[0], progs[1] = progs[1], progs[0]
	}
	want := append(progs,
		row{KindKV, gone, 20, 0}, row{KindKV, kvcache.BaseOwner, 30, 0}, row{KindKV, kvcache.Unowned, 90, 0})
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	if err := c.Remove(ctx, p.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kvcache.OwnerDir(kv, p.ID())); !os.IsNotExist(err) {
		t.Errorf("prefix states of a removed program: %v", err)
	}
	if _, err := os.Stat(adapter); err != nil {
		t.Errorf("an adapter another cached program shares was removed: %v", err)
	}
	if err := c.Remove(ctx, twin); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(adapter); !os.IsNotExist(err) {
		t.Errorf("the last user's adapter is still there: %v", err)
	}
	// A program no longer cached: its prefix states still go.
	if err := c.Remove(ctx, gone); err != nil {
		t.Errorf("Remove of a program with prefix states only: %v", err)
	}
	if err := c.Remove(ctx, gone); !errors.Is(err, ErrNotCached) {
		t.Errorf("Remove again: %v, want ErrNotCached", err)
	}
	want = []row{{KindKV, kvcache.BaseOwner, 30, 0}, {KindKV, kvcache.Unowned, 90, 0}}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("List after Remove (-want +got):\n%s", diff)
	}
}

package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestListPullRemove(t *testing.T) {
	p, zipb := testBundle(t)
	model := testModel(t)
	h := newFakeHub(t)
	h.programs[p.ID()] = zipb
	h.slugs["alice/x"] = p.ID()
	c := h.client(t.TempDir())
	c.Runtimes = h.addModel(model)
	ctx := context.Background()
	if items, err := c.List(); err != nil || len(items) != 0 {
		t.Fatalf("empty List = %v, %v", items, err)
	}
	for _, ref := range []string{"alice/x", "test-rt"} {
		if _, err := c.Pull(ctx, ref); err != nil {
			t.Fatalf("Pull(%s): %v", ref, err)
		}
	}
	items, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Kind, ID string
		Slugs    []string
		Spec     string
	}
	var got []row
	for _, it := range items {
		got = append(got, row{it.Kind, it.ID, it.Slugs, it.Spec})
		if it.Size <= 0 || it.Modified.IsZero() {
			t.Errorf("%s: size %d, modified %v", it.ID, it.Size, it.Modified)
		}
	}
	want := []row{{KindProgram, p.ID(), []string{"alice/x"}, "classify sentiment"}, {KindRuntime, "test-rt", nil, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if items[1].Size != int64(len(model)) {
		t.Errorf("model size %d", items[1].Size)
	}

	if err := c.Remove(ctx, "alice/x"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "test-rt"); err != nil {
		t.Fatal(err)
	}
	if items, _ := c.List(); len(items) != 0 {
		t.Errorf("after Remove: %v", items)
	}
	for _, ref := range []string{"alice/x", p.ID(), "test-rt"} {
		if err := c.Remove(ctx, ref); !errors.Is(err, ErrNotCached) {
			t.Errorf("Remove(%s) again: %v", ref, err)
		}
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "programs", p.ID())); !os.IsNotExist(err) {
		t.Error("program dir still there")
	}
}

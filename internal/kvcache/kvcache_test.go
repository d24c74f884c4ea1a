package kvcache

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// write creates a cache file of size bytes last used age ago.
func write(t *testing.T, path string, size int, age time.Duration) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	used := time.Now().Add(-age)
	if err := os.Chtimes(path, used, used); err != nil {
		t.Fatal(err)
	}
}

// names lists the files under dir relative to it, least recently used first.
func names(t *testing.T, dir string) []string {
	t.Helper()
	files, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f.Path)
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	const prog = "0123456789abcdef"
	write(t, PrefixPath(dir, prog, "k1"), 10, 3*time.Hour)
	write(t, PrefixPath(dir, BaseOwner, "k2"), 20, 1*time.Hour)
	write(t, filepath.Join(dir, "prefix", "old.kv"), 30, 5*time.Hour) // the layout before owners
	write(t, filepath.Join(dir, "prefix", ".p.del-1", "k.kv"), 5, 6*time.Hour)
	write(t, AdapterPath(dir, "abc"), 40, 2*time.Hour)
	// Not cache files: a write in progress, and strangers.
	write(t, filepath.Join(dir, "prefix", prog, ".k3.kv.tmp-1"), 50, 0)
	write(t, filepath.Join(dir, "adapters", "notes.txt"), 60, 0)
	write(t, filepath.Join(dir, "adapters", ".notes.txt.tmp-2"), 60, 4*time.Hour)
	// A crash's leftover: evicted like the file it was to become.
	write(t, filepath.Join(dir, "adapters", ".def.gguf.tmp-3"), 70, 4*time.Hour)
	files, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Kind, Owner, SHA string
		Size             int64
	}
	var got []row
	for _, f := range files {
		got = append(got, row{f.Kind, f.Owner, f.SHA, f.Size})
	}
	want := []row{
		{KindPrefix, Unowned, "", 5},
		{KindPrefix, Unowned, "", 30},
		{KindAdapter, "", "", 70},
		{KindPrefix, prog, "", 10},
		{KindAdapter, "", "abc", 40},
		{KindPrefix, BaseOwner, "", 20},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List, least recently used first (-want +got):\n%s", diff)
	}
	if Total(files) != 175 {
		t.Errorf("Total = %d, want 175", Total(files))
	}
	if files, err := List(filepath.Join(dir, "missing")); err != nil || len(files) != 0 {
		t.Errorf("List of a missing dir = %v, %v", files, err)
	}
}

func TestPrefixPathOwner(t *testing.T) {
	dir := t.TempDir()
	for owner, want := range map[string]string{
		"0123456789abcdef":      "0123456789abcdef",
		BaseOwner:               BaseOwner,
		"../escape":             Unowned,
		"":                      Unowned,
		"Upper":                 Unowned,
		strings.Repeat("a", 65): Unowned,
	} {
		if got := filepath.Base(filepath.Dir(PrefixPath(dir, owner, "k"))); got != want {
			t.Errorf("PrefixPath owner %q: directory %q, want %q", owner, got, want)
		}
	}
}

func TestEvict(t *testing.T) {
	tests := []struct {
		name    string
		max     int64
		inUse   []string
		removed []string
		left    []string
	}{
		{name: "under the cap", max: 100,
			left: []string{"prefix/p1/a.kv", "adapters/s.gguf", "prefix/p2/b.kv", "prefix/p1/c.kv"}},
		{name: "least recently used first", max: 50,
			removed: []string{"prefix/p1/a.kv", "adapters/s.gguf"},
			left:    []string{"prefix/p2/b.kv", "prefix/p1/c.kv"}},
		{name: "exactly the cap", max: 70,
			removed: []string{"prefix/p1/a.kv"},
			left:    []string{"adapters/s.gguf", "prefix/p2/b.kv", "prefix/p1/c.kv"}},
		{name: "in use skipped", max: 50, inUse: []string{"prefix/p1/a.kv"},
			removed: []string{"adapters/s.gguf", "prefix/p2/b.kv"},
			left:    []string{"prefix/p1/a.kv", "prefix/p1/c.kv"}},
		{name: "all in use", max: 0, inUse: []string{"prefix/p1/a.kv", "adapters/s.gguf", "prefix/p2/b.kv", "prefix/p1/c.kv"},
			left: []string{"prefix/p1/a.kv", "adapters/s.gguf", "prefix/p2/b.kv", "prefix/p1/c.kv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, PrefixPath(dir, "p1", "a"), 10, 4*time.Hour)
			write(t, AdapterPath(dir, "s"), 20, 3*time.Hour)
			write(t, PrefixPath(dir, "p2", "b"), 30, 2*time.Hour)
			write(t, PrefixPath(dir, "p1", "c"), 20, 1*time.Hour)
			inUse := map[string]bool{}
			for _, p := range tt.inUse {
				inUse[filepath.Join(dir, p)] = true
			}
			removed, err := Evict(dir, tt.max, func(p string) bool { return inUse[p] })
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range removed {
				rel, _ := filepath.Rel(dir, f.Path)
				got = append(got, filepath.ToSlash(rel))
			}
			if diff := cmp.Diff(tt.removed, got); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.left, names(t, dir)); diff != "" {
				t.Errorf("left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvictTouched: a file touched is the most recent, and goes last.
func TestEvictTouched(t *testing.T) {
	dir := t.TempDir()
	old := PrefixPath(dir, "p1", "a")
	write(t, old, 10, 2*time.Hour)
	write(t, PrefixPath(dir, "p2", "b"), 10, 1*time.Hour)
	if !Touch(old) {
		t.Fatal("Touch of an existing file reported it missing")
	}
	if Touch(filepath.Join(dir, "missing.kv")) {
		t.Error("Touch of a missing file reported it there")
	}
	if _, err := Evict(dir, 10, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"prefix/p1/a.kv"}, names(t, dir)); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}

// TestEvictConcurrent: processes evicting at once (goroutines here) never
// fail on a file another removed first, and the cap holds.
func TestEvictConcurrent(t *testing.T) {
	dir := t.TempDir()
	for i := range 40 {
		write(t, PrefixPath(dir, "p1", string(rune('a'+i%26))+string(rune('a'+i/26))), 10, time.Duration(40-i)*time.Minute)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := Evict(dir, 100, func(string) bool { return false }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	files, _ := List(dir)
	if n := Total(files); n > 100 {
		t.Errorf("%d bytes left, cap 100", n)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	write(t, PrefixPath(dir, "p1", "a"), 10, 0)
	write(t, PrefixPath(dir, "p1", "b"), 10, 0)
	write(t, PrefixPath(dir, "p2", "c"), 10, 0)
	write(t, AdapterPath(dir, "s1"), 10, 0)
	write(t, AdapterPath(dir, "s2"), 10, 0)
	if found, err := RemoveOwner(dir, "p1"); !found || err != nil {
		t.Errorf("RemoveOwner(p1) = %v, %v", found, err)
	}
	if found, err := RemoveOwner(dir, "p1"); found || err != nil {
		t.Errorf("RemoveOwner(p1) again = %v, %v", found, err)
	}
	if found, err := RemoveOwner(dir, "../adapters"); found || err != nil {
		t.Errorf("RemoveOwner of an unsafe name = %v, %v", found, err)
	}
	if err := RemoveAdapter(dir, "s1"); err != nil {
		t.Error(err)
	}
	if err := RemoveAdapter(dir, "s1"); err != nil {
		t.Errorf("RemoveAdapter again: %v", err)
	}
	if diff := cmp.Diff([]string{"prefix/p2/c.kv", "adapters/s2.gguf"}, names(t, dir)); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "prefix"))
	if len(ents) != 1 {
		t.Errorf("prefix/ holds %v, want only p2", ents)
	}
}

func TestPins(t *testing.T) {
	var p Pins
	a, b := new(int), new(int)
	p.Pin("x", a)
	p.Pin("x", a)
	p.Pin("x", b)
	p.Pin("y", a)
	p.Unpin(a)
	if !p.InUse("x") || p.InUse("y") {
		t.Errorf("after unpinning a: x %v y %v, want x still held by b", p.InUse("x"), p.InUse("y"))
	}
	p.Unpin(b)
	if p.InUse("x") {
		t.Error("x in use after every holder unpinned")
	}
}

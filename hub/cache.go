package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/program"
)

// Item is one cached program or base model, or engine cache files no
// cached program owns.
type Item struct {
	Kind      string    `json:"kind"` // KindProgram, KindRuntime or KindKV
	ID        string    `json:"id"`   // program id, runtime id or (KindKV) owner
	Slugs     []string  `json:"slugs,omitempty"`
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	Modified  time.Time `json:"modified"`
	Spec      string    `json:"spec,omitempty"`       // a program's spec, from meta.json
	RuntimeID string    `json:"runtime_id,omitempty"` // a program's runtime
	// KVSize is what a program's engine cache takes under KVDir: its prefix
	// states and its extracted adapter (counted for each program sharing it).
	KVSize int64 `json:"kv_size,omitempty"`
}

// Item kinds.
const (
	KindProgram = "program"
	KindRuntime = "runtime"
)

// List returns the cached programs, then the cached base models, then the
// engine cache files no cached program owns (see KindKV), each sorted by id.
// Partial downloads are not listed.
func (c *Client) List() ([]Item, error) {
	root, err := c.dir()
	if err != nil {
		return nil, err
	}
	slugs, err := c.readSlugs(root)
	if err != nil {
		return nil, err
	}
	byID := map[string][]string{}
	for s, id := range slugs {
		byID[id] = append(byID[id], s)
	}
	var items []Item
	progs, err := readDir(filepath.Join(root, "programs"))
	if err != nil {
		return nil, err
	}
	for _, e := range progs {
		if !e.IsDir() || !program.ValidID(e.Name()) {
			continue
		}
		p := filepath.Join(root, "programs", e.Name())
		it := Item{Kind: KindProgram, ID: e.Name(), Path: p, Slugs: byID[e.Name()]}
		slices.Sort(it.Slugs)
		it.Size, it.Modified = dirSize(p)
		it.Spec, it.RuntimeID = metaSummary(filepath.Join(p, "meta.json"))
		items = append(items, it)
	}
	models, err := readDir(filepath.Join(root, "models"))
	if err != nil {
		return nil, err
	}
	for _, e := range models {
		if !e.IsDir() || !ValidRuntimeID(e.Name()) {
			continue
		}
		if p, err := c.RuntimePath(e.Name()); err == nil {
			it := Item{Kind: KindRuntime, ID: e.Name(), Path: p}
			if fi, err := os.Stat(p); err == nil {
				it.Size, it.Modified = fi.Size(), fi.ModTime()
			}
			items = append(items, it)
		}
	}
	return listKV(root, items)
}

// Remove deletes a cached item: a runtime id (or "runtime:ID"), a program
// id, or a slug (the program it names, every slug naming that program, its
// prefix states under KVDir and its extracted adapter unless another cached
// program uses it). Nothing cached is a *MissingError.
func (c *Client) Remove(ctx context.Context, ref string) error {
	root, err := c.dir()
	if err != nil {
		return err
	}
	if id, ok := c.runtimeRef(root, ref); ok {
		return c.removeRuntime(ctx, root, id)
	}
	id, err := c.cachedID(root, ref)
	if err != nil {
		return err
	}
	unlock, err := c.lock(ctx, root, "program-"+id, "program "+id)
	if err != nil {
		return err
	}
	defer unlock()
	dir := filepath.Join(root, "programs", id)
	found := fileExists(dir)
	sha, _ := fileSHA256(filepath.Join(dir, "adapter.gguf")) // "" when gone
	if err := removeAtomic(dir); err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	cleanTemps(filepath.Join(root, "programs"), id, false)
	n, err := c.updateSlugs(ctx, root, func(m map[string]string) {
		for s, v := range m {
			if v == id {
				delete(m, s)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	kvFound, err := removeKV(root, id, sha)
	if err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	if !found && n == 0 && !kvFound {
		return &MissingError{Kind: KindProgram, Ref: ref}
	}
	return nil
}

func (c *Client) removeRuntime(ctx context.Context, root, id string) error {
	unlock, err := c.lock(ctx, root, "runtime-"+id, "runtime "+id)
	if err != nil {
		return err
	}
	defer unlock()
	dir := filepath.Join(root, "models", id)
	if !fileExists(dir) {
		return &MissingError{Kind: KindRuntime, Ref: id}
	}
	if err := removeAtomic(dir); err != nil {
		return fmt.Errorf("remove runtime %s: %w", id, err)
	}
	return nil
}

// Pull fetches ref into the cache and returns its path: a runtime id (a
// pinned one, one already cached, or any id written "runtime:ID"), an
// official compiler's name (see PullCompiler), the pseudo-program writer's
// (PseudoWriter), else a program reference
// (see PullProgram).
func (c *Client) Pull(ctx context.Context, ref string) (string, error) {
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	if id, ok := c.runtimeRef(root, ref); ok {
		return c.PullRuntime(ctx, id)
	}
	if _, ok := OfficialCompilers[ref]; ok {
		return c.PullCompiler(ctx, ref)
	}
	if ref == PseudoWriter.Name {
		return c.PullWriter(ctx)
	}
	return c.PullProgram(ctx, ref)
}

// runtimeRef reports whether ref names a runtime rather than a program.
func (c *Client) runtimeRef(root, ref string) (string, bool) {
	if id, ok := strings.CutPrefix(ref, "runtime:"); ok {
		return id, true
	}
	if _, ok := c.runtimes()[ref]; ok {
		return ref, true
	}
	return ref, ValidRuntimeID(ref) && fileExists(filepath.Join(root, "models", ref))
}

// removeAtomic renames dir out of the way, then deletes it, so no reader
// sees a half-deleted item.
func removeAtomic(dir string) error {
	tmp := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".del-"+fmt.Sprint(time.Now().UnixNano()))
	if err := os.Rename(dir, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(tmp)
}

// cleanTemps removes what interrupted installs of id left in dir, except
// resumable partial downloads when keepPartial is set.
func cleanTemps(dir, id string, keepPartial bool) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+id+".*"))
	for _, m := range matches {
		if keepPartial && (strings.HasSuffix(m, ".partial") || strings.HasSuffix(m, ".partial.json")) {
			continue
		}
		os.RemoveAll(m)
	}
}

func readDir(dir string) ([]os.DirEntry, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return es, err
}

func dirSize(dir string) (size int64, mod time.Time) {
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
				if fi.ModTime().After(mod) {
					mod = fi.ModTime()
				}
			}
		}
		return nil
	})
	return size, mod
}

// metaSummary reads the spec and runtime id from meta.json, best effort.
func metaSummary(p string) (spec, runtimeID string) {
	b, err := os.ReadFile(p)
	if err != nil || len(b) > maxJSONBody {
		return "", ""
	}
	var m struct {
		Spec      string `json:"spec"`
		RuntimeID string `json:"runtime_id"`
	}
	_ = json.Unmarshal(b, &m)
	return m.Spec, m.RuntimeID
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// writeJSONAtomic writes v to p through a temporary file and a rename.
func writeJSONAtomic(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(p, append(b, '\n'), 0o644)
}

// syncDir flushes a directory entry after a rename, best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func retryAfterHeader(resp *http.Response) time.Duration {
	return api.RetryAfter(resp.Header, time.Now())
}

package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/paw-dev/paw/internal/kvcache"
	"github.com/paw-dev/paw/program"
)

// KVDir is the directory under the cache root where the engine keeps
// prefix states and extracted adapters (paw.Open hands it to interp).
const KVDir = "kv"

// KindKV items are engine cache files that no cached program owns: ID is
// their owner, a program id no longer (or never) cached, kvcache.BaseOwner
// for base mode, or kvcache.Unowned.
const KindKV = "kv"

// listKV sets each program item's KVSize from the engine cache files under
// root and returns items for the files no cached program owns, by owner.
func listKV(root string, items []Item) ([]Item, error) {
	dir := filepath.Join(root, KVDir)
	files, err := kvcache.List(dir)
	if err != nil {
		return nil, err
	}
	byOwner := map[string][]kvcache.File{}
	adapters := map[string]kvcache.File{}
	for _, f := range files {
		switch {
		case f.Kind == kvcache.KindPrefix:
			byOwner[f.Owner] = append(byOwner[f.Owner], f)
		case f.SHA != "":
			adapters[f.SHA] = f
		default: // a crashed extraction's leftover
			byOwner[kvcache.Unowned] = append(byOwner[kvcache.Unowned], f)
		}
	}
	used := map[string]bool{}
	for i := range items {
		it := &items[i]
		if it.Kind != KindProgram {
			continue
		}
		it.KVSize = kvcache.Total(byOwner[it.ID])
		delete(byOwner, it.ID)
		if sha := extractedAdapter(it.Path, adapters); sha != "" {
			it.KVSize += adapters[sha].Size
			used[sha] = true
		}
	}
	for sha, f := range adapters {
		if !used[sha] {
			byOwner[kvcache.Unowned] = append(byOwner[kvcache.Unowned], f)
		}
	}
	var kv []Item
	for owner, fs := range byOwner {
		it := Item{Kind: KindKV, ID: owner, Path: kvcache.OwnerDir(dir, owner), Size: kvcache.Total(fs)}
		if owner == kvcache.Unowned {
			it.Path = dir // old-layout states and adapters lie elsewhere too
		}
		for _, f := range fs {
			if f.Used.After(it.Modified) {
				it.Modified = f.Used
			}
		}
		kv = append(kv, it)
	}
	slices.SortFunc(kv, func(a, b Item) int { return strings.Compare(a.ID, b.ID) })
	return append(items, kv...), nil
}

// extractedAdapter returns the content hash of the program's adapter in
// progDir when the engine has extracted it (one of adapters), else "".
// Only an adapter of a matching size is hashed.
func extractedAdapter(progDir string, adapters map[string]kvcache.File) string {
	p := filepath.Join(progDir, "adapter.gguf")
	fi, err := os.Stat(p)
	if err != nil {
		return ""
	}
	for _, f := range adapters {
		if f.Size != fi.Size() {
			continue
		}
		sha, err := fileSHA256(p)
		if _, ok := adapters[sha]; err != nil || !ok {
			return ""
		}
		return sha
	}
	return ""
}

// removeKV deletes the prefix states of program id and, unless another
// cached program uses it too, its extracted adapter (sha; "" when unknown).
// It reports whether there was anything to delete.
func removeKV(root, id, sha string) (bool, error) {
	dir := filepath.Join(root, KVDir)
	found, err := kvcache.RemoveOwner(dir, id)
	if err != nil || sha == "" {
		return found, err
	}
	fi, err := os.Stat(kvcache.AdapterPath(dir, sha))
	if err != nil {
		return found, nil // not extracted, or gone already
	}
	adapters := map[string]kvcache.File{sha: {Size: fi.Size()}}
	progs, err := readDir(filepath.Join(root, "programs"))
	if err != nil {
		return found, err
	}
	for _, e := range progs {
		if e.IsDir() && program.ValidID(e.Name()) && extractedAdapter(filepath.Join(root, "programs", e.Name()), adapters) == sha {
			return found, nil // shared
		}
	}
	return true, kvcache.RemoveAdapter(dir, sha)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Package kvcache lays out the engine's disk cache of prefix states and
// extracted adapters, lists it by owner, and bounds it by evicting the least
// recently used files.
//
// Under the cache directory (paw puts it at CACHE/kv):
//
//	prefix/OWNER/KEY.kv   a program's prefix state; OWNER is the program id, or BaseOwner
//	adapters/SHA.gguf     an adapter extracted by content hash, shared by programs
//	prefix/KEY.kv         the layout before owners: unowned, left to eviction
//
// Recency is the modification time: readers touch a file when they use it
// (access times are often not kept). Every write is atomic (a temporary file
// renamed into place), and files may vanish under a reader at any time: a
// prefix state is then evaluated again, an adapter extracted again.
package kvcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Kinds of cache files.
const (
	KindPrefix  = "prefix"
	KindAdapter = "adapter"
)

// BaseOwner owns the prefix states of base mode (no program). It cannot be a
// program id, which is hexadecimal.
const BaseOwner = "base"

// Unowned owns the prefix states of the layout before owners, and of
// programs whose ids cannot name a directory (programs built in memory may
// carry any id).
const Unowned = "unowned"

const (
	prefixDir  = "prefix"
	adapterDir = "adapters"
)

// staleTemp is the age past which a temporary file is a crashed write's
// leftover rather than a write in progress (a 30 MB state takes well under
// a second).
const staleTemp = time.Hour

// File is one cache file.
type File struct {
	Path  string
	Kind  string // KindPrefix or KindAdapter
	Owner string // a prefix state's program id, BaseOwner or Unowned; "" for adapters
	SHA   string // an adapter's content hash ("" for a crash's leftover)
	Size  int64
	Used  time.Time // last write or use
}

// PrefixPath is where owner's prefix state named name (a hex key) lives.
func PrefixPath(dir, owner, name string) string {
	return filepath.Join(OwnerDir(dir, owner), name+".kv")
}

// OwnerDir is the directory of owner's prefix states.
func OwnerDir(dir, owner string) string {
	if !safeOwner(owner) {
		owner = Unowned
	}
	return filepath.Join(dir, prefixDir, owner)
}

// AdapterPath is where the adapter with content hash sha is extracted.
func AdapterPath(dir, sha string) string {
	return filepath.Join(dir, adapterDir, sha+".gguf")
}

// safeOwner reports whether owner can name a directory: lowercase letters,
// digits and '-', at most 64 bytes.
func safeOwner(owner string) bool {
	if owner == "" || len(owner) > 64 {
		return false
	}
	for _, c := range []byte(owner) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Touch marks path as just used and reports whether it is there. A file
// touched is the most recent, so another process evicts it last.
func Touch(path string) bool {
	now := time.Now()
	return os.Chtimes(path, now, now) == nil
}

// List returns the cache files under dir, least recently used first, with
// the temporary files of writes that a crash left (older than staleTemp),
// as the files they were to become; a missing dir is empty.
func List(dir string) ([]File, error) {
	var files []File
	add := func(path, kind, owner string) {
		name := filepath.Base(path)
		temp := strings.HasPrefix(name, ".")
		if temp { // .NAME.tmp-RANDOM, see fsutil.WriteAtomic
			i := strings.LastIndex(name, ".tmp-")
			if i < 0 {
				return
			}
			name = name[1:i]
		}
		ext := map[string]string{KindPrefix: ".kv", KindAdapter: ".gguf"}[kind]
		if !strings.HasSuffix(name, ext) {
			return
		}
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || temp && time.Since(fi.ModTime()) < staleTemp {
			return // vanished, not ours, or a write in progress
		}
		f := File{Path: path, Kind: kind, Owner: owner, Size: fi.Size(), Used: fi.ModTime()}
		if kind == KindAdapter && !temp {
			f.SHA = strings.TrimSuffix(name, ext)
		}
		files = append(files, f)
	}
	ents, err := readDir(filepath.Join(dir, prefixDir))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		p := filepath.Join(dir, prefixDir, e.Name())
		if !e.IsDir() {
			add(p, KindPrefix, Unowned)
			continue
		}
		sub, err := readDir(p)
		if err != nil {
			return nil, err
		}
		owner := e.Name()
		if !safeOwner(owner) { // what an interrupted RemoveOwner left
			owner = Unowned
		}
		for _, s := range sub {
			add(filepath.Join(p, s.Name()), KindPrefix, owner)
		}
	}
	ents, err = readDir(filepath.Join(dir, adapterDir))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		add(filepath.Join(dir, adapterDir, e.Name()), KindAdapter, "")
	}
	slices.SortStableFunc(files, func(a, b File) int { return a.Used.Compare(b.Used) })
	return files, nil
}

// readDir is os.ReadDir where a directory that is not there (yet, or any
// more) is empty.
func readDir(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv cache: %w", err)
	}
	return ents, nil
}

// Evict removes the least recently used files under dir until the rest
// total at most max bytes, never one that inUse reports, and returns the
// files removed. Processes sharing dir may evict at once: a file another
// removed first is counted as gone.
func Evict(dir string, max int64, inUse func(path string) bool) ([]File, error) {
	files, err := List(dir)
	if err != nil {
		return nil, err
	}
	total := Total(files)
	var removed []File
	var errs []error
	for _, f := range files {
		if total <= max {
			break
		}
		if inUse(f.Path) {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("kv cache: evict: %w", err))
			continue
		}
		total -= f.Size
		removed = append(removed, f)
	}
	return removed, errors.Join(errs...)
}

// RemoveOwner deletes every prefix state of owner and reports whether there
// were any.
func RemoveOwner(dir, owner string) (bool, error) {
	if !safeOwner(owner) {
		return false, nil
	}
	p := OwnerDir(dir, owner)
	// Renamed first, so a writer never adds a file to a directory half deleted.
	tmp := filepath.Join(dir, prefixDir, fmt.Sprintf(".%s.del-%d", owner, time.Now().UnixNano()))
	if err := os.Rename(p, tmp); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("kv cache: remove %s: %w", owner, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return true, fmt.Errorf("kv cache: remove %s: %w", owner, err)
	}
	return true, nil
}

// RemoveAdapter deletes the adapter extracted with content hash sha, if any.
func RemoveAdapter(dir, sha string) error {
	if err := os.Remove(AdapterPath(dir, sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kv cache: %w", err)
	}
	return nil
}

// Total sums the sizes of files.
func Total(files []File) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

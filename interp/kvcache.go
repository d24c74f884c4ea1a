package interp

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/internal/kvcache"
)

// DefaultKVCacheMax bounds the cache directory's prefix states and extracted
// adapters when Options.KVCacheMax is zero.
const DefaultKVCacheMax = 2 << 30

var (
	// kvPins are the cache files that loaded functions of this process use:
	// a function reads its prefix state back whenever the state left memory.
	// Per process, as engines may share a cache directory.
	kvPins kvcache.Pins
	// evictMu keeps this process's engines from evicting at once (and
	// removing more than the cap asks).
	evictMu sync.Mutex
)

// kvOwner names the owner of f's cache files: its program, or base mode.
func (f *Func) kvOwner() string {
	if f.adapterSHA == "" {
		return kvcache.BaseOwner
	}
	return f.name
}

func (f *Func) prefixFile() string {
	return kvcache.PrefixPath(f.b.e.opts.CacheDir, f.kvOwner(), hex.EncodeToString(f.key[:]))
}

// pinFiles marks fn's prefix state (at p) and adapter as in use until fn is
// forgotten, and as just used. Called once a state is read or written: a
// function whose prefix evaluation fails is never forgotten, so its pins
// would stay.
func (e *Engine) pinFiles(fn *Func, p string) {
	kvPins.Pin(p, fn)
	kvcache.Touch(p)
	if fn.adapterSHA != "" {
		a := kvcache.AdapterPath(e.opts.CacheDir, fn.adapterSHA)
		kvPins.Pin(a, fn)
		kvcache.Touch(a)
	}
}

// readPrefix reads fn's cached prefix state; none returns (nil, nil).
func (e *Engine) readPrefix(fn *Func) ([]byte, error) {
	p := fn.prefixFile()
	state, err := loadPrefix(p, fn.key)
	if state != nil {
		e.pinFiles(fn, p)
	}
	return state, err
}

// writePrefix saves fn's prefix state, then bounds the cache.
func (e *Engine) writePrefix(fn *Func, state []byte) error {
	p := fn.prefixFile()
	if err := savePrefix(p, fn.key, state); err != nil {
		return err
	}
	e.pinFiles(fn, p)
	e.evict()
	return nil
}

// extractAdapter writes an adapter under the cache directory by its content
// hash, once, and returns its path.
func (e *Engine) extractAdapter(sha string, data []byte) (string, error) {
	path := kvcache.AdapterPath(e.opts.CacheDir, sha)
	if kvcache.Touch(path) {
		return path, nil
	}
	if err := fsutil.WriteFileAtomic(path, data, 0o644); err != nil {
		return "", fmt.Errorf("extract adapter: %w", err)
	}
	// Not pinned yet: its function pins it once the prefix is ready.
	e.evict(path)
	return path, nil
}

// evict removes the least recently used cache files beyond
// Options.KVCacheMax, sparing those in use and keep.
func (e *Engine) evict(keep ...string) {
	limit := cmp.Or(e.opts.KVCacheMax, DefaultKVCacheMax)
	if limit < 0 {
		return
	}
	evictMu.Lock()
	defer evictMu.Unlock()
	removed, err := kvcache.Evict(e.opts.CacheDir, limit, func(p string) bool {
		return kvPins.InUse(p) || slices.Contains(keep, p)
	})
	if err != nil {
		slog.Warn("kv cache eviction", "err", err)
	}
	if len(removed) > 0 {
		slog.Debug("kv cache evicted", "files", len(removed), "bytes", kvcache.Total(removed))
	}
}

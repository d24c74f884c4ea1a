package interp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/paw-dev/paw/internal/llama"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxBatch     = 8    // calls decoded together per base model
	DefaultKVCells      = 4096 // KV cache cells per base model (all sequences)
	DefaultResident     = 4    // program prefixes in the KV cache at once per base model
	DefaultPrefixStates = 16   // program prefix states kept in memory per base model
	DefaultBatchSize    = 512  // most tokens per decode
)

// Errors returned by the engine.
var (
	ErrClosed       = errors.New("interp: engine or function closed")
	ErrInputTooLong = errors.New("interp: input does not fit the model's context")
	ErrBaseMismatch = errors.New("interp: program does not fit this base model")
	ErrOptions      = errors.New("interp: invalid call options")
)

// Options configures an Engine. The zero value works: every core, no
// persistent cache, and the defaults above.
type Options struct {
	Threads int // compute threads; 0 = one per core (never more)
	// CacheDir keeps prefix KV caches and extracted adapters across processes.
	// Empty means a private temporary directory removed on Close.
	CacheDir string
	MaxBatch int // 0 = DefaultMaxBatch
	// KVCacheMax bounds the bytes CacheDir holds (0 = DefaultKVCacheMax,
	// negative = no bound): after each write the least recently used files
	// go, except those the functions loaded in this process use.
	KVCacheMax int64
	// KVCells sizes each base model's KV cache, shared by all its sequences
	// (0 = DefaultKVCells); one sequence never exceeds the trained context.
	KVCells int
	// Resident bounds the programs whose prefixes share the KV cache at once
	// (0 = DefaultResident): those with calls running; an idle cache keeps
	// only the prefix of the program called, the others wait in memory.
	Resident int
	// PrefixStates bounds the prefix states kept in memory (0 =
	// DefaultPrefixStates); the least recently used beyond it wait in the
	// cache directory and are read back when called.
	PrefixStates int
	// FlashAttn uses flash attention: on 2 cores it measured ~10% faster on
	// 32-token calls and slower on label-style calls (280 vs 251 ms), so it
	// suits programs with long outputs (README). Logits differ from the
	// default kernels in the last digits.
	FlashAttn bool
	// NoDrafts turns off speculative drafts (see Stats.Drafted): every step
	// decodes one token per call, so a call running alone is bit-identical
	// to a one-token-at-a-time decode, even on near-ties.
	NoDrafts bool
}

// Engine runs programs. Each base model file is loaded once (memory-mapped)
// and shared by every program on it; each adapter is loaded once. An Engine
// is safe for concurrent use.
type Engine struct {
	opts Options
	tmp  string // CacheDir when none was given

	mu     sync.Mutex
	bases  map[string]*base
	closed bool
	stats  Stats

	// compute serialises decodes across base models: they share the cores, and
	// running two at once would oversubscribe them.
	compute sync.Mutex
}

// New returns an engine. Models load lazily, on the first Load that needs them.
func New(opts Options) (*Engine, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.KVCells <= 0 {
		opts.KVCells = DefaultKVCells
	}
	if opts.Resident <= 0 {
		opts.Resident = DefaultResident
	}
	if opts.PrefixStates <= 0 {
		opts.PrefixStates = DefaultPrefixStates
	}
	e := &Engine{opts: opts, bases: map[string]*base{}}
	if opts.CacheDir == "" {
		dir, err := os.MkdirTemp("", "paw-interp-")
		if err != nil {
			return nil, fmt.Errorf("interp: cache dir: %w", err)
		}
		e.tmp, e.opts.CacheDir = dir, dir
	}
	return e, nil
}

// Close stops every worker and frees the models. Functions must not be used after.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	bases := e.bases
	e.bases = nil
	e.mu.Unlock()
	var errs []error
	for _, b := range bases {
		errs = append(errs, b.close())
	}
	if e.tmp != "" {
		errs = append(errs, os.RemoveAll(e.tmp))
	}
	return errors.Join(errs...)
}

// base returns the shared state of the base model at path, loading it once.
func (e *Engine) base(path string) (*base, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("base model %s: %w", path, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if b, ok := e.bases[abs]; ok {
		return b, nil
	}
	b, err := newBase(e, abs)
	if err != nil {
		return nil, err
	}
	e.bases[abs] = b
	return b, nil
}

// modelIdentity fingerprints a model file for prefix-cache keys: its size,
// modification time and the hash of its first MiB (the GGUF header and
// metadata), cheap even for a 600 MB file.
func modelIdentity(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%d\x00", st.Size(), st.ModTime().UnixNano())
	if _, err := io.Copy(h, io.LimitReader(f, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// contextParams sizes each base model's shared context: prefix slots, call
// sequences and label-scoring sequences over one unified KV cache.
func (e *Engine) contextParams() llama.ContextParams {
	return llama.ContextParams{
		NCtx:      e.opts.KVCells,
		NBatch:    DefaultBatchSize,
		NUBatch:   64, // measured: batched throughput +25% over 512
		NSeqMax:   e.opts.Resident + e.opts.MaxBatch + MaxLabels,
		Threads:   e.opts.Threads,
		FlashAttn: e.opts.FlashAttn,
	}
}

// Stats counts engine work since New.
type Stats struct {
	PrefixEvaluated int // prefixes decoded from scratch
	PrefixRestored  int // prefixes restored from a cache file
	Drafted         int // tokens guessed ahead by greedy calls
	DraftAccepted   int // guesses that greedy decoding confirmed (each saves a step)
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Engine) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

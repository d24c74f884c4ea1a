package interp

import (
	"context"
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
	// ErrFuncClosed reports a call to a closed function; it matches ErrClosed.
	ErrFuncClosed error = funcClosed{}
)

// funcClosed is ErrFuncClosed's type: errors.Is matches it with ErrClosed too,
// so callers that test for ErrClosed keep working.
type funcClosed struct{}

func (funcClosed) Error() string        { return "interp: function closed" }
func (funcClosed) Is(target error) bool { return target == ErrClosed }

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
	// NoAdapter runs programs without their adapters (outputs change): what
	// a program's adapter costs per call is the difference (paw bench --vary).
	NoAdapter bool
}

// Engine runs programs. Each base model file is loaded once (memory-mapped)
// and shared by every program on it; each adapter is loaded once. An Engine
// is safe for concurrent use.
type Engine struct {
	opts Options
	tmp  string // CacheDir when none was given

	mu     sync.Mutex
	bases  map[string]*baseLoad // by absolute path, loading or loaded
	closed bool
	stats  Stats
	// inUse counts Load, LoadBase and Call in flight: they use the models
	// (tokenizer, chat template, adapter loading) outside any worker, so
	// Close frees the models only once they have left.
	inUse sync.WaitGroup

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
	e := &Engine{opts: opts, bases: map[string]*baseLoad{}}
	if opts.CacheDir == "" {
		dir, err := os.MkdirTemp("", "paw-interp-")
		if err != nil {
			return nil, fmt.Errorf("interp: cache dir: %w", err)
		}
		e.tmp, e.opts.CacheDir = dir, dir
	}
	return e, nil
}

// Close stops every worker and frees the models. New work fails with
// ErrClosed; Close waits for the calls and loads in flight to return (each
// with ErrClosed or its result) before it frees what they use.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var bases []*base
	for _, l := range e.bases {
		if l.b != nil {
			bases = append(bases, l.b)
		}
	}
	e.mu.Unlock()
	// Stopped workers answer every waiting call and Load, so the wait ends;
	// a base still loading is freed by its loader, which sees closed.
	for _, b := range bases {
		b.stopWorker()
	}
	e.inUse.Wait()
	var errs []error
	for _, b := range bases {
		errs = append(errs, b.free())
	}
	if e.tmp != "" {
		errs = append(errs, os.RemoveAll(e.tmp))
	}
	return errors.Join(errs...)
}

// enter marks work that uses the models as in flight, failing once the engine
// is closed; leave ends it.
func (e *Engine) enter() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.inUse.Add(1) // before Close's Wait: closed is set under mu
	return nil
}

func (e *Engine) leave() { e.inUse.Done() }

// baseLoad is a base model being loaded or loaded: done closes once b or err
// is set, so concurrent Loads of one model share one load.
type baseLoad struct {
	done chan struct{}
	b    *base
	err  error
}

// base returns the shared state of the base model at path, loading it once.
// The load runs outside e.mu: loading one model blocks neither another
// model's work nor Stats. The caller holds e.enter.
func (e *Engine) base(ctx context.Context, path string) (*base, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("base model %s: %w", path, err)
	}
	e.mu.Lock()
	l, loading := e.bases[abs]
	if !loading {
		l = &baseLoad{done: make(chan struct{})}
		e.bases[abs] = l
	}
	e.mu.Unlock()
	if loading {
		select {
		case <-l.done:
			return l.b, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b, err := newBase(e, abs)
	e.mu.Lock()
	orphan := err == nil && e.closed // Close did not see it: free it here
	switch {
	case orphan:
		l.err = ErrClosed
	case err != nil:
		l.err = err
	default:
		l.b = b
	}
	if l.err != nil {
		delete(e.bases, abs) // a later Load tries again
	}
	close(l.done)
	e.mu.Unlock()
	if orphan {
		return nil, errors.Join(ErrClosed, b.close())
	}
	return l.b, l.err
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
	// Decodes counts decode steps; DecodeCalls sums the calls in each, so
	// DecodeCalls/Decodes is the mean batch (1 = no batching).
	Decodes         int
	DecodeCalls     int
	DecodeTokens    int // tokens decoded, prompts and drafts included
	AdapterSwitches int // decodes that had to load another program's adapter first
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

package interp

import (
	"context"
	"fmt"
	"sync"

	"github.com/paw-dev/paw/internal/llama"
)

// base is one loaded base model with its shared context and worker.
type base struct {
	e     *Engine
	path  string
	id    string // modelIdentity, for prefix-cache keys
	model *llama.Model
	tok   *tokenizer
	lctx  *llama.Context
	limit int // most positions one sequence may use: the trained context, bounded by the cache

	jobs chan job
	stop context.CancelFunc
	done chan struct{}

	mu       sync.Mutex
	adapters map[string]*adapterRef // by adapter sha256
}

type adapterRef struct {
	a    *llama.Adapter
	refs int
}

// loadModel loads a base model file; tests pause it to see that a load
// blocks nothing else.
var loadModel = llama.LoadModel

func newBase(e *Engine, path string) (*base, error) {
	id, err := modelIdentity(path)
	if err != nil {
		return nil, fmt.Errorf("base model %s: %w", path, err)
	}
	m, err := loadModel(path, llama.ModelParams{})
	if err != nil {
		return nil, err
	}
	p := e.contextParams()
	lctx, err := llama.NewContext(m, p)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("base model %s: %w", path, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	b := &base{
		e: e, path: path, id: id, model: m, tok: newTokenizer(m), lctx: lctx,
		limit: min(m.NCtxTrain(), lctx.NCtx()),
		jobs:  make(chan job), stop: stop, done: make(chan struct{}),
		adapters: map[string]*adapterRef{},
	}
	w := newWorker(b, e.opts.Resident, e.opts.MaxBatch)
	go func() {
		defer close(b.done)
		w.run(ctx)
	}()
	return b, nil
}

func (b *base) close() error {
	b.stopWorker()
	return b.free()
}

// stopWorker stops the worker, which fails the calls it holds with ErrClosed;
// later submits fail too.
func (b *base) stopWorker() {
	b.stop()
	<-b.done
}

// free frees the adapters, context and model: the worker is stopped and no
// Load or Call uses them.
func (b *base) free() error {
	b.mu.Lock()
	for _, r := range b.adapters {
		r.a.Close()
	}
	b.adapters = nil
	b.mu.Unlock()
	b.lctx.Close()
	return b.model.Close()
}

// adapter loads the adapter with the given bytes once per base model,
// extracting it under the cache directory by its content hash.
func (b *base) adapter(sha string, data []byte) (*llama.Adapter, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.adapters[sha]; ok {
		r.refs++
		return r.a, nil
	}
	path, err := b.e.extractAdapter(sha, data)
	if err != nil {
		return nil, err
	}
	a, err := llama.LoadAdapter(b.model, path)
	if err != nil {
		return nil, err
	}
	b.adapters[sha] = &adapterRef{a: a, refs: 1}
	return a, nil
}

// releaseAdapter drops one reference, freeing the adapter with the last.
func (b *base) releaseAdapter(sha string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.adapters[sha]
	if !ok {
		return
	}
	if r.refs--; r.refs == 0 {
		r.a.Close()
		delete(b.adapters, sha)
	}
}

// submit hands a job to the worker, failing if the engine is closing.
func (b *base) submit(ctx context.Context, j job) error {
	select {
	case b.jobs <- j:
		return nil
	case <-b.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

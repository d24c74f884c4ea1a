package server

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/paw-dev/paw"
)

// funcs is the LRU of loaded functions, keyed by the reference they were
// loaded under and, once loaded, by their program id too. Concurrent
// requests for one program share one load. An evicted function is closed
// when its last call returns.
type funcs struct {
	mu    sync.Mutex
	max   int
	byRef map[string]*entry // every reference an entry answers to
	lru   *list.List        // of *entry, most recent first
	load  func(ctx context.Context, ref string) (*paw.Function, error)
}

type entry struct {
	refs    []string      // keys in byRef
	ready   chan struct{} // closed when the load ended
	fn      *paw.Function // set when the load succeeded
	err     error
	pinned  bool // preloaded: never evicted (a local path could not be reloaded)
	users   int  // calls holding fn
	evicted bool
	elem    *list.Element
}

func newFuncs(max int, load func(context.Context, string) (*paw.Function, error)) *funcs {
	return &funcs{max: max, byRef: map[string]*entry{}, lru: list.New(), load: load}
}

// get returns the function ref names, loading it if needed, and a release
// to call when done with it. A load runs on loadCtx, not the request's, so
// that a client leaving does not fail the others waiting on the same load.
// A pinned function is never evicted.
func (f *funcs) get(ctx, loadCtx context.Context, ref string, pin bool) (*paw.Function, func(), error) {
	f.mu.Lock()
	e, ok := f.byRef[ref]
	if !ok {
		e = &entry{refs: []string{ref}, ready: make(chan struct{})}
		f.byRef[ref] = e
		go f.fill(loadCtx, e, ref)
	}
	e.pinned = e.pinned || pin
	e.users++
	f.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		f.release(e)
		return nil, nil, ctx.Err()
	}
	if e.err != nil {
		f.release(e)
		return nil, nil, e.err
	}
	f.mu.Lock()
	if e.elem != nil {
		f.lru.MoveToFront(e.elem)
	}
	f.mu.Unlock()
	return e.fn, func() { f.release(e) }, nil
}

// fill loads e. A failed load is forgotten, so that the next request
// tries again (the bundle may have been fixed); its waiters get the error.
func (f *funcs) fill(ctx context.Context, e *entry, ref string) {
	fn, err := f.load(ctx, ref)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer close(e.ready)
	if err != nil {
		e.err = fmt.Errorf("load %s: %w", ref, err)
		delete(f.byRef, ref)
		return
	}
	e.fn = fn
	if name := fn.Name(); name != ref {
		if _, taken := f.byRef[name]; !taken {
			f.byRef[name] = e
			e.refs = append(e.refs, name)
		}
	}
	e.elem = f.lru.PushFront(e)
	f.evict()
}

// evict closes the least recently used unpinned functions beyond max
// (pinned ones do not count).
func (f *funcs) evict() {
	unpinned := 0
	for el := f.lru.Front(); el != nil; el = el.Next() {
		if !el.Value.(*entry).pinned {
			unpinned++
		}
	}
	for el := f.lru.Back(); el != nil && unpinned > f.max; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if !e.pinned {
			unpinned--
			f.drop(e)
		}
		el = prev
	}
}

// drop forgets a loaded entry: new requests load afresh, and its function is
// closed once the calls holding it return. f.mu is held.
func (f *funcs) drop(e *entry) {
	f.lru.Remove(e.elem)
	e.elem = nil
	e.evicted = true
	for _, r := range e.refs {
		if f.byRef[r] == e {
			delete(f.byRef, r)
		}
	}
	if e.users == 0 {
		go e.fn.Close() // closing frees native memory: not under the lock
	}
}

// stale drops the loaded function that ref names when keep says it is no
// longer what ref means; it reports whether it dropped one, and whether that
// one was pinned (the caller loads it again, to keep it loaded).
func (f *funcs) stale(ref string, keep func(*paw.Function) bool) (dropped, pinned bool) {
	f.mu.Lock()
	e, ok := f.byRef[ref]
	if !ok || e.elem == nil { // not loaded, or still loading
		f.mu.Unlock()
		return false, false
	}
	fn := e.fn
	f.mu.Unlock()
	if keep(fn) { // may query the registry: not under the lock
		return false, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byRef[ref] != e || e.elem == nil {
		return false, false
	}
	f.drop(e)
	return true, e.pinned
}

// names lists the references the loaded functions answer to.
func (f *funcs) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for el := f.lru.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*entry).refs...)
	}
	return out
}

func (f *funcs) release(e *entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.users--
	if e.evicted && e.users == 0 && e.fn != nil {
		go e.fn.Close()
	}
}

// pin loads ref and keeps it loaded for the server's life.
func (f *funcs) pin(ctx context.Context, ref string) error {
	_, release, err := f.get(ctx, ctx, ref, true)
	if err != nil {
		return err
	}
	release()
	return nil
}

// has reports whether ref names a loaded or loading function.
func (f *funcs) has(ref string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.byRef[ref]
	return ok
}

// loadedInfo is one loaded function, for listings.
type loadedInfo struct {
	fn   *paw.Function
	refs []string
}

// loaded lists the loaded functions, most recently used first.
func (f *funcs) loaded() []loadedInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []loadedInfo
	for el := f.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		out = append(out, loadedInfo{fn: e.fn, refs: slices.Clone(e.refs)})
	}
	return out
}

func (f *funcs) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lru.Len()
}

// close closes every loaded function.
func (f *funcs) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for el := f.lru.Front(); el != nil; el = el.Next() {
		errs = append(errs, el.Value.(*entry).fn.Close())
	}
	f.lru.Init()
	clear(f.byRef)
	return errors.Join(errs...)
}

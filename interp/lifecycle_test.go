package interp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/kvcache"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

// inspect runs fn on b's worker goroutine, after every job submitted before.
func inspect(t *testing.T, b *base, fn func(*worker)) {
	t.Helper()
	done := make(chan error, 1)
	if err := b.submit(context.Background(), job{inspect: fn, done: done}); err != nil {
		t.Error(err)
		return
	}
	<-done
}

// loadedBase is e's base model at path, once loaded.
func loadedBase(t *testing.T, e *Engine, path string) *base {
	t.Helper()
	abs, _ := filepath.Abs(path)
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.bases[abs]
	if !ok || l.b == nil {
		t.Fatalf("base %s not loaded", path)
	}
	return l.b
}

// TestCancelLoadLeavesNothing cancels a Load while the worker runs its prefix
// job (blocked reading the prefix cache file, a FIFO): Load returns at once,
// and once the job ends the worker holds nothing of the half-made function
// and its adapter is released by the worker, not under it.
func TestCancelLoadLeavesNothing(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 81, pseudo)
	dir := t.TempDir()
	first := load(t, newEngine(t, Options{CacheDir: t.TempDir()}), p, basePath)
	e := newEngine(t, Options{CacheDir: dir})
	fifo := kvcache.PrefixPath(dir, first.kvOwner(), hex.EncodeToString(first.key[:]))
	if err := os.MkdirAll(filepath.Dir(fifo), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan error, 1)
	go func() {
		_, err := e.Load(ctx, p, basePath)
		loaded <- err
	}()
	// Opening the FIFO for writing waits for the worker to open it for reading.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-loaded:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Load: err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load did not return after its context ended")
	}
	// Let the prefix job go on: the file is junk, so the worker recomputes.
	w.Write([]byte("not a prefix state"))
	w.Close()
	b := loadedBase(t, e, basePath)
	inspect(t, b, func(w *worker) {
		for _, s := range w.slots {
			if s.fn != nil {
				t.Errorf("slot %d holds %s after its Load was cancelled", s.seq, s.fn.name)
			}
		}
		if len(w.held) > 0 || w.first != nil || len(w.ring) > 0 {
			t.Errorf("worker keeps the cancelled function: held %d, first %v, ring %d", len(w.held), w.first != nil, len(w.ring))
		}
	})
	b.mu.Lock()
	if n := len(b.adapters); n != 0 {
		t.Errorf("%d adapters still loaded after the cancelled Load", n)
	}
	b.mu.Unlock()
	// The engine still loads and runs the program.
	os.Remove(fifo)
	f := load(t, e, p, basePath)
	if _, err := f.Call(context.Background(), "fine", CallOptions{MaxTokens: 4}); err != nil {
		t.Fatal(err)
	}
}

// TestCallAfterFuncClose: a closed function refuses calls with ErrFuncClosed
// (which is ErrClosed too) instead of decoding without its adapter.
func TestCallAfterFuncClose(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 82, pseudo)
	e := newEngine(t, Options{})
	f := load(t, e, p, basePath)
	if _, err := f.Call(context.Background(), "fine", CallOptions{MaxTokens: 4}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := f.Call(context.Background(), "fine", CallOptions{MaxTokens: 4})
	if !errors.Is(err, ErrFuncClosed) || !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: %+v, err = %v; want ErrFuncClosed", r, err)
	}
	if _, err := f.Batch(context.Background(), []string{"a", "b"}, CallOptions{MaxTokens: 4}); !errors.Is(err, ErrFuncClosed) {
		t.Errorf("batch after Close: err = %v, want ErrFuncClosed", err)
	}
}

// TestFailedAdapterSwitchFailsCalls: when the worker cannot set a program's
// adapter, every call of the step fails; none answers with the base model's
// output, and the next program switches cleanly.
func TestFailedAdapterSwitchFailsCalls(t *testing.T) {
	e := newEngine(t, Options{})
	p1, basePath := testProgram(t, "qwen3-tiny", 83, pseudo)
	p2, _ := testProgram(t, "qwen3-tiny", 84, pseudo)
	f1, f2 := load(t, e, p1, basePath), load(t, e, p2, basePath)
	opts := CallOptions{MaxTokens: 8}
	before, err := f2.Call(context.Background(), "a toaster review", opts)
	if err != nil {
		t.Fatal(err)
	}
	// f2's adapter is the one set; a freed f1 adapter makes the switch fail.
	inspect(t, f1.b, func(*worker) { f1.adapter.Close() })
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			r, err := f1.Call(context.Background(), fmt.Sprint("input ", i), opts)
			if !errors.Is(err, llama.ErrClosed) {
				t.Errorf("call %d with a failed adapter switch: %+v, err = %v; want the switch's error", i, r, err)
			}
		})
	}
	wg.Wait()
	after, err := f2.Call(context.Background(), "a toaster review", opts)
	if err != nil || after.Output != before.Output {
		t.Errorf("other program after the failed switch: %q, %v; before %q", after.Output, err, before.Output)
	}
}

// pauseLoad makes loading the model at path wait for release; started closes
// when a load of it begins, and loads counts them.
func pauseLoad(t *testing.T, path string) (started <-chan struct{}, release func(), loads *atomic.Int32) {
	t.Helper()
	abs, _ := filepath.Abs(path)
	start, gate := make(chan struct{}), make(chan struct{})
	loads = new(atomic.Int32)
	loadModel = func(p string, mp llama.ModelParams) (*llama.Model, error) {
		if p == abs {
			if loads.Add(1) == 1 {
				close(start)
			}
			<-gate
		}
		return llama.LoadModel(p, mp)
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() {
		release()
		loadModel = llama.LoadModel
	})
	return start, release, loads
}

// TestConcurrentBaseLoadBlocksNothing: while one base model loads, Stats,
// calls and loads on another base go on, and a second Load of the loading
// model shares its load.
func TestConcurrentBaseLoadBlocksNothing(t *testing.T) {
	e := newEngine(t, Options{})
	p1, qwen := testProgram(t, "qwen3-tiny", 85, pseudo)
	p2, _ := testProgram(t, "qwen3-tiny", 86, pseudo)
	g1, gpt2 := testProgram(t, "gpt2-tiny", 87, pseudo)
	g2, _ := testProgram(t, "gpt2-tiny", 88, pseudo)
	f1 := load(t, e, p1, qwen)
	started, release, loads := pauseLoad(t, gpt2)
	fns := make(chan *Func, 2)
	for _, g := range []*program.Program{g1, g2} {
		go func() {
			f, err := e.Load(context.Background(), g, gpt2)
			if err != nil {
				t.Error(err)
			}
			fns <- f
		}()
	}
	<-started
	free := make(chan struct{})
	go func() {
		defer close(free)
		e.Stats()
		if _, err := f1.Call(context.Background(), "fine", CallOptions{MaxTokens: 4}); err != nil {
			t.Error(err)
		}
		if _, err := e.Load(context.Background(), p2, qwen); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-free:
	case <-time.After(30 * time.Second):
		t.Fatal("Stats, a call or a load on another base waited for a model load")
	}
	release()
	a, b := <-fns, <-fns
	if a != nil && b != nil && a.b != b.b || loads.Load() != 1 {
		t.Errorf("two Loads of one base: %d model loads, shared base %v; want one", loads.Load(), a != nil && b != nil && a.b == b.b)
	}
}

// TestConcurrentCloseDuringLoad: Close while a base model loads waits for the
// load, which fails with ErrClosed (its model freed by the loader).
func TestConcurrentCloseDuringLoad(t *testing.T) {
	e := newEngine(t, Options{})
	g, gpt2 := testProgram(t, "gpt2-tiny", 89, pseudo)
	started, release, _ := pauseLoad(t, gpt2)
	loaded := make(chan error, 1)
	go func() {
		_, err := e.Load(context.Background(), g, gpt2)
		loaded <- err
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a Load was loading its model")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if err := <-loaded; !errors.Is(err, ErrClosed) {
		t.Errorf("Load during Close: err = %v, want ErrClosed", err)
	}
	if err := <-closed; err != nil {
		t.Error(err)
	}
}

// TestConcurrentCloseDuringCallsAndLoads closes the engine while goroutines
// call, load and close functions on two base models: each gets a result or
// ErrClosed, never a crash, and the closed engine refuses new work.
func TestConcurrentCloseDuringCallsAndLoads(t *testing.T) {
	var progs []*program.Program
	var bases []string
	for i := range 4 {
		p, path := testProgram(t, []string{"qwen3-tiny", "gpt2-tiny"}[i%2], uint64(90+i), pseudo)
		progs, bases = append(progs, p), append(bases, path)
	}
	for round := range 3 {
		e := newEngine(t, Options{})
		f := load(t, e, progs[0], bases[0])
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 6 {
			wg.Go(func() {
				for i := 0; ; i++ {
					var err error
					switch g % 3 {
					case 0:
						_, err = f.Call(context.Background(), fmt.Sprint("call ", i), CallOptions{MaxTokens: 6})
					case 1:
						var lf *Func
						if lf, err = e.Load(context.Background(), progs[(g+i)%4], bases[(g+i)%4]); err == nil {
							_, err = lf.Call(context.Background(), "x", CallOptions{MaxTokens: 2})
							lf.Close()
						}
					default:
						var lf *Func
						if lf, err = e.LoadBase(context.Background(), bases[(g+i)%2]); err == nil {
							lf.Close()
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		time.Sleep(time.Duration(20+60*round) * time.Millisecond)
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("round %d: work during Close: %v, want ErrClosed", round, err)
			}
		}
		if _, err := f.Call(context.Background(), "after", CallOptions{}); !errors.Is(err, ErrClosed) {
			t.Errorf("call after engine Close: %v", err)
		}
		if _, err := e.Load(context.Background(), progs[1], bases[1]); !errors.Is(err, ErrClosed) {
			t.Errorf("Load after engine Close: %v", err)
		}
	}
}

// longOutput is a contract no call can satisfy before 40 letters: every call
// takes several decode steps.
func longOutput(t *testing.T) CallOptions {
	t.Helper()
	c, err := schema.Regex(`[a-z]{40}`)
	if err != nil {
		t.Fatal(err)
	}
	return CallOptions{MaxTokens: 64, Contract: &c}
}

// TestConcurrentBatchBounded: Batch keeps at most MaxBatch calls at the
// worker, whatever the number of inputs.
func TestConcurrentBatchBounded(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 95, pseudo)
	e := newEngine(t, Options{MaxBatch: 2})
	f := load(t, e, p, basePath)
	inputs := make([]string, 7)
	for i := range inputs {
		inputs[i] = fmt.Sprint("review ", i)
	}
	done := make(chan struct{})
	most := 0
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-done:
				return
			default:
			}
			inspect(t, f.b, func(w *worker) { most = max(most, len(w.pending[f])+len(w.active[f])) })
			time.Sleep(time.Millisecond)
		}
	}()
	out, err := f.Batch(context.Background(), inputs, longOutput(t))
	close(done)
	<-watched
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out {
		if len(r.Output) != 40 {
			t.Errorf("input %d: %+v", i, r)
		}
	}
	if most > 2 {
		t.Errorf("%d calls at the worker at once, want at most MaxBatch 2", most)
	}
}

// TestBatchStopsAtFirstError: an input that fails stops the batch: its error
// is returned and the later inputs do not run.
func TestBatchStopsAtFirstError(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 96, pseudo)
	e := newEngine(t, Options{MaxBatch: 2})
	f := load(t, e, p, basePath)
	inputs := []string{"first", "second", strings.Repeat("word ", 3000)}
	for i := range 10 {
		inputs = append(inputs, fmt.Sprint("later ", i))
	}
	out, err := f.Batch(context.Background(), inputs, longOutput(t))
	if !errors.Is(err, ErrInputTooLong) || !strings.Contains(err.Error(), "input 2") {
		t.Errorf("err = %v, want input 2's ErrInputTooLong", err)
	}
	ran := 0
	for _, r := range out[3:] {
		if r.Tokens > 0 {
			ran++
		}
	}
	if ran > 1 {
		t.Errorf("%d of the %d inputs after the failed one ran", ran, len(out)-3)
	}
}

package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/program"
)

// DefaultCompileQueue is how many compile jobs may wait behind the running
// one.
const DefaultCompileQueue = 4

// keptJobs bounds the finished jobs remembered for GET /compile/{job}.
const keptJobs = 64

// ErrNoJob reports a compile job the server does not know.
var ErrNoJob = errors.New("server: no such compile job")

// Example is one input and its expected output, for a LocalCompiler.
type Example struct {
	Input, Output string
}

// LocalCompiler compiles programs on this machine for the compile routes.
type LocalCompiler struct {
	// Name is the compiler's name in GET /models/compilers and responses.
	Name string
	// Compile turns a spec and examples into a program; it reports its
	// progress (steps done of all) and stops when ctx ends.
	Compile func(ctx context.Context, spec string, examples []Example, progress func(done, total int)) (*program.Program, error)
}

// compileJob is one compile, queued, running or finished.
type compileJob struct {
	spec     string
	examples []Example
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when finished
	mu       sync.Mutex
	view     api.CompileJob // guarded by mu
}

func (j *compileJob) snapshot() api.CompileJob {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.view
}

// stop cancels j: a queued job is cancelled at once, a running one as
// soon as its compiler sees it.
func (j *compileJob) stop() {
	j.cancel()
	j.update(func(v *api.CompileJob) {
		if v.Status == api.JobQueued {
			v.Status = api.JobCancelled
		}
	})
}

func (j *compileJob) update(f func(v *api.CompileJob)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.view)
	j.view.UpdatedAt = time.Now().UTC().Format(time.RFC3339)
}

// compileJobs runs compile jobs one at a time from a bounded queue; each
// compiled program goes into the hub cache, where the inference routes
// find it by id.
type compileJobs struct {
	c     *LocalCompiler // nil: no local compiler
	hub   *hub.Client
	queue chan *compileJob
	mu    sync.Mutex
	byID  map[string]*compileJob
	order []string // job ids, oldest first
	wg    sync.WaitGroup
}

func newCompileJobs(ctx context.Context, c *LocalCompiler, queue int, h *hub.Client) *compileJobs {
	js := &compileJobs{c: c, hub: h, queue: make(chan *compileJob, queue), byID: map[string]*compileJob{}}
	if c == nil || h == nil {
		js.c = nil
		return js
	}
	js.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case j := <-js.queue:
				js.run(j)
			}
		}
	})
	return js
}

// wait waits for the worker, once the server's context is done.
func (js *compileJobs) wait() { js.wg.Wait() }

// submit queues a compile of req; ErrNoCompiler when none applies,
// ErrQueueFull when the queue is.
func (js *compileJobs) submit(ctx context.Context, req api.CompileRequest) (*compileJob, error) {
	if js.c == nil {
		return nil, fmt.Errorf("%w: this server has no base model to train on (start paw serve with --model), or compile with `paw compile` against the hosted service", ErrNoCompiler)
	}
	if req.Spec == "" {
		return nil, fmt.Errorf("%w: empty spec", ErrBadRequest)
	}
	exs, err := examples(req)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	now := time.Now().UTC().Format(time.RFC3339)
	j := &compileJob{spec: req.Spec, examples: exs, done: make(chan struct{}),
		view: api.CompileJob{JobID: "job-" + hex.EncodeToString(id[:]), Status: api.JobQueued, Compiler: js.c.Name, CreatedAt: now, UpdatedAt: now}}
	j.ctx, j.cancel = context.WithCancel(ctx)
	js.mu.Lock()
	defer js.mu.Unlock()
	select {
	case js.queue <- j:
	default:
		j.cancel()
		return nil, fmt.Errorf("%w: %d compile jobs wait already", ErrQueueFull, cap(js.queue))
	}
	js.byID[j.view.JobID] = j
	js.order = append(js.order, j.view.JobID)
	js.forget()
	return j, nil
}

// forget drops the oldest finished jobs beyond keptJobs. js.mu is held.
func (js *compileJobs) forget() {
	for i := 0; len(js.order) > keptJobs && i < len(js.order); {
		id := js.order[i]
		select {
		case <-js.byID[id].done:
			delete(js.byID, id)
			js.order = append(js.order[:i], js.order[i+1:]...)
		default:
			i++
		}
	}
}

// examples are the request's examples, else its spec's.
func examples(req api.CompileRequest) ([]Example, error) {
	var exs []Example
	for _, e := range req.Examples {
		if e.Input == "" || e.Output == "" {
			return nil, fmt.Errorf("%w: an example needs an input and an output", ErrBadRequest)
		}
		exs = append(exs, Example{e.Input, e.Output})
	}
	if len(exs) > 0 {
		return exs, nil
	}
	cases, err := eval.FromSpec(req.Spec, "spec")
	if err != nil {
		return nil, fmt.Errorf("%w: a local compile trains on examples: give \"examples\": [{\"input\", \"output\"}] or Input:/Output: lines in the spec", ErrNoCompiler)
	}
	for _, c := range cases {
		exs = append(exs, Example{c.Input, c.Expected})
	}
	return exs, nil
}

// run compiles j and caches its program.
func (js *compileJobs) run(j *compileJob) {
	defer close(j.done)
	defer j.cancel()
	if j.ctx.Err() != nil { // cancelled while queued (stop marked it)
		return
	}
	j.update(func(v *api.CompileJob) { v.Status = api.JobRunning })
	start := time.Now()
	p, err := js.c.Compile(j.ctx, j.spec, j.examples, func(done, total int) {
		j.update(func(v *api.CompileJob) { v.Progress = float64(done) / float64(max(total, 1)) })
	})
	if err == nil {
		_, _, err = js.hub.AddProgram(j.ctx, p)
	}
	j.update(func(v *api.CompileJob) {
		switch {
		case j.ctx.Err() != nil:
			v.Status, v.Error = api.JobCancelled, "cancelled"
		case err != nil:
			v.Status, v.Error = api.JobFailed, err.Error()
		default:
			v.Status, v.Progress, v.ProgramID = api.JobCompleted, 1, p.Meta.ProgramID
			v.Result = &api.CompileResponse{ProgramID: p.Meta.ProgramID, Status: api.JobCompleted, CompilerKind: js.c.Name,
				CompilerSnapshot: p.Meta.CompilerSnapshot, RuntimeID: p.Meta.RuntimeID,
				Timings: map[string]float64{"total_seconds": time.Since(start).Seconds()}}
		}
	})
}

func (js *compileJobs) get(id string) (*compileJob, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoJob, id)
	}
	return j, nil
}

// handleCompilers lists the local compiler, if any.
func (s *Server) handleCompilers(w http.ResponseWriter, _ *http.Request) {
	list := api.CompilersResponse{Compilers: []api.CompilerInfo{}}
	if c := s.jobs.c; c != nil {
		list.Compilers = append(list.Compilers, api.CompilerInfo{Name: c.Name, Kind: c.Name, Default: true, Async: true,
			Description: "LoRA training on this server's base model, from the request's examples"})
		list.Default = c.Name
	}
	writeJSON(w, http.StatusOK, list)
}

// handleCompile compiles and waits: a client leaving cancels its job.
func (s *Server) handleCompile(w http.ResponseWriter, r *http.Request) {
	var req api.CompileRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.jobs.submit(s.ctx, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	select {
	case <-j.done:
	case <-r.Context().Done():
		j.stop()
		s.writeError(w, r, r.Context().Err())
		return
	}
	v := j.snapshot()
	switch v.Status {
	case api.JobCompleted:
		writeJSON(w, http.StatusOK, v.Result)
	case api.JobCancelled:
		s.writeError(w, r, fmt.Errorf("%w: compile cancelled", ErrClosed))
	default:
		s.writeError(w, r, fmt.Errorf("compile: %s", v.Error))
	}
}

func (s *Server) handleCompileAsync(w http.ResponseWriter, r *http.Request) {
	var req api.CompileRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.jobs.submit(s.ctx, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, j.snapshot())
}

func (s *Server) handleCompileJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.jobs.get(r.PathValue("job"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j.snapshot())
}

// handleCompileCancel cancels a job and answers its state: cancelled, or
// running still when its compiler takes over 5 s to stop.
func (s *Server) handleCompileCancel(w http.ResponseWriter, r *http.Request) {
	j, err := s.jobs.get(r.PathValue("job"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j.stop()
	if j.snapshot().Status == api.JobRunning {
		select {
		case <-j.done:
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}
	writeJSON(w, http.StatusOK, j.snapshot())
}

// handlePrecheck says whether a compile would run here.
func (s *Server) handlePrecheck(w http.ResponseWriter, r *http.Request) {
	var req api.CompileRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.jobs.c == nil {
		s.writeError(w, r, ErrNoCompiler)
		return
	}
	res := api.PrecheckResponse{OK: true, Compiler: s.jobs.c.Name}
	if exs, err := examples(req); err != nil {
		res.OK, res.Errors = false, []string{err.Error()}
	} else {
		res.Message = fmt.Sprintf("%d examples to train on", len(exs))
	}
	writeJSON(w, http.StatusOK, res)
}

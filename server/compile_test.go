package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/program"
)

// fakeCompiler compiles to a fixed program, reporting half its progress,
// then waiting for gate (or its context).
type fakeCompiler struct {
	prog *program.Program
	gate chan struct{}
	mu   sync.Mutex
	seen [][]Example
}

func (c *fakeCompiler) compiler() *LocalCompiler {
	return &LocalCompiler{Name: "fake-lora", Compile: func(ctx context.Context, spec string, exs []Example, progress func(int, int)) (*program.Program, error) {
		c.mu.Lock()
		c.seen = append(c.seen, exs)
		c.mu.Unlock()
		progress(1, 2)
		select {
		case <-c.gate:
			return c.prog, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
}

func (f *fix) job(t *testing.T, method, id string) api.CompileJob {
	t.Helper()
	resp, body := f.do(t, method, "/api/v1/compile/"+id, nil)
	wantStatus(t, resp, body, 200)
	var j api.CompileJob
	mustJSON(t, body, &j)
	return j
}

// waitJob polls a job until it has status.
func (f *fix) waitJob(t *testing.T, id, status string) api.CompileJob {
	t.Helper()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if j := f.job(t, "GET", id); j.Status == status {
			return j
		} else if time.Since(start) > 10*time.Second {
			t.Fatalf("job %s: %+v, want %s", id, j, status)
		}
	}
}

// TestCompileRoutes: with a local compiler, POST /compile trains on the
// request's examples (or the spec's) and answers the program id, whose
// program is then served from the cache; /compile/async runs one job at a
// time with progress, queues a few, answers 429 beyond, and DELETE cancels
// a queued or running job; a spec without examples stays 501.
func TestCompileRoutes(t *testing.T) {
	progs := t.TempDir()
	fc := &fakeCompiler{gate: make(chan struct{})}
	f := newFix(t, Config{CompileQueue: 1, Compiler: fc.compiler()}, nil)
	fc.prog = packProgram(t, progs, f.base, "x/compiled", 77, "") // not in the server's cache
	resp, body := f.do(t, "GET", "/api/v1/models/compilers", nil)
	wantStatus(t, resp, body, 200)
	if !strings.Contains(string(body), `"name":"fake-lora"`) {
		t.Errorf("compilers %s", body)
	}

	// Async: one runs, one waits, the next is refused.
	start := func(spec string) (*api.CompileJob, int, []byte) {
		resp, body := f.do(t, "POST", "/api/v1/compile/async", api.CompileRequest{Spec: spec,
			Examples: []api.CompileExample{{Input: "a", Output: "b"}}})
		var j api.CompileJob
		mustJSON(t, body, &j)
		return &j, resp.StatusCode, body
	}
	running, code, body := start("first")
	if code != 202 || running.JobID == "" {
		t.Fatalf("async: %d %s", code, body)
	}
	if j := f.waitJob(t, running.JobID, api.JobRunning); j.Progress != 0.5 {
		t.Errorf("running job %+v, want progress 0.5", j)
	}
	queued, code, body := start("second")
	if code != 202 || queued.Status != api.JobQueued {
		t.Fatalf("second async: %d %s", code, body)
	}
	if _, code, body := start("third"); code != 429 || !strings.Contains(string(body), "queue_full") {
		t.Errorf("third async: %d %s, want 429", code, body)
	}
	if j := f.job(t, "DELETE", queued.JobID); j.Status != api.JobCancelled {
		t.Errorf("cancelled queued job: %+v", j)
	}
	if j := f.job(t, "DELETE", running.JobID); j.Status != api.JobCancelled {
		t.Errorf("cancelled running job: %+v", j)
	}

	// Sync, with the spec's examples: the program is cached and served.
	close(fc.gate)
	resp, body = f.do(t, "POST", "/api/v1/compile", api.CompileRequest{Spec: "Say the colour.\nExamples:\nInput: sky\nOutput: blue\n\nInput: grass\nOutput: green\n"})
	wantStatus(t, resp, body, 200)
	var cr api.CompileResponse
	mustJSON(t, body, &cr)
	if cr.ProgramID != fc.prog.Meta.ProgramID || cr.Status != api.JobCompleted || cr.CompilerKind != "fake-lora" {
		t.Errorf("compile %s, want program %s", body, fc.prog.Meta.ProgramID)
	}
	if got := fc.seen[len(fc.seen)-1]; len(got) != 2 || got[1] != (Example{"grass", "green"}) {
		t.Errorf("compiler got examples %+v", got)
	}
	resp, body = f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: cr.ProgramID, Input: "sky", MaxTokens: 3})
	wantStatus(t, resp, body, 200)

	// Async to the end: the job carries the result.
	done, _, _ := start("fourth")
	if j := f.waitJob(t, done.JobID, api.JobCompleted); j.Result == nil || j.Result.ProgramID != cr.ProgramID || j.Progress != 1 {
		t.Errorf("completed job %+v", j)
	}

	for spec, ok := range map[string]bool{"classify tickets": false, "Say it.\nInput: a\nOutput: b\n": true} {
		resp, body = f.do(t, "POST", "/api/v1/compile/precheck", api.CompileRequest{Spec: spec})
		wantStatus(t, resp, body, 200)
		var pc api.PrecheckResponse
		if mustJSON(t, body, &pc); pc.OK != ok {
			t.Errorf("precheck %q: %s, want ok %v", spec, body, ok)
		}
	}
	resp, body = f.do(t, "POST", "/api/v1/compile", api.CompileRequest{Spec: "classify tickets"})
	wantStatus(t, resp, body, 501)
	if !strings.Contains(string(body), "examples") {
		t.Errorf("no examples: %s", body)
	}
}

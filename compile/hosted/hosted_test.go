package hosted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/compile"
)

// fakeService implements the compile endpoints.
type fakeService struct {
	mu       sync.Mutex
	requests []api.CompileRequest
	keys     []string
	limited  int // answer this many requests 429 first
	polls    int
	jobs     map[string]string // job id → status
}

func (f *fakeService) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	decode := func(r *http.Request) api.CompileRequest {
		var req api.CompileRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("decode: %v", err)
		}
		f.requests = append(f.requests, req)
		return req
	}
	mux.HandleFunc("POST /api/v1/compile", func(w http.ResponseWriter, r *http.Request) {
		req := decode(r)
		switch {
		case req.Compiler == "nope":
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"unknown_compiler","message":"unknown compiler 'nope'","request_id":"req-400"}`)
		case len(req.Spec) < 5:
			w.WriteHeader(422)
			fmt.Fprint(w, `{"detail":[{"loc":["body","spec"],"msg":"spec too short"}]}`)
		case req.Spec == "explode":
			fmt.Fprint(w, `{"status":"failed","error":"compiler crashed"}`)
		default:
			json.NewEncoder(w).Encode(api.CompileResponse{ProgramID: "0123456789abcdef0123456789abcdef", Status: "completed",
				Slug: req.Slug, CompilerKind: "prompt", CompilerSnapshot: "snap-1", RuntimeID: "qwen3-0.6b-q6_k",
				Version: 2, VersionAction: "created", Timings: map[string]float64{"total": 1.5}})
		}
	})
	mux.HandleFunc("POST /api/v1/compile/async", func(w http.ResponseWriter, r *http.Request) {
		decode(r)
		f.jobs["job-1"] = api.JobQueued
		json.NewEncoder(w).Encode(api.CompileJob{JobID: "job-1", Status: api.JobQueued})
	})
	mux.HandleFunc("GET /api/v1/compile/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		st, ok := f.jobs[id]
		if !ok {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":"not_found","message":"no such job","request_id":"req-404"}`)
			return
		}
		f.polls++
		job := api.CompileJob{JobID: id, Status: st}
		if st == api.JobQueued && f.polls >= 2 {
			f.jobs[id] = api.JobCompleted
		}
		if st == api.JobCompleted {
			job.Result = &api.CompileResponse{ProgramID: "fedcba9876543210fedcba9876543210", Status: "completed"}
		}
		json.NewEncoder(w).Encode(job)
	})
	mux.HandleFunc("DELETE /api/v1/compile/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.jobs[r.PathValue("id")] = api.JobCancelled
		json.NewEncoder(w).Encode(api.CompileJob{JobID: r.PathValue("id"), Status: api.JobCancelled})
	})
	mux.HandleFunc("POST /api/v1/compile/precheck", func(w http.ResponseWriter, r *http.Request) {
		decode(r)
		fmt.Fprint(w, `{"ok":true,"warnings":["short spec"],"estimated_seconds":3}`)
	})
	mux.HandleFunc("GET /api/v1/models/compilers", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"compilers":[{"name":"paw-4b-qwen3-0.6b"},{"name":"paw-ft-bs48","async":true}],"default":"paw-4b-qwen3-0.6b"}`)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.keys = append(f.keys, r.Header.Get("X-API-Key"))
		if f.limited > 0 {
			f.limited--
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"error":"rate_limited","message":"too many compiles","request_id":"req-429"}`)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func newTest(t *testing.T) (*Compiler, *fakeService) {
	f := &fakeService{jobs: map[string]string{}}
	srv := httptest.NewServer(f.handler(t))
	t.Cleanup(srv.Close)
	return &Compiler{BaseURL: srv.URL, APIKey: "k", RetryDelay: time.Millisecond, PollInterval: time.Millisecond}, f
}

func TestCompile(t *testing.T) {
	c, f := newTest(t)
	got, err := c.Compile(context.Background(), compile.Request{Spec: "classify sentiment", Slug: "alice/sent", Private: true, Tags: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &compile.Result{ProgramID: "0123456789abcdef0123456789abcdef", Slug: "alice/sent", Version: 2, VersionAction: "created",
		Status: "completed", Compiler: "prompt", CompilerSnapshot: "snap-1", RuntimeID: "qwen3-0.6b-q6_k", Timings: map[string]float64{"total": 1.5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantReq := api.CompileRequest{Spec: "classify sentiment", Public: false, Slug: "alice/sent", Tags: []string{"x"}}
	if diff := cmp.Diff([]api.CompileRequest{wantReq}, f.requests); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	if f.keys[0] != "k" {
		t.Errorf("key %q", f.keys[0])
	}
}

func TestCompileErrors(t *testing.T) {
	c, _ := newTest(t)
	tests := []struct {
		name    string
		req     compile.Request
		is      error
		status  int
		reqID   string
		message string
	}{
		{"unknown compiler", compile.Request{Spec: "classify sentiment", Compiler: "nope"}, api.ErrBadRequest, 400, "req-400", "unknown compiler 'nope'"},
		{"too short", compile.Request{Spec: "abc"}, api.ErrBadRequest, 422, "", "spec: spec too short"},
		{"failed", compile.Request{Spec: "explode"}, compile.ErrFailed, 0, "", ""},
		{"empty", compile.Request{Spec: " "}, compile.ErrSpec, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Compile(context.Background(), tt.req)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			var ae *api.Error
			if tt.status != 0 {
				if !errors.As(err, &ae) || ae.Status != tt.status || ae.RequestID != tt.reqID || ae.Message != tt.message {
					t.Errorf("api error %+v", ae)
				}
				if tt.reqID != "" && !strings.Contains(err.Error(), tt.reqID) {
					t.Errorf("error text %q lacks the request id", err)
				}
			}
		})
	}
}

func TestCompileRateLimited(t *testing.T) {
	c, f := newTest(t)
	f.limited = 1
	start := time.Now()
	if _, err := c.Compile(context.Background(), compile.Request{Spec: "classify sentiment"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, want Retry-After's 1s", d)
	}
	// Too long a Retry-After: the error comes back at once.
	f.limited = 5
	c.MaxRetryDelay = 100 * time.Millisecond
	_, err := c.Compile(context.Background(), compile.Request{Spec: "classify sentiment"})
	var ae *api.Error
	if !errors.Is(err, api.ErrRateLimited) || !errors.As(err, &ae) || ae.RequestID != "req-429" || ae.RetryAfter != time.Second {
		t.Errorf("err = %v", err)
	}
}

func TestAsync(t *testing.T) {
	c, f := newTest(t)
	ctx := context.Background()
	job, err := c.Submit(ctx, compile.Request{Spec: "a slow fine-tune", Compiler: "paw-ft-bs48"})
	if err != nil || job.JobID != "job-1" || job.Status != api.JobQueued {
		t.Fatalf("Submit = %+v, %v", job, err)
	}
	var seen []string
	c.Progress = func(j *api.CompileJob) { seen = append(seen, j.Status) }
	res, err := c.Wait(ctx, "job-1")
	if err != nil || res.ProgramID != "fedcba9876543210fedcba9876543210" {
		t.Fatalf("Wait = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"queued", "queued", "completed"}, seen); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	// Cancel.
	f.mu.Lock()
	f.jobs["job-2"] = api.JobRunning
	f.mu.Unlock()
	if j, err := c.Cancel(ctx, "job-2"); err != nil || j.Status != api.JobCancelled {
		t.Fatalf("Cancel = %+v, %v", j, err)
	}
	if _, err := c.Wait(ctx, "job-2"); !errors.Is(err, compile.ErrCancelled) {
		t.Errorf("Wait after cancel: %v", err)
	}
	// Unknown job.
	_, err = c.Status(ctx, "nope")
	var ae *api.Error
	if !errors.Is(err, api.ErrNotFound) || !errors.As(err, &ae) || ae.RequestID != "req-404" {
		t.Errorf("Status(nope) = %v", err)
	}
}

func TestPrecheckAndCompilers(t *testing.T) {
	c, _ := newTest(t)
	pre, err := c.Precheck(context.Background(), compile.Request{Spec: "classify sentiment"})
	if err != nil || !pre.OK || pre.EstimatedSeconds != 3 || len(pre.Warnings) != 1 {
		t.Errorf("Precheck = %+v, %v", pre, err)
	}
	cs, err := c.Compilers(context.Background())
	if err != nil || len(cs) != 2 || !cs[0].Default || !cs[1].Async {
		t.Errorf("Compilers = %+v, %v", cs, err)
	}
}

func TestServerErrorsRetriedForGET(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n < 3 {
			w.WriteHeader(502)
			return
		}
		fmt.Fprint(w, `["a","b"]`)
	}))
	defer srv.Close()
	c := &Compiler{BaseURL: srv.URL, RetryDelay: time.Millisecond}
	cs, err := c.Compilers(context.Background())
	if err != nil || len(cs) != 2 || n != 3 {
		t.Errorf("Compilers = %v, %v after %d requests", cs, err, n)
	}
	// A POST is not repeated after a 502: it may have been acted on.
	n = 0
	if _, err := c.Compile(context.Background(), compile.Request{Spec: "classify"}); !errors.Is(err, api.ErrServer) || n != 1 {
		t.Errorf("Compile = %v after %d requests", err, n)
	}
}

func ExampleCompiler_Compile() {
	c := &hostedExample
	res, err := c.Compile(context.Background(), compile.Request{Spec: "Classify a review as positive or negative"})
	if err != nil {
		return
	}
	fmt.Println(res.ProgramID)
}

var hostedExample = Compiler{APIKey: "your key"}

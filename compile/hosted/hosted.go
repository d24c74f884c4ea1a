// Package hosted compiles specs with the hosted Program-as-Weights service:
// POST /compile (synchronous), /compile/async with status polling and
// cancellation for slow fine-tuning compilers, /compile/precheck and
// /models/compilers.
package hosted

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/internal/retry"
)

// Defaults for zero Compiler fields.
const (
	DefaultBaseURL       = "https://programasweights.com"
	DefaultRetries       = 3
	DefaultRetryDelay    = time.Second
	DefaultMaxRetryDelay = 2 * time.Minute
	DefaultPollInterval  = 5 * time.Second
)

// maxBody caps a response body.
const maxBody = 4 << 20

// Compiler is a client of the hosted compile API. Its zero value talks to
// DefaultBaseURL without an API key.
type Compiler struct {
	BaseURL    string       // service root (DefaultBaseURL); the API is under /api/v1
	APIKey     string       // sent as X-API-Key
	HTTPClient *http.Client // nil means http.DefaultClient; no overall timeout is imposed
	// Retries is how many times a 429, 5xx or connection failure is retried:
	// 0 means DefaultRetries, negative means none.
	Retries int
	// RetryDelay is the first backoff (DefaultRetryDelay), doubled per
	// attempt with jitter; a Retry-After header overrides it. Waits longer
	// than MaxRetryDelay (DefaultMaxRetryDelay) are not made: the error is
	// returned.
	RetryDelay, MaxRetryDelay time.Duration
	// PollInterval is how often Wait asks for a job's status (DefaultPollInterval).
	PollInterval time.Duration
	// Progress, when set, receives each status Wait observes.
	Progress func(*api.CompileJob)
}

var _ compile.Compiler = (*Compiler)(nil)

// Compile compiles synchronously with POST /compile. A failed compilation
// is compile.ErrFailed; a rejected request an *api.Error.
func (c *Compiler) Compile(ctx context.Context, req compile.Request) (*compile.Result, error) {
	body, err := wireRequest(req)
	if err != nil {
		return nil, err
	}
	var resp api.CompileResponse
	if err := c.do(ctx, http.MethodPost, "/compile", body, &resp); err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return result(&resp)
}

// Submit starts an asynchronous compilation with POST /compile/async.
func (c *Compiler) Submit(ctx context.Context, req compile.Request) (*api.CompileJob, error) {
	body, err := wireRequest(req)
	if err != nil {
		return nil, err
	}
	var job api.CompileJob
	if err := c.do(ctx, http.MethodPost, "/compile/async", body, &job); err != nil {
		return nil, fmt.Errorf("submit compile: %w", err)
	}
	if job.JobID == "" {
		return nil, fmt.Errorf("submit compile: %w: no job_id", api.ErrUnexpected)
	}
	return &job, nil
}

// Status returns a job's state (GET /compile/{job_id}).
func (c *Compiler) Status(ctx context.Context, jobID string) (*api.CompileJob, error) {
	var job api.CompileJob
	if err := c.do(ctx, http.MethodGet, "/compile/"+url.PathEscape(jobID), nil, &job); err != nil {
		return nil, fmt.Errorf("compile job %s: %w", jobID, err)
	}
	return &job, nil
}

// Cancel cancels a job (DELETE /compile/{job_id}) and returns its state.
func (c *Compiler) Cancel(ctx context.Context, jobID string) (*api.CompileJob, error) {
	var job api.CompileJob
	if err := c.do(ctx, http.MethodDelete, "/compile/"+url.PathEscape(jobID), nil, &job); err != nil {
		return nil, fmt.Errorf("cancel compile job %s: %w", jobID, err)
	}
	if job.JobID == "" {
		job.JobID = jobID
	}
	return &job, nil
}

// Wait polls a job until it finishes and returns its result: a failed job
// is compile.ErrFailed, a cancelled one compile.ErrCancelled. Cancelling
// ctx stops the waiting, not the job.
func (c *Compiler) Wait(ctx context.Context, jobID string) (*compile.Result, error) {
	every := c.PollInterval
	if every <= 0 {
		every = DefaultPollInterval
	}
	for {
		job, err := c.Status(ctx, jobID)
		if err != nil {
			return nil, err
		}
		if c.Progress != nil {
			c.Progress(job)
		}
		if job.Done() {
			return jobResult(job)
		}
		if err := retry.Sleep(ctx, every); err != nil {
			return nil, err
		}
	}
}

// Precheck asks whether a spec would compile (POST /compile/precheck).
func (c *Compiler) Precheck(ctx context.Context, req compile.Request) (*api.PrecheckResponse, error) {
	body, err := wireRequest(req)
	if err != nil {
		return nil, err
	}
	var resp api.PrecheckResponse
	if err := c.do(ctx, http.MethodPost, "/compile/precheck", body, &resp); err != nil {
		return nil, fmt.Errorf("precheck: %w", err)
	}
	return &resp, nil
}

// Compilers lists the service's compilers (GET /models/compilers).
func (c *Compiler) Compilers(ctx context.Context) ([]api.CompilerInfo, error) {
	var resp api.CompilersResponse
	if err := c.do(ctx, http.MethodGet, "/models/compilers", nil, &resp); err != nil {
		return nil, fmt.Errorf("list compilers: %w", err)
	}
	return resp.Compilers, nil
}

func wireRequest(req compile.Request) ([]byte, error) {
	if strings.TrimSpace(req.Spec) == "" {
		return nil, fmt.Errorf("%w: empty spec", compile.ErrSpec)
	}
	return json.Marshal(api.CompileRequest{Spec: req.Spec, Public: !req.Private, Compiler: req.Compiler,
		Slug: req.Slug, Name: req.Name, Tags: req.Tags, Ephemeral: req.Ephemeral})
}

func result(r *api.CompileResponse) (*compile.Result, error) {
	switch strings.ToLower(r.Status) {
	case "failed", "error":
		return nil, fmt.Errorf("%w: %s", compile.ErrFailed, r.Error)
	}
	if r.ProgramID == "" {
		msg := r.Error
		if msg == "" {
			msg = "no program_id in the response (status " + r.Status + ")"
		}
		return nil, fmt.Errorf("%w: %s", compile.ErrFailed, msg)
	}
	return &compile.Result{ProgramID: r.ProgramID, Slug: r.Slug, Version: r.Version, VersionAction: r.VersionAction,
		Status: r.Status, Compiler: r.CompilerKind, CompilerSnapshot: r.CompilerSnapshot, RuntimeID: r.RuntimeID,
		Timings: r.Timings}, nil
}

func jobResult(j *api.CompileJob) (*compile.Result, error) {
	switch {
	case j.Status == api.JobCancelled || j.Status == "canceled":
		return nil, fmt.Errorf("%w: job %s", compile.ErrCancelled, j.JobID)
	case !j.Succeeded():
		msg := j.Error
		if msg == "" && j.Result != nil {
			msg = j.Result.Error
		}
		return nil, fmt.Errorf("%w: job %s: %s", compile.ErrFailed, j.JobID, msg)
	}
	r := j.Result
	if r == nil {
		r = &api.CompileResponse{ProgramID: j.ProgramID}
	}
	if r.Status == "" {
		r.Status = j.Status
	}
	return result(r)
}

// do sends one API call, retrying 429/5xx/connection failures, and decodes
// a 2xx JSON body into out. Errors from the service are *api.Error.
func (c *Compiler) do(ctx context.Context, method, path string, body []byte, out any) error {
	retries := c.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	for attempt := 1; ; attempt++ {
		err := c.doOnce(ctx, method, path, body, out)
		if err == nil || attempt > retries || !temporary(ctx, err) || (method == http.MethodPost && !safeToRepeat(err)) {
			return err
		}
		wait, ok := c.backoff(attempt, err)
		if !ok {
			return err
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Compiler) doOnce(ctx context.Context, method, path string, body []byte, out any) error {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+api.APIPrefix+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.APIKey != "" {
		req.Header.Set(api.KeyHeader, c.APIKey)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return api.ReadError(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", api.ErrUnexpected, method, path, err)
	}
	return nil
}

// safeToRepeat reports whether a POST certainly was not acted on: the
// service rate-limited it (429) or was unavailable (503).
func safeToRepeat(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable)
}

func temporary(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	return retry.TransientNetError(err)
}

func (c *Compiler) backoff(attempt int, err error) (time.Duration, bool) {
	maxWait := c.MaxRetryDelay
	if maxWait <= 0 {
		maxWait = DefaultMaxRetryDelay
	}
	d := c.RetryDelay
	if d <= 0 {
		d = DefaultRetryDelay
	}
	var ae *api.Error
	var retryAfter time.Duration
	if errors.As(err, &ae) {
		retryAfter = ae.RetryAfter
	}
	return retry.Backoff(attempt, retryAfter, d, maxWait)
}

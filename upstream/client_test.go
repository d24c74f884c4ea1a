package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/eval"
)

var _ eval.Runner = Runner{}

// fakeServer is an OpenAI-compatible /chat/completions endpoint. Each
// request is counted and recorded, then answered by HandleFunc (or, by
// default, with the upper-cased user message).
type fakeServer struct {
	*httptest.Server
	requests   atomic.Int32
	last       atomic.Pointer[api.ChatRequest]
	auth       atomic.Pointer[string]
	HandleFunc func(w http.ResponseWriter, n int32, req api.ChatRequest)
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		n := f.requests.Add(1)
		var req api.ChatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.last.Store(&req)
		a := r.Header.Get("Authorization")
		f.auth.Store(&a)
		if f.HandleFunc != nil {
			f.HandleFunc(w, n, req)
			return
		}
		answer(w, strings.ToUpper(string(req.Messages[len(req.Messages)-1].Content)))
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func answer(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24},
	})
}

func (f *fakeServer) client(cacheDir string) *Client {
	return &Client{BaseURL: f.URL + "/v1/", Model: "gpt-test", APIKey: "sk-test", CacheDir: cacheDir, RetryDelay: time.Millisecond}
}

func TestComplete(t *testing.T) {
	f := newFakeServer(t)
	got, err := f.client("").Complete(context.Background(), "Upper-case the input.", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "HELLO" || got.PromptTokens != 21 || got.CompletionTokens != 3 || got.Cached || got.Latency <= 0 {
		t.Errorf("completion %+v", got)
	}
	zero := 0.0
	want := api.ChatRequest{Model: "gpt-test", Temperature: &zero, Messages: []api.ChatMessage{
		{Role: "system", Content: "Upper-case the input."}, {Role: "user", Content: "hello"}}}
	if diff := cmp.Diff(want, *f.last.Load()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	if a := *f.auth.Load(); a != "Bearer sk-test" {
		t.Errorf("Authorization %q", a)
	}
	// No spec: the input alone.
	if _, err := f.client("").Complete(context.Background(), "", "x"); err != nil || len(f.last.Load().Messages) != 1 {
		t.Errorf("without a system prompt: %v, messages %+v", err, f.last.Load().Messages)
	}
	if _, err := (&Client{BaseURL: f.URL}).Complete(context.Background(), "", "x"); !errors.Is(err, ErrConfig) {
		t.Errorf("no model: %v, want ErrConfig", err)
	}
}

func TestCompleteErrors(t *testing.T) {
	f := newFakeServer(t)
	f.HandleFunc = func(w http.ResponseWriter, _ int32, _ api.ChatRequest) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}`))
	}
	_, err := f.client("").Complete(context.Background(), "", "x")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Message != "Incorrect API key provided" || ae.Code != "invalid_api_key" {
		t.Fatalf("error %v (%+v), want a 401 with the server's message", err, ae)
	}
	if !errors.Is(err, api.ErrUnauthorized) || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "Incorrect API key provided") {
		t.Errorf("error text %q", err)
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d requests for a 401, want 1 (no retry)", n)
	}

	// A 500 is retried Retries times, then returned.
	f.requests.Store(0)
	f.HandleFunc = func(w http.ResponseWriter, _ int32, _ api.ChatRequest) {
		http.Error(w, "upstream overloaded", http.StatusInternalServerError)
	}
	c := f.client("")
	c.Retries = 2
	_, err = c.Complete(context.Background(), "", "x")
	if !errors.Is(err, api.ErrServer) || !strings.Contains(err.Error(), "upstream overloaded") || f.requests.Load() != 3 {
		t.Errorf("500: %v after %d requests, want ErrServer after 3", err, f.requests.Load())
	}

	f.HandleFunc = func(w http.ResponseWriter, _ int32, _ api.ChatRequest) { w.Write([]byte(`{"choices": []}`)) }
	if _, err := f.client("").Complete(context.Background(), "", "x"); !errors.Is(err, ErrNoChoices) {
		t.Errorf("no choices: %v", err)
	}
}

// TestRetryAfter: a 429 is retried after the wait its Retry-After asks for;
// one asking for longer than MaxRetryDelay is returned at once.
func TestRetryAfter(t *testing.T) {
	f := newFakeServer(t)
	f.HandleFunc = func(w http.ResponseWriter, n int32, req api.ChatRequest) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error": {"message": "Rate limit reached", "type": "requests"}}`, http.StatusTooManyRequests)
			return
		}
		answer(w, "ok")
	}
	start := time.Now()
	got, err := f.client("").Complete(context.Background(), "", "x")
	if err != nil || got.Text != "ok" || f.requests.Load() != 2 {
		t.Fatalf("%+v, %v after %d requests; want ok after 2", got, err, f.requests.Load())
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, want ≥ the 1s Retry-After", waited)
	}
	if got.Latency < time.Second {
		t.Errorf("latency %v leaves out the retry", got.Latency)
	}

	f.requests.Store(0)
	c := f.client("")
	c.MaxRetryDelay = 500 * time.Millisecond
	_, err = c.Complete(context.Background(), "", "x")
	if !errors.Is(err, api.ErrRateLimited) || !strings.Contains(err.Error(), "Rate limit reached") || f.requests.Load() != 1 {
		t.Errorf("Retry-After over the cap: %v after %d requests, want ErrRateLimited after 1", err, f.requests.Load())
	}

	// A cancelled context stops the wait.
	f.requests.Store(0)
	f.HandleFunc = func(w http.ResponseWriter, _ int32, _ api.ChatRequest) {
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusTooManyRequests)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := f.client("").Complete(ctx, "", "x"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled during the wait: %v after %v", err, time.Since(start))
	}
}

// TestCache: a second run, even from a new client, sends zero requests; a
// different model or prompt is a different entry.
func TestCache(t *testing.T) {
	f := newFakeServer(t)
	dir := t.TempDir()
	ctx := context.Background()
	first, err := f.client(dir).Complete(ctx, "spec", "a")
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.client(dir).Complete(ctx, "spec", "a")
	if err != nil {
		t.Fatal(err)
	}
	if n := f.requests.Load(); n != 1 {
		t.Fatalf("%d requests for the same prompt twice, want 1", n)
	}
	want := first
	want.Cached = true
	want.Latency = first.Latency.Truncate(time.Microsecond)
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("cached answer (-want +got):\n%s", diff)
	}
	other := f.client(dir)
	other.Model = "gpt-other"
	for _, call := range []func() (Completion, error){
		func() (Completion, error) { return f.client(dir).Complete(ctx, "other spec", "a") },
		func() (Completion, error) { return f.client(dir).Complete(ctx, "spec", "b") },
		func() (Completion, error) { return other.Complete(ctx, "spec", "a") },
	} {
		if got, err := call(); err != nil || got.Cached {
			t.Errorf("a different prompt or model: %+v, %v; want a fresh answer", got, err)
		}
	}
	if n := f.requests.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	// No temporary files are left behind.
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".json") {
			t.Errorf("stray file %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCacheCorrupt: a corrupt entry is a miss, and is rewritten.
func TestCacheCorrupt(t *testing.T) {
	f := newFakeServer(t)
	dir := t.TempDir()
	c := f.client(dir)
	ctx := context.Background()
	if _, err := c.Complete(ctx, "spec", "a"); err != nil {
		t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if len(entries) != 1 {
		t.Fatalf("cache entries %v, want 1", entries)
	}
	for _, junk := range []string{`{"text": "HEL`, `{}`, ""} {
		if err := os.WriteFile(entries[0], []byte(junk), 0o644); err != nil {
			t.Fatal(err)
		}
		before := f.requests.Load()
		got, err := c.Complete(ctx, "spec", "a")
		if err != nil || got.Text != "A" || got.Cached || f.requests.Load() != before+1 {
			t.Errorf("after writing %q: %+v, %v; want a fresh answer", junk, got, err)
		}
		b, _ := os.ReadFile(entries[0])
		var e cacheEntry
		if json.Unmarshal(b, &e) != nil || e.Text == nil || *e.Text != "A" {
			t.Errorf("entry not rewritten: %q", b)
		}
	}
}

// TestRunner scores the hosted model with eval, through the cache.
func TestRunner(t *testing.T) {
	f := newFakeServer(t)
	cases := []eval.Case{
		{Input: "yes", Expected: "YES", HasExpected: true},
		{Input: "no", Expected: "no", HasExpected: true},
	}
	r := Runner{Client: f.client(t.TempDir()), Spec: "Answer YES or NO.", Valid: func(s string) bool { return s == "YES" || s == "NO" }}
	for run := range 2 {
		rep, err := eval.Run(context.Background(), r, cases, eval.Options{Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Accuracy != 0.5 || rep.AccuracyNormalized != 1 || rep.Tokens != 6 || rep.PromptTokens != 42 || rep.InvalidRate != 0 {
			t.Errorf("run %d: accuracy %v/%v tokens %d/%d invalid %v", run, rep.Accuracy, rep.AccuracyNormalized, rep.Tokens, rep.PromptTokens, rep.InvalidRate)
		}
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("%d requests over two runs, want 2 (the second run is cached)", n)
	}
}

// TestCacheKeyStable: the answer cache's key for a fixed request does not
// change when the wire types do (it hashes the marshalled request), so
// existing caches stay valid.
func TestCacheKeyStable(t *testing.T) {
	c := &Client{BaseURL: "http://x/v1", Model: "m", MaxTokens: 7}
	if got, want := c.cacheKey(c.request("sys", "in")), "eca4e4be82e849d91d6babb4692991b9d550f6f2bc5f955e72031d49e4dbac95"; got != want {
		t.Errorf("cache key %s, want %s", got, want)
	}
}

// TestCacheLatencyRoundTrip: a cached latency comes back to the microsecond
// (1.007 ms read back as 1.006999 ms when the float was truncated).
func TestCacheLatencyRoundTrip(t *testing.T) {
	c := &Client{CacheDir: t.TempDir()}
	for _, us := range []int64{1007, 1, 999_999, 123_456_789} {
		key := fmt.Sprint("k", us)
		c.store(key, Completion{Text: "A", Latency: time.Duration(us) * time.Microsecond})
		got, ok := c.cached(key)
		if !ok || got.Latency != time.Duration(us)*time.Microsecond {
			t.Errorf("latency %dµs came back as %v (cached %v)", us, got.Latency, ok)
		}
	}
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/upstream"
)

// fakeUpstream is an in-process OpenAI-compatible /v1/chat/completions:
// it answers answer(input), or hangs until the request ends when hang is set.
type fakeUpstream struct {
	*httptest.Server
	requests atomic.Int32
	system   atomic.Pointer[string]
	hang     atomic.Bool
	answer   func(input string) string
}

func newFakeUpstream(t *testing.T, answer func(string) string) *fakeUpstream {
	u := &fakeUpstream{answer: answer}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var req api.ChatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if u.hang.Load() {
			<-r.Context().Done()
			return
		}
		sys := string(req.Messages[0].Content)
		u.system.Store(&sys)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": u.answer(string(req.Messages[len(req.Messages)-1].Content))}}},
			"usage": map[string]any{"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
		})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *fakeUpstream) client(timeout time.Duration) *upstream.Client {
	return &upstream.Client{BaseURL: u.URL + "/v1", Model: "gpt-test", Retries: -1, HTTPClient: &http.Client{Timeout: timeout}}
}

// labelCall replaces the server's call with a labels answer "billing"
// whose probability the input names ("p=0.55"); input "broken" breaks the
// contract.
func labelCall(s *Server) {
	s.call = func(ctx context.Context, fn *paw.Function, input string, _ ...paw.Option) (paw.Result, error) {
		if input == "broken" {
			return paw.Result{Output: "maybe", Tokens: 1}, fmt.Errorf("call: %w", paw.ErrNoValidOutput)
		}
		var p float64
		fmt.Sscanf(input, "p=%g", &p)
		return paw.Result{Output: "billing", Program: fn.Name(), Tokens: 1, Probs: map[string]float64{"billing": p, "technical": 1 - p}}, nil
	}
}

func ptr[T any](v T) *T { return &v }

// wantMetrics fails unless every series is in the metrics, waiting up to
// a few seconds for those that shadow workers count.
func (f *fix) wantMetrics(t *testing.T, series ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, missing := f.metrics(t), []string(nil)
		for _, s := range series {
			if !strings.Contains(m, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFallback: a confident local answer stays local; a low-confidence or
// invalid one is answered by the upstream, prompted with the spec; the
// response names the path, in the body and the X-Paw-Path header, and the
// metrics count fallbacks by reason.
func TestFallback(t *testing.T) {
	up := newFakeUpstream(t, func(string) string { return "technical" })
	routes := map[string]Route{"alice/triage": {Mode: RouteFallback, Threshold: ptr(0.8), Upstream: up.client(5 * time.Second)}}
	f := newFix(t, Config{Routes: routes}, labelCall)
	tests := []struct {
		input, output, path string
	}{
		{"p=0.95", "billing", api.PathLocal},
		{"p=0.8", "billing", api.PathLocal}, // at the threshold: kept
		{"p=0.55", "technical", api.PathFallback},
		{"broken", "technical", api.PathFallback},
	}
	for _, tt := range tests {
		resp, body := f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/triage", Input: tt.input})
		wantStatus(t, resp, body, 200)
		var r api.InferResponse
		mustJSON(t, body, &r)
		if r.Output != tt.output || r.Path != tt.path || resp.Header.Get(api.HeaderPath) != tt.path {
			t.Errorf("%s: output %q path %q (header %q), want %q by %s", tt.input, r.Output, r.Path, resp.Header.Get(api.HeaderPath), tt.output, tt.path)
		}
	}
	if n := up.requests.Load(); n != 2 {
		t.Errorf("upstream asked %d times, want 2", n)
	}
	if sys := up.system.Load(); sys == nil || *sys != "fixture alice/triage" {
		t.Errorf("upstream system prompt %v, want the program's spec", sys)
	}
	// The OpenAI routes say the path in the header; a program not routed
	// stays local.
	resp, body := f.do(t, "POST", "/v1/chat/completions", chatReq(f.labelsID, "p=0.1"))
	wantStatus(t, resp, body, 200)
	var cr api.ChatResponse
	mustJSON(t, body, &cr)
	if got := string(cr.Choices[0].Message.Content); got != "technical" || resp.Header.Get(api.HeaderPath) != api.PathFallback {
		t.Errorf("chat: %q by %q, want the fallback's answer", got, resp.Header.Get(api.HeaderPath))
	}
	resp, body = f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/notes", Input: "p=0.1"})
	wantStatus(t, resp, body, 200)
	if resp.Header.Get(api.HeaderPath) != api.PathLocal {
		t.Errorf("unrouted program answered by %q", resp.Header.Get(api.HeaderPath))
	}
	f.wantMetrics(t,
		fmt.Sprintf(`paw_fallbacks_total{function="%s",reason="low_confidence"} 2`, f.labelsID),
		fmt.Sprintf(`paw_fallbacks_total{function="%s",reason="invalid"} 1`, f.labelsID),
		fmt.Sprintf(`paw_requests_total{function="%s",path="fallback",route="POST /api/v1/infer",status="200"} 2`, f.labelsID))
}

// TestFallbackBatch: each input of a batch is routed on its own.
func TestFallbackBatch(t *testing.T) {
	up := newFakeUpstream(t, func(string) string { return "technical" })
	routes := map[string]Route{"alice/triage": {Mode: RouteFallback, Threshold: ptr(0.8), Upstream: up.client(5 * time.Second)}}
	f := newFix(t, Config{Routes: routes}, labelCall)
	resp, body := f.do(t, "POST", "/api/v1/infer/batch", api.InferBatchRequest{ProgramID: "alice/triage", Inputs: []string{"p=0.9", "p=0.2"}})
	wantStatus(t, resp, body, 200)
	var r api.InferBatchResponse
	mustJSON(t, body, &r)
	if len(r.Results) != 2 || r.Results[0].Path != api.PathLocal || r.Results[1].Path != api.PathFallback ||
		r.Results[1].Output != "technical" || resp.Header.Get(api.HeaderPath) != api.PathFallback {
		t.Errorf("batch %s (header %q)", body, resp.Header.Get(api.HeaderPath))
	}
}

// TestFallbackUpstreamFails: an upstream that is down, hangs, or answers
// outside the contract makes a fallback a prompt 502 with the reason,
// never a hang; a confident answer does not need it.
func TestFallbackUpstreamFails(t *testing.T) {
	down := newFakeUpstream(t, func(string) string { return "technical" })
	down.Close()
	hung := newFakeUpstream(t, func(string) string { return "technical" })
	hung.hang.Store(true)
	wrong := newFakeUpstream(t, func(string) string { return "I think it is billing." })
	for _, tt := range []struct {
		name string
		up   *upstream.Client
		want string
	}{
		{"down", down.client(5 * time.Second), "connection refused"},
		{"hung", hung.client(300 * time.Millisecond), "Timeout"},
		{"wrong", wrong.client(5 * time.Second), "breaks the contract"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			routes := map[string]Route{"alice/triage": {Mode: RouteFallback, Threshold: ptr(0.8), Upstream: tt.up}}
			f := newFix(t, Config{Routes: routes, Timeout: 30 * time.Second}, labelCall)
			start := time.Now()
			resp, body := f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/triage", Input: "p=0.3"})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			wantStatus(t, resp, body, http.StatusBadGateway)
			var e pawError
			mustJSON(t, body, &e)
			if e.Code != "upstream_error" || !strings.Contains(e.Message, tt.want) || !strings.Contains(e.Message, "low_confidence") {
				t.Errorf("error %+v, want upstream_error mentioning %q", e.Error, tt.want)
			}
			resp, body = f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/triage", Input: "p=0.9"})
			wantStatus(t, resp, body, 200)
			f.wantMetrics(t, fmt.Sprintf(`paw_upstream_errors_total{function="%s"} 1`, f.labelsID))
		})
	}
}

// TestShadow: the upstream answers; the program runs beside it, off the
// request path, and the metrics count agreement; an invalid local answer
// disagrees.
func TestShadow(t *testing.T) {
	up := newFakeUpstream(t, func(in string) string {
		if in == "p=0.2" {
			return "technical"
		}
		return "Billing" // the label billing, which agrees
	})
	routes := map[string]Route{"alice/triage": {Mode: RouteShadow, Upstream: up.client(5 * time.Second)}}
	f := newFix(t, Config{Routes: routes}, labelCall)
	for _, in := range []string{"p=0.9", "p=0.7", "p=0.2", "broken"} {
		resp, body := f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/triage", Input: in})
		wantStatus(t, resp, body, 200)
		var r api.InferResponse
		mustJSON(t, body, &r)
		if r.Path != api.PathUpstream || resp.Header.Get(api.HeaderPath) != api.PathUpstream || r.Output != strings.ToLower(up.answer(in)) {
			t.Errorf("%s: %q by %q, want the upstream's answer", in, r.Output, r.Path)
		}
	}
	f.wantMetrics(t,
		fmt.Sprintf(`paw_shadow_total{function="%s",result="agree"} 2`, f.labelsID),
		fmt.Sprintf(`paw_shadow_total{function="%s",result="disagree"} 2`, f.labelsID))
}

// TestShadowPoolDrops: jobs beyond the queue are dropped and counted, never
// waited for.
func TestShadowPoolDrops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	var outcomes atomic.Int32
	var dropped atomic.Int32
	p := newShadowPool(ctx, 1, 1, func(shadowJob) string { <-release; return shadowAgree }, func(_ shadowJob, o string) {
		outcomes.Add(1)
		if o == shadowDropped {
			dropped.Add(1)
		}
	})
	start := time.Now()
	for range 5 { // one runs, one waits, three are dropped
		p.submit(shadowJob{ref: "f"})
		time.Sleep(5 * time.Millisecond) // let the worker take the first
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("submit blocked: %v", d)
	}
	if n := dropped.Load(); n != 3 {
		t.Errorf("dropped %d, want 3", n)
	}
	close(release)
	for deadline := time.Now().Add(5 * time.Second); outcomes.Load() < 5 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	p.wait()
	if n := outcomes.Load(); n != 5 {
		t.Errorf("%d outcomes, want 5", n)
	}
}

func TestParseRoutes(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "UP_KEY" {
			return "sk-1", true
		}
		return "", false
	}
	good := `
upstream: {url: "http://up/v1", model: m, api_key_env: UP_KEY, timeout: 2s}
functions:
  alice/triage: {route: fallback, threshold: 0.83}
  alice/notes: {route: shadow, upstream: {url: "http://other/v1", model: n, retries: 2}}
  bob/x: {route: local}
`
	routes, err := ParseRoutes([]byte(good), "routes.yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	tri, notes := routes["alice/triage"], routes["alice/notes"]
	if tri.Mode != RouteFallback || *tri.Threshold != 0.83 || tri.Upstream.BaseURL != "http://up/v1" || tri.Upstream.APIKey != "sk-1" ||
		tri.Upstream.HTTPClient.Timeout != 2*time.Second || tri.Upstream.Retries != -1 {
		t.Errorf("alice/triage: %+v %+v", tri, tri.Upstream)
	}
	if notes.Mode != RouteShadow || notes.Upstream.Model != "n" || notes.Upstream.APIKey != "" || notes.Upstream.Retries != 2 ||
		notes.Upstream.HTTPClient.Timeout != DefaultUpstreamTimeout || routes["bob/x"].Mode != RouteLocal || routes["bob/x"].Upstream != nil {
		t.Errorf("alice/notes %+v %+v, bob/x %+v", notes, notes.Upstream, routes["bob/x"])
	}
	// JSON is YAML.
	if r, err := ParseRoutes([]byte(`{"functions": {"a/b": {"route": "fallback", "upstream": {"url": "http://u", "model": "m"}}}}`), "r.json", env); err != nil || r["a/b"].Mode != RouteFallback {
		t.Errorf("JSON: %v %+v", err, r)
	}
	for _, tt := range []struct{ name, file, want string }{
		{"unknown key", "functions:\n  a/b: {route: local, treshold: 0.5}\n", "treshold"},
		{"unknown top key", "function:\n  a/b: {route: local}\n", "function"},
		{"bad route", "functions:\n  a/b: {route: hosted}\n", `function "a/b": route "hosted"`},
		{"threshold out of range", "upstream: {url: u, model: m}\nfunctions:\n  a/b: {route: fallback, threshold: 1.5}\n", "threshold 1.5"},
		{"threshold on shadow", "upstream: {url: u, model: m}\nfunctions:\n  a/b: {route: shadow, threshold: 0.5}\n", "on route fallback only"},
		{"no upstream", "functions:\n  a/b: {route: fallback}\n", "needs an upstream"},
		{"no model", "functions:\n  a/b: {route: shadow, upstream: {url: u}}\n", "url and model"},
		{"unset key", "upstream: {url: u, model: m, api_key_env: NOPE}\nfunctions:\n  a/b: {route: shadow}\n", "NOPE is not set"},
		{"empty", "", "empty"},
		{"syntax", "functions: [", "routes.yaml"},
	} {
		_, err := ParseRoutes([]byte(tt.file), "routes.yaml", env)
		if !errors.Is(err, ErrRoutes) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "routes.yaml") {
			t.Errorf("%s: %v, want ErrRoutes naming the file and %q", tt.name, err, tt.want)
		}
	}
}

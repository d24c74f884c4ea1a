package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/program"
)

// TestInfer: POST /api/v1/infer answers the official keys (plus paw's
// extras) with what the function answers serially.
func TestInfer(t *testing.T) {
	f := newFix(t, Config{}, nil)
	want := f.serial(t, "alice/notes", "hello there", paw.WithMaxTokens(8))
	resp, body := f.do(t, "POST", "/api/v1/infer", map[string]any{"program_id": "alice/notes", "input": "hello there", "max_tokens": 8, "temperature": 0})
	wantStatus(t, resp, body, 200)
	if diff := cmp.Diff([]string{"finish_reason", "latency_ms", "logprob_mean", "logprob_min", "output", "path", "program_id", "tokens_generated"}, keys(t, body)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	var got api.InferResponse
	mustJSON(t, body, &got)
	if got.Output != want.Output || got.TokensGenerated != want.Tokens || got.Path != "local" || got.ProgramID != f.textID || got.LatencyMS <= 0 {
		t.Errorf("infer %+v, want output %q tokens %d", got, want.Output, want.Tokens)
	}

	// A labels program: probs for each label; by program id as well.
	resp, body = f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: f.labelsID, Input: "I was charged twice"})
	wantStatus(t, resp, body, 200)
	mustJSON(t, body, &got)
	if _, ok := got.Probs[got.Output]; !ok || len(got.Probs) != 2 {
		t.Errorf("labels infer %+v", got)
	}

	// Batch: each result equals the serial answer.
	inputs := []string{"one", "two words", "three more words"}
	resp, body = f.do(t, "POST", "/api/v1/infer/batch", api.InferBatchRequest{ProgramID: "alice/notes", Inputs: inputs, MaxTokens: 6})
	wantStatus(t, resp, body, 200)
	var batch api.InferBatchResponse
	mustJSON(t, body, &batch)
	for i, in := range inputs {
		if w := f.serial(t, "alice/notes", in, paw.WithMaxTokens(6)); len(batch.Results) != 3 || batch.Results[i].Output != w.Output {
			t.Errorf("batch result %d = %+v, want %q", i, batch.Results, w.Output)
		}
	}
}

// TestPAWErrors: errors carry {error, message, request_id} (and detail,
// which the official SDK reads on a 404 download).
func TestPAWErrors(t *testing.T) {
	f := newFix(t, Config{MaxBodyBytes: 1 << 10, MaxInputBytes: 100}, nil)
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown program", "POST", "/api/v1/infer", api.InferRequest{ProgramID: "bob/nothing", Input: "x"}, 404, "not_found"},
		{"no program", "POST", "/api/v1/infer", api.InferRequest{Input: "x"}, 400, "bad_request"},
		{"local path", "POST", "/api/v1/infer", api.InferRequest{ProgramID: "/etc/passwd.paw", Input: "x"}, 404, "not_found"},
		{"bad json", "POST", "/api/v1/infer", "not an object", 400, "bad_request"},
		{"body too large", "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/notes", Input: string(bytes.Repeat([]byte("a"), 2000))}, 413, "body_too_large"},
		{"input too large", "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/notes", Input: string(bytes.Repeat([]byte("a"), 101))}, 413, "input_too_large"},
		{"negative max_tokens", "POST", "/api/v1/infer", api.InferRequest{ProgramID: "alice/notes", Input: "x", MaxTokens: -1}, 400, "bad_request"},
		{"compile", "POST", "/api/v1/compile", api.CompileRequest{Spec: "classify"}, 501, "not_implemented"},
		{"compile async", "POST", "/api/v1/compile/async", api.CompileRequest{Spec: "classify"}, 501, "not_implemented"},
		{"compile job", "GET", "/api/v1/compile/job1", nil, 404, "not_found"},
		{"cancel job", "DELETE", "/api/v1/compile/job1", nil, 404, "not_found"},
		{"download unknown", "GET", "/api/v1/programs/0123456789abcdef0123456789abcdef/download", nil, 404, "not_found"},
		{"no route", "GET", "/api/v1/nothing", nil, 404, "no_route"},
		{"wrong method", "GET", "/api/v1/infer", nil, 405, "method_not_allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path, tt.body)
			wantStatus(t, resp, body, tt.status)
			var e struct {
				api.Error
				Detail string `json:"detail"`
			}
			mustJSON(t, body, &e)
			if e.Code != tt.code || e.Message == "" || e.Detail != e.Message || e.RequestID == "" || resp.Header.Get("X-Request-ID") != e.RequestID {
				t.Errorf("error body %s (X-Request-ID %q), want code %q", body, resp.Header.Get("X-Request-ID"), tt.code)
			}
			if tt.status == 404 && !strings.Contains(strings.ToLower(e.Detail), "not found") {
				t.Errorf("404 detail %q lacks \"not found\", which the official SDK looks for", e.Detail)
			}
			// The repo's client of the official service reads it the same way.
			if pe := api.ParseError(resp.StatusCode, resp.Header, body); pe.Code != tt.code || pe.Message != e.Message {
				t.Errorf("api.ParseError = %+v", pe)
			}
		})
	}
}

// TestProgramRoutes: resolve, program detail, runtimes and compilers, in
// the shapes the official SDK reads.
func TestProgramRoutes(t *testing.T) {
	f := newFix(t, Config{}, nil)
	resp, body := f.do(t, "GET", "/api/v1/programs/resolve/alice/triage", nil)
	wantStatus(t, resp, body, 200)
	var rr api.ResolveResponse
	mustJSON(t, body, &rr)
	if rr.ProgramID != f.labelsID {
		t.Errorf("resolve: %s", body)
	}
	resp, body = f.do(t, "GET", "/api/v1/programs/alice/triage", nil)
	wantStatus(t, resp, body, 200)
	var info api.ProgramInfo
	mustJSON(t, body, &info)
	if info.ID != f.labelsID || info.Spec != "fixture alice/triage" || info.Interpreter != program.InterpreterGPT2 ||
		!cmp.Equal(info.Aliases, []string{"alice/triage"}) || info.Name != "alice/triage" || len(info.Contract) == 0 {
		t.Errorf("program detail %s", body)
	}
	resp, body = f.do(t, "GET", "/api/v1/models/compilers", nil)
	wantStatus(t, resp, body, 200)
	if string(bytes.TrimSpace(body)) != `{"compilers":[]}` {
		t.Errorf("compilers %s", body) // the SDK reads resp.json()["compilers"]
	}
	for _, id := range []string{program.DefaultRuntimeQwen3, program.DefaultRuntimeGPT2} {
		resp, body = f.do(t, "GET", "/api/v1/models/runtimes/"+id, nil)
		wantStatus(t, resp, body, 200)
		m, err := hub.ParseManifest(body)
		if err != nil || m.RuntimeID != id || m.LocalSDK.BaseModel.SHA256 != hub.OfficialRuntimes()[id].SHA256 {
			t.Errorf("runtime manifest %s: %v", body, err)
		}
		checkSDKManifest(t, body)
	}
	resp, body = f.do(t, "GET", "/api/v1/models/runtimes/nope-1b", nil)
	wantStatus(t, resp, body, 404)
	for _, p := range []string{"/health", "/api/v1/health", "/ready"} {
		resp, body = f.do(t, "GET", p, nil)
		if resp.StatusCode/100 != 2 && resp.StatusCode != 503 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
}

// TestOfficialClientPulls: the repo's client of the official service
// (package hub, which speaks its paths, shapes and the X-API-Key header)
// resolves a slug and downloads the bundle from the server, byte-identical
// in content.
func TestOfficialClientPulls(t *testing.T) {
	f := newFix(t, Config{}, nil)
	c := &hub.Client{BaseURL: f.ts.URL, Dir: t.TempDir(), APIKey: "k", NoFallback: true, Retries: -1}
	dir, err := c.PullProgram(context.Background(), "alice/triage")
	if err != nil {
		t.Fatal(err)
	}
	got, err := program.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := program.Open(f.hub.Dir + "/programs/" + f.labelsID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.ProgramID != f.labelsID || got.AdapterSHA256 != want.AdapterSHA256 || string(got.Meta.Contract()) != string(want.Meta.Contract()) {
		t.Errorf("pulled %s (adapter %s), want %s (%s)", got.Meta.ProgramID, got.AdapterSHA256, f.labelsID, want.AdapterSHA256)
	}
	resp, body := f.do(t, "GET", "/api/v1/programs/"+f.labelsID+"/download", nil)
	wantStatus(t, resp, body, 200)
	if resp.Header.Get("Content-Type") != "application/zip" || resp.Header.Get("Content-Length") == "" {
		t.Errorf("download headers %v", resp.Header)
	}
}

// TestDownloadWhileLoading: a program still being preloaded answers 202
// with Retry-After, and the official client waits and then gets it.
func TestDownloadWhileLoading(t *testing.T) {
	unblock := make(chan struct{})
	f := newFix(t, Config{Programs: []string{"alice/notes"}, RetryAfter: time.Second}, func(s *Server) {
		load := s.funcs.load
		s.funcs.load = func(ctx context.Context, ref string) (*paw.Function, error) {
			<-unblock
			return load(ctx, ref)
		}
	})
	resp, body := f.do(t, "GET", "/api/v1/programs/alice/notes/download", nil)
	wantStatus(t, resp, body, http.StatusAccepted)
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp, body = f.do(t, "GET", "/ready", nil); resp.StatusCode != 503 {
		t.Errorf("/ready while loading: %d %s", resp.StatusCode, body)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		close(unblock)
	}()
	c := &hub.Client{BaseURL: f.ts.URL, Dir: t.TempDir(), NoFallback: true, Retries: -1}
	if _, err := c.PullProgram(context.Background(), f.textID); err != nil {
		t.Fatalf("pull after 202: %v", err)
	}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if resp, body = f.do(t, "GET", "/ready", nil); resp.StatusCode == 200 {
			break
		} else if time.Since(start) > 5*time.Second {
			t.Fatalf("/ready after loading: %d %s", resp.StatusCode, body)
		}
	}
}

// TestCorruptBundle: a broken bundle in the cache fails its own requests
// with a clear 5xx, and the other programs keep answering.
func TestCorruptBundle(t *testing.T) {
	f := newFix(t, Config{}, nil)
	p := packProgram(t, f.hub.Dir, f.base, "alice/broken", 6, "")
	if err := os.WriteFile(filepath.Join(f.hub.Dir, "programs", p.Meta.ProgramID, "adapter.gguf"), []byte("not a gguf"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "POST", "/api/v1/infer", inferBody("alice/broken"))
	wantStatus(t, resp, body, http.StatusInternalServerError)
	if code := errorCode(t, body); code != "program_error" || !strings.Contains(string(body), "alice/broken") {
		t.Errorf("corrupt bundle: %s", body)
	}
	resp, body = f.do(t, "POST", "/api/v1/infer", inferBody("alice/notes"))
	wantStatus(t, resp, body, 200)
}

// checkSDKManifest checks what the official SDK requires of a runtime
// manifest before it downloads the base model: runtime_id, an integer
// manifest_version, an interpreter, adapter_format gguf_lora, and
// local_sdk {supported: bool, base_model {file (a bare name), url,
// sha256 (64 hex digits), size_bytes > 0}}.
func checkSDKManifest(t *testing.T, body []byte) {
	t.Helper()
	var m struct {
		RuntimeID       string `json:"runtime_id"`
		ManifestVersion *int   `json:"manifest_version"`
		Interpreter     string `json:"interpreter"`
		AdapterFormat   string `json:"adapter_format"`
		LocalSDK        struct {
			Supported *bool `json:"supported"`
			BaseModel struct {
				File      string `json:"file"`
				URL       string `json:"url"`
				SHA256    string `json:"sha256"`
				SizeBytes int64  `json:"size_bytes"`
			} `json:"base_model"`
		} `json:"local_sdk"`
	}
	mustJSON(t, body, &m)
	bm := m.LocalSDK.BaseModel
	if m.RuntimeID == "" || m.ManifestVersion == nil || *m.ManifestVersion != 1 || m.Interpreter == "" || m.AdapterFormat != "gguf_lora" ||
		m.LocalSDK.Supported == nil || !*m.LocalSDK.Supported || bm.File == "" || strings.ContainsRune(bm.File, '/') ||
		bm.URL == "" || len(bm.SHA256) != 64 || bm.SizeBytes <= 0 {
		t.Errorf("runtime manifest fails the official SDK's checks: %s", body)
	}
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
)

// fix is a test server on the gpt2-tiny fixture with two cached programs:
// alice/notes (free text) and alice/triage (labels billing|technical).
type fix struct {
	srv      *Server
	ts       *httptest.Server
	base     string
	hub      *hub.Client
	eng      *paw.Engine
	textID   string
	labelsID string
}

var triageLabels = []string{"billing", "technical"}

// packProgram packs a gpt2-tiny program and installs it in the hub cache
// at dir under slug; contract, if set, goes in meta.json.
func packProgram(t testing.TB, dir, base, slug string, seed uint64, contract string) *program.Program {
	t.Helper()
	cfg, _ := fixture.Preset("gpt2-tiny")
	adapter := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := fixture.WriteAdapter(adapter, cfg, fixture.OfficialAdapter(seed)); err != nil {
		t.Fatal(err)
	}
	p, err := program.Pack(program.PackOptions{Spec: "fixture " + slug, PseudoProgram: "Answer about " + slug,
		Interpreter: "gpt2", AdapterPath: adapter, BasePath: base})
	if err != nil {
		t.Fatal(err)
	}
	if contract != "" {
		p.Meta.Extra = map[string]json.RawMessage{program.ContractKey: json.RawMessage(contract)}
	}
	os.MkdirAll(filepath.Join(dir, "programs"), 0o755)
	if err := p.WriteDir(filepath.Join(dir, "programs", p.Meta.ProgramID)); err != nil {
		t.Fatal(err)
	}
	slugs := map[string]map[string]string{"slugs": {}}
	if b, err := os.ReadFile(filepath.Join(dir, "slugs.json")); err == nil {
		json.Unmarshal(b, &slugs)
	}
	slugs["slugs"][slug] = p.Meta.ProgramID
	b, _ := json.Marshal(slugs)
	if err := os.WriteFile(filepath.Join(dir, "slugs.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// newFix builds the fixture; edit, if set, changes the server before its
// preloads start.
func newFix(t testing.TB, cfg Config, edit func(*Server)) *fix {
	t.Helper()
	mcfg, _ := fixture.Preset("gpt2-tiny")
	f := &fix{base: fixturetest.Cached(t, "gpt2-tiny", mcfg)}
	dir := t.TempDir()
	f.textID = packProgram(t, dir, f.base, "alice/notes", 4, "").Meta.ProgramID
	f.labelsID = packProgram(t, dir, f.base, "alice/triage", 5, `{"kind":"labels","labels":["billing","technical"]}`).Meta.ProgramID
	f.hub = &hub.Client{Dir: dir, Offline: true}
	eng, err := paw.Open(context.Background(), paw.Options{Hub: f.hub, Model: f.base, NoDrafts: true, Threads: 1,
		Registry: cfg.Registry})
	if err != nil {
		t.Fatal(err)
	}
	f.eng = eng
	cfg.Engine, cfg.Hub, cfg.BaseModels = eng, f.hub, []string{f.base, filepath.Base(f.base)}
	s, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(s)
	}
	go s.preload()
	f.srv = s
	f.ts = httptest.NewServer(s)
	t.Cleanup(func() {
		f.ts.Close()
		s.Close()
		eng.Close()
	})
	return f
}

// do sends a request with a JSON body (nil for none) and returns the
// response and its body.
func (f *fix) do(t *testing.T, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", "any-key") // accepted, as the official SDK sends it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// keys returns the sorted top-level keys of a JSON object.
func keys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// serial is what the function answers to input on its own.
func (f *fix) serial(t *testing.T, ref, input string, opts ...paw.Option) paw.Result {
	t.Helper()
	fn, err := f.eng.Function(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	res, err := fn.Call(context.Background(), input, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func wantStatus(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
}

// errorCode returns the machine-readable code of a PAW or OpenAI error body.
func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	var code string
	if json.Unmarshal(e.Error, &code) == nil {
		return code
	}
	var oe struct {
		Code string `json:"code"`
	}
	json.Unmarshal(e.Error, &oe)
	return oe.Code
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

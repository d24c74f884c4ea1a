package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRoutes are the routes that decode a request body.
var fuzzRoutes = []string{"/api/v1/infer", "/api/v1/infer/batch", "/v1/chat/completions", "/v1/completions"}

// FuzzRequestBodies posts arbitrary bodies to every route that decodes
// one: the server never fails with a 5xx, and answers JSON (or, streaming,
// server-sent events).
func FuzzRequestBodies(f *testing.F) {
	for i, b := range []string{
		`{"program_id":"alice/notes","input":"hi","max_tokens":4}`,
		`{"program_id":"alice/triage","inputs":["a","b"],"max_tokens":2,"temperature":0.5}`,
		`{"model":"alice/notes","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":3,"stream":true}`,
		`{"model":"alice/notes","prompt":["x"],"max_tokens":3,"logprobs":1,"stop":"a"}`,
		`{"model":"alice/notes","messages":[{"role":"user","content":"x"}],"max_tokens":20,"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}}`,
		`{"model":"alice/triage","messages":null}`,
		`[]`, `{"program_id":1}`, `{"max_tokens":-5}`,
	} {
		f.Add(uint8(i), []byte(b))
	}
	fx := newFix(f, Config{MaxBodyBytes: 4 << 10}, nil)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
			if !strings.HasSuffix(rec.Body.String(), "data: [DONE]\n\n") {
				t.Fatalf("stream without [DONE]: %q", rec.Body)
			}
		} else if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST %s %q: body is not JSON: %q", path, body, rec.Body)
		}
	})
}

// FuzzParseRoutes: any routing file is decoded or refused, never a panic;
// what is accepted is usable: a known mode, an upstream where one is
// needed, a threshold in [0, 1].
func FuzzParseRoutes(f *testing.F) {
	for _, s := range []string{
		"upstream: {url: u, model: m, timeout: 2s}\nfunctions:\n  a/b: {route: fallback, threshold: 0.8}\n  c: {route: shadow}\n",
		`{"functions": {"a/b": {"route": "local"}}}`,
		"functions:\n  a: {route: fallback, upstream: {url: u, model: m, api_key_env: K, retries: 2}}\n",
		"functions: &x {a: *x}\n", "- 1\n", "",
	} {
		f.Add([]byte(s))
	}
	env := func(string) (string, bool) { return "k", true }
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := ParseRoutes(data, "r.yaml", env)
		if err != nil {
			return
		}
		for ref, r := range routes {
			switch {
			case r.Mode != RouteLocal && r.Mode != RouteFallback && r.Mode != RouteShadow:
				t.Fatalf("%s: mode %q", ref, r.Mode)
			case r.Mode != RouteLocal && (r.Upstream == nil || r.Upstream.HTTPClient.Timeout <= 0):
				t.Fatalf("%s: %s without a bounded upstream", ref, r.Mode)
			case r.Threshold != nil && !(*r.Threshold >= 0 && *r.Threshold <= 1):
				t.Fatalf("%s: threshold %v", ref, *r.Threshold)
			}
		}
	})
}

// FuzzParseAPIKeys: any key file is decoded or refused, never a panic; an
// accepted one has keys, each with a name and a usable limit.
func FuzzParseAPIKeys(f *testing.F) {
	h := strings.Repeat("ab", 32)
	for _, s := range []string{h + " alice 10/s\n# c\n" + h + " 1.5/m\n", h + "\n", "x y z w\n", h + " 0/s", h + " 1e308/s"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseAPIKeys(data, "keys")
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a file without keys")
		}
		for _, k := range keys {
			if k.Name == "" || k.Rate < 0 || (k.Rate > 0 && k.Burst < 1) {
				t.Fatalf("key %+v", k)
			}
		}
	})
}

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

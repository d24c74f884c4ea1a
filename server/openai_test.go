package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/program"
)

func chatReq(model, input string) api.ChatRequest {
	return api.ChatRequest{Model: model, MaxTokens: 8, Messages: []api.ChatMessage{
		{Role: "system", Content: "ignored: the program has its own instructions"}, {Role: "user", Content: api.ChatContent(input)}}}
}

// TestChat: the model is a program, the last user message its input; a
// labels program answers a label, with probs under logprobs; a json_schema
// response_format constrains a free-text program to valid JSON.
func TestChat(t *testing.T) {
	f := newFix(t, Config{}, nil)
	want := f.serial(t, "alice/notes", "hello there", paw.WithMaxTokens(8))
	resp, body := f.do(t, "POST", "/v1/chat/completions", chatReq("alice/notes", "hello there"))
	wantStatus(t, resp, body, 200)
	var got api.ChatResponse
	mustJSON(t, body, &got)
	if len(got.Choices) != 1 || string(got.Choices[0].Message.Content) != want.Output || got.Choices[0].Message.Role != "assistant" ||
		got.Object != "chat.completion" || got.Model != "alice/notes" || !strings.HasPrefix(got.ID, "chatcmpl-") ||
		got.Usage == nil || got.Usage.CompletionTokens != want.Tokens || got.Choices[0].Logprobs != nil {
		t.Errorf("chat %s, want content %q", body, want.Output)
	}

	req := chatReq("alice/triage", "I was charged twice")
	req.Logprobs = true
	resp, body = f.do(t, "POST", "/v1/chat/completions", req)
	wantStatus(t, resp, body, 200)
	mustJSON(t, body, &got)
	c := got.Choices[0]
	if !slices.Contains(triageLabels, string(c.Message.Content)) || c.Logprobs == nil || len(c.Logprobs.Probs) != 2 ||
		len(c.Logprobs.Content) != got.Usage.CompletionTokens || got.Usage.CompletionTokens == 0 {
		t.Errorf("labels chat %s", body)
	}

	schema := `{"type":"object","properties":{"team":{"enum":["billing","technical"]},"urgent":{"type":"boolean"}},"required":["team","urgent"]}`
	req = chatReq("alice/notes", "The server is down")
	req.MaxTokens = 40
	req.ResponseFormat = &api.ResponseFormat{Type: "json_schema", JSONSchema: &api.JSONSchema{Name: "ticket", Schema: json.RawMessage(schema)}}
	resp, body = f.do(t, "POST", "/v1/chat/completions", req)
	wantStatus(t, resp, body, 200)
	mustJSON(t, body, &got)
	var ticket struct {
		Team   string `json:"team"`
		Urgent *bool  `json:"urgent"`
	}
	dec := json.NewDecoder(strings.NewReader(string(got.Choices[0].Message.Content)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ticket); err != nil || !slices.Contains(triageLabels, ticket.Team) || ticket.Urgent == nil {
		t.Errorf("json_schema answer %q: %v", got.Choices[0].Message.Content, err)
	}

	// Completions: the prompt is the input.
	resp, body = f.do(t, "POST", "/v1/completions", map[string]any{"model": "alice/notes", "prompt": "hello there", "max_tokens": 8})
	wantStatus(t, resp, body, 200)
	var comp api.CompletionResponse
	mustJSON(t, body, &comp)
	if len(comp.Choices) != 1 || comp.Choices[0].Text != want.Output || comp.Object != "text_completion" || *comp.Choices[0].FinishReason == "" {
		t.Errorf("completion %s", body)
	}
}

// TestChatErrors: OpenAI error bodies, and never an unconstrained 200 for
// a schema the server cannot honour.
func TestChatErrors(t *testing.T) {
	f := newFix(t, Config{}, nil)
	bad := func(rf *api.ResponseFormat) api.ChatRequest {
		r := chatReq("alice/notes", "x")
		r.ResponseFormat = rf
		return r
	}
	withModel := func(m string) api.ChatRequest { return chatReq(m, "x") }
	for _, tt := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"invalid schema", bad(&api.ResponseFormat{Type: "json_schema", JSONSchema: &api.JSONSchema{Schema: json.RawMessage(`{"type": 12}`)}}), 400, "invalid_schema"},
		{"schema missing", bad(&api.ResponseFormat{Type: "json_schema"}), 400, "bad_request"},
		{"unknown format", bad(&api.ResponseFormat{Type: "yaml"}), 400, "unsupported"},
		{"base model path", withModel(f.base), 400, "base_model"},
		{"interpreter", withModel("qwen3"), 400, "base_model"},
		{"runtime", withModel(program.DefaultRuntimeGPT2), 400, "base_model"},
		{"unknown program", withModel("bob/none"), 404, "not_found"},
		{"no user message", api.ChatRequest{Model: "alice/notes", Messages: []api.ChatMessage{{Role: "system", Content: "x"}}}, 400, "bad_request"},
		{"n", func() api.ChatRequest { r := chatReq("alice/notes", "x"); r.N = 2; return r }(), 400, "unsupported"},
		{"top_logprobs alone", func() api.ChatRequest { r := chatReq("alice/notes", "x"); r.TopLogprobs = 3; return r }(), 400, "bad_request"},
		{"top_logprobs over 20", func() api.ChatRequest {
			r := chatReq("alice/notes", "x")
			r.Logprobs, r.TopLogprobs = true, 21
			return r
		}(), 400, "bad_request"},
		{"tools", func() api.ChatRequest {
			r := chatReq("alice/notes", "x")
			r.Tools = json.RawMessage(`[{"type":"function"}]`)
			return r
		}(), 400, "unsupported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "POST", "/v1/chat/completions", tt.body)
			wantStatus(t, resp, body, tt.status)
			var e api.OpenAIError
			mustJSON(t, body, &e)
			if e.Error.Code != tt.code || e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("error %s, want code %s", body, tt.code)
			}
		})
	}
}

// sseEvents parses a server-sent event stream into its data payloads,
// checking the framing: "data: " lines each followed by a blank line.
func sseEvents(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not a data: line; stream:\n%s", line, body)
		}
		out = append(out, data)
		if !sc.Scan() || sc.Text() != "" {
			t.Fatalf("event %q not followed by a blank line", line)
		}
	}
	return out
}

func events0ID(t *testing.T, events []string) string {
	var c api.ChatChunk
	mustJSON(t, []byte(events[0]), &c)
	return c.ID
}

// TestModels: GET /v1/models lists the cached programs, marking the loaded.
func TestModels(t *testing.T) {
	f := newFix(t, Config{}, nil)
	resp, body := f.do(t, "POST", "/v1/chat/completions", chatReq("alice/triage", "x"))
	wantStatus(t, resp, body, 200)
	resp, body = f.do(t, "GET", "/v1/models", nil)
	wantStatus(t, resp, body, 200)
	var list api.ModelList
	mustJSON(t, body, &list)
	got := map[string]api.Model{}
	for _, m := range list.Data {
		got[m.ID] = m
	}
	if list.Object != "list" || len(list.Data) != 2 || !got[f.labelsID].Loaded || got[f.textID].Loaded ||
		!slices.Contains(got[f.labelsID].Aliases, "alice/triage") || got[f.textID].Spec != "fixture alice/notes" {
		t.Errorf("models %s", body)
	}
}

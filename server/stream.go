package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
)

// Streaming. The engine returns whole answers, so a stream carries the
// finished answer, split at spaces into content chunks, framed as OpenAI's
// server-sent events: data: lines, then "data: [DONE]". Clients that
// render tokens as they come work unchanged; the first chunk arrives when
// the answer is complete.

// sse writes one event and flushes it.
func sse(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v) // wire types only: cannot fail
	fmt.Fprintf(w, "data: %s\n\n", b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func startStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
}

func endStream(w http.ResponseWriter) {
	fmt.Fprint(w, "data: [DONE]\n\n")
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// pieces splits an answer into chunks that end after a space.
func pieces(s string) []string {
	var out []string
	for _, p := range strings.SplitAfter(s, " ") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func streamChat(w http.ResponseWriter, id string, created int64, model string, res paw.Result, withLogprobs bool) {
	startStream(w)
	chunk := func(d api.ChatDelta, finish *string, lp *api.Logprobs, u *api.Usage) api.ChatChunk {
		return api.ChatChunk{ID: id, Object: api.ObjectChatChunk, Created: created, Model: model,
			Choices: []api.ChatChunkChoice{{Delta: d, FinishReason: finish, Logprobs: lp}}, Usage: u}
	}
	sse(w, chunk(api.ChatDelta{Role: "assistant"}, nil, nil, nil))
	for _, p := range pieces(res.Output) {
		sse(w, chunk(api.ChatDelta{Content: p}, nil, nil, nil))
	}
	fr := finishReason(res)
	sse(w, chunk(api.ChatDelta{}, &fr, logprobs(res, withLogprobs), usage(res)))
	endStream(w)
}

func streamCompletion(w http.ResponseWriter, id string, created int64, model string, res paw.Result, withLogprobs bool) {
	startStream(w)
	chunk := func(text string, finish *string, lp *api.Logprobs, u *api.Usage) api.CompletionResponse {
		return api.CompletionResponse{ID: id, Object: api.ObjectTextCompletion, Created: created, Model: model,
			Choices: []api.CompletionChoice{{Text: text, FinishReason: finish, Logprobs: lp}}, Usage: u}
	}
	for _, p := range pieces(res.Output) {
		sse(w, chunk(p, nil, nil, nil))
	}
	fr := finishReason(res)
	sse(w, chunk("", &fr, logprobs(res, withLogprobs), usage(res)))
	endStream(w)
}

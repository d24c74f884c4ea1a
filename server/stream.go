package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
)

// Streaming: OpenAI's server-sent events (data: lines, then "data:
// [DONE]"). A free-text function answered locally streams a chunk per
// token as the engine accepts it; an answer under a contract (labels,
// JSON), or from the upstream model (fallback, shadow), comes as one
// content chunk when it is complete. The last chunk carries the finish
// reason and the usage.

// sse writes one event and flushes it; its error is the client's.
func sse(w http.ResponseWriter, v any) error {
	b, _ := json.Marshal(v) // wire types only: cannot fail
	if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return http.NewResponseController(w).Flush()
}

// stream writes one OpenAI stream. It starts (status 200 and headers) on
// the first token, so that an error before any token gets its own status.
type stream struct {
	w        http.ResponseWriter
	logprobs bool // send each token's logprob with it
	// chunk frames one event: a delta of text and its tokens' logprobs,
	// and on the last event the result (finish reason, usage, summary).
	chunk   func(text string, toks []paw.TokenLogprob, last *paw.Result) any
	role    any // the chat stream's first event, nil for completions
	started bool
	sent    int // token logprobs sent
}

func (st *stream) start() error {
	if st.started {
		return nil
	}
	st.started = true
	h := st.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	st.w.WriteHeader(http.StatusOK)
	if st.role != nil {
		return sse(st.w, st.role)
	}
	return nil
}

// token sends one streamed token (paw.WithStream's callback); an error,
// such as a client gone, cancels the call.
func (st *stream) token(t paw.Token) error {
	if err := st.start(); err != nil {
		return err
	}
	var toks []paw.TokenLogprob
	if st.logprobs && t.Logprob != nil {
		toks = []paw.TokenLogprob{*t.Logprob}
		st.sent++
	}
	if t.Text == "" && toks == nil {
		return nil
	}
	return sse(st.w, st.chunk(t.Text, toks, nil))
}

// finish ends the stream with res: its text if no token carried it, the
// logprobs not yet sent, the finish reason and usage, then [DONE].
func (st *stream) finish(res paw.Result) {
	if !st.started {
		if st.start() != nil || res.Output != "" && sse(st.w, st.chunk(res.Output, nil, nil)) != nil {
			return
		}
	}
	if sse(st.w, st.chunk("", res.Logprobs[min(st.sent, len(res.Logprobs)):], &res)) != nil {
		return
	}
	fmt.Fprint(st.w, "data: [DONE]\n\n")
	http.NewResponseController(st.w).Flush()
}

func chatStream(w http.ResponseWriter, id string, created int64, model string, logprobs bool) *stream {
	chunk := func(d api.ChatDelta, lp *api.Logprobs, finish *string, u *api.Usage) api.ChatChunk {
		return api.ChatChunk{ID: id, Object: api.ObjectChatChunk, Created: created, Model: model,
			Choices: []api.ChatChunkChoice{{Delta: d, FinishReason: finish, Logprobs: lp}}, Usage: u}
	}
	return &stream{w: w, logprobs: logprobs, role: chunk(api.ChatDelta{Role: "assistant"}, nil, nil, nil),
		chunk: func(text string, toks []paw.TokenLogprob, last *paw.Result) any {
			if last == nil {
				return chunk(api.ChatDelta{Content: text}, chatLogprobs(toks, nil, logprobs), nil, nil)
			}
			fr := finishReason(*last)
			return chunk(api.ChatDelta{Content: text}, chatLogprobs(toks, last, logprobs), &fr, usage(*last))
		}}
}

func completionStream(w http.ResponseWriter, id string, created int64, model string, logprobs bool) *stream {
	offset := 0 // of the next token in the text
	return &stream{w: w, logprobs: logprobs,
		chunk: func(text string, toks []paw.TokenLogprob, last *paw.Result) any {
			c := api.CompletionChoice{Text: text, Logprobs: completionLogprobs(toks, offset, last, logprobs)}
			var u *api.Usage
			if last != nil {
				fr := finishReason(*last)
				c.FinishReason, u = &fr, usage(*last)
			}
			for _, t := range toks {
				offset += len(t.Token)
			}
			return api.CompletionResponse{ID: id, Object: api.ObjectTextCompletion, Created: created, Model: model,
				Choices: []api.CompletionChoice{c}, Usage: u}
		}}
}

// chatLogprobs is a chat choice's logprobs for toks, with the summary of
// last when set; nil when not asked.
func chatLogprobs(toks []paw.TokenLogprob, last *paw.Result, asked bool) *api.Logprobs {
	if !asked {
		return nil
	}
	lp := &api.Logprobs{Content: make([]api.TokenLogprob, 0, len(toks))}
	for _, t := range toks {
		top := make([]api.TopLogprob, 0, len(t.Top))
		for _, a := range t.Top {
			top = append(top, api.TopLogprob{Token: a.Token, Logprob: a.Logprob, Bytes: byteList(a.Token)})
		}
		lp.Content = append(lp.Content, api.TokenLogprob{Token: t.Token, Logprob: t.Logprob, Bytes: byteList(t.Token), TopLogprobs: top})
	}
	if last != nil {
		lp.LogprobMean, lp.LogprobMin, lp.Probs = last.LogprobMean, last.LogprobMin, last.Probs
	}
	return lp
}

// completionLogprobs is the legacy shape of chatLogprobs; offset is the
// first token's offset in the text.
func completionLogprobs(toks []paw.TokenLogprob, offset int, last *paw.Result, asked bool) *api.CompletionLogprobs {
	if !asked {
		return nil
	}
	lp := &api.CompletionLogprobs{Tokens: []string{}, TokenLogprobs: []float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
	for _, t := range toks {
		top := make(map[string]float64, len(t.Top))
		for _, a := range t.Top {
			top[a.Token] = a.Logprob
		}
		lp.Tokens = append(lp.Tokens, t.Token)
		lp.TokenLogprobs = append(lp.TokenLogprobs, t.Logprob)
		lp.TopLogprobs = append(lp.TopLogprobs, top)
		lp.TextOffset = append(lp.TextOffset, offset)
		offset += len(t.Token)
	}
	if last != nil {
		lp.LogprobMean, lp.LogprobMin, lp.Probs = last.LogprobMean, last.LogprobMin, last.Probs
	}
	return lp
}

// byteList is a token's bytes as OpenAI lists them (its text may be part
// of a UTF-8 sequence).
func byteList(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

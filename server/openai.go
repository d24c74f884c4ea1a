package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/program"
)

// The OpenAI-compatible routes, under /v1: the model is a program, and the
// last user message (or the prompt) is its input. Other messages are not
// part of the input: a program carries its own instructions.

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	var req api.ChatRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, created := "chatcmpl-"+requestID(r), time.Now().Unix()
	var st *stream
	if req.Stream {
		st = chatStream(w, id, created, req.Model, req.Logprobs)
	}
	a, err := s.chat(r.Context(), w, &req, st)
	s.answer(w, r, st, a, err, func(res paw.Result) any {
		return api.ChatResponse{ID: id, Object: api.ObjectChatCompletion, Created: created, Model: req.Model,
			Choices: []api.ChatChoice{{Message: api.ChatMessage{Role: "assistant", Content: api.ChatContent(res.Output)},
				FinishReason: finishReason(res), Logprobs: chatLogprobs(res.Logprobs, &res, req.Logprobs)}},
			Usage: usage(res)}
	})
}

// answer writes an OpenAI route's outcome: the error, the end of the
// stream, or the response body.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, st *stream, a answer, err error, body func(paw.Result) any) {
	switch {
	case err != nil && st != nil && st.started:
		s.streamError(w, r, err)
	case err != nil:
		s.writeError(w, r, err)
	case st != nil:
		st.finish(a.Result) // the path is in the X-Paw-Path header
	default:
		writeJSON(w, http.StatusOK, body(a.Result))
	}
}

// chat checks a chat request and runs it.
func (s *Server) chat(ctx context.Context, w http.ResponseWriter, req *api.ChatRequest, st *stream) (answer, error) {
	switch {
	case req.N > 1:
		return answer{}, fmt.Errorf("%w: n=%d: a function has one answer per input", ErrUnsupported, req.N)
	case len(req.Tools) > 0 && string(req.Tools) != "null" && string(req.Tools) != "[]":
		return answer{}, fmt.Errorf("%w: tools", ErrUnsupported)
	case req.TopLogprobs != 0 && !req.Logprobs:
		return answer{}, fmt.Errorf("%w: top_logprobs needs logprobs: true", ErrBadRequest)
	}
	top := -1
	if req.Logprobs {
		top = req.TopLogprobs
	}
	input, ok := "", false
	for i := len(req.Messages) - 1; i >= 0 && !ok; i-- {
		input, ok = string(req.Messages[i].Content), req.Messages[i].Role == "user"
	}
	if !ok {
		return answer{}, fmt.Errorf("%w: no user message: the last one is the function's input", ErrBadRequest)
	}
	maxTokens := req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		maxTokens = req.MaxCompletionTokens
	}
	return s.openAICall(ctx, w, openAIRequest{model: req.Model, input: input, maxTokens: maxTokens, temperature: req.Temperature,
		seed: req.Seed, stop: req.Stop, rf: req.ResponseFormat, top: top, stream: st})
}

// openAIRequest is what the OpenAI routes share.
type openAIRequest struct {
	model, input string
	maxTokens    int
	temperature  *float64
	seed         *int64
	stop         []string
	rf           *api.ResponseFormat
	top          int // top logprobs per token; -1: no logprobs
	stream       *stream
}

// openAICall runs one OpenAI-style request.
func (s *Server) openAICall(ctx context.Context, w http.ResponseWriter, o openAIRequest) (answer, error) {
	opts, err := options(o.maxTokens, o.temperature, o.seed, o.stop)
	if err != nil {
		return answer{}, err
	}
	if o.top > paw.MaxTopLogprobs {
		return answer{}, fmt.Errorf("%w: %d top logprobs: at most %d", ErrBadRequest, o.top, paw.MaxTopLogprobs)
	}
	if o.top >= 0 {
		opts = append(opts, paw.WithLogprobs(o.top))
	}
	rf := o.rf
	contract, err := contractFor(rf)
	if err != nil {
		return answer{}, err
	}
	if contract != nil {
		opts = append(opts, paw.WithContract(*contract))
	}
	c := call{ref: o.model, inputs: []string{o.input}, opts: opts, contract: contract}
	if o.stream != nil {
		c.stream = o.stream.token
	}
	res, err := s.run(ctx, w, c)
	if err != nil {
		return answer{}, err
	}
	return res[0], nil
}

func (s *Server) handleCompletion(w http.ResponseWriter, r *http.Request) {
	var req api.CompletionRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, created := "cmpl-"+requestID(r), time.Now().Unix()
	var st *stream
	if req.Stream {
		st = completionStream(w, id, created, req.Model, req.Logprobs != nil)
	}
	a, err := s.completion(r.Context(), w, &req, st)
	s.answer(w, r, st, a, err, func(res paw.Result) any {
		fr := finishReason(res)
		return api.CompletionResponse{ID: id, Object: api.ObjectTextCompletion, Created: created, Model: req.Model,
			Choices: []api.CompletionChoice{{Text: res.Output, Logprobs: completionLogprobs(res.Logprobs, 0, &res, req.Logprobs != nil),
				FinishReason: &fr}},
			Usage: usage(res)}
	})
}

func (s *Server) completion(ctx context.Context, w http.ResponseWriter, req *api.CompletionRequest, st *stream) (answer, error) {
	switch {
	case len(req.Prompt) != 1:
		return answer{}, fmt.Errorf("%w: prompt: want one string, got %d", ErrBadRequest, len(req.Prompt))
	case req.N > 1:
		return answer{}, fmt.Errorf("%w: n=%d: a function has one answer per input", ErrUnsupported, req.N)
	case req.Echo:
		return answer{}, fmt.Errorf("%w: echo", ErrUnsupported)
	}
	top := -1
	if req.Logprobs != nil {
		if top = *req.Logprobs; top < 0 {
			return answer{}, fmt.Errorf("%w: logprobs %d is negative", ErrBadRequest, top)
		}
	}
	return s.openAICall(ctx, w, openAIRequest{model: req.Model, input: req.Prompt[0], maxTokens: req.MaxTokens,
		temperature: req.Temperature, seed: req.Seed, stop: req.Stop, top: top, stream: st})
}

func finishReason(r paw.Result) string {
	if r.FinishReason == paw.FinishLength || r.FinishReason == paw.FinishContext {
		return api.FinishLength
	}
	return api.FinishStop
}

func usage(r paw.Result) *api.Usage {
	return &api.Usage{PromptTokens: r.PromptTokens, CompletionTokens: r.Tokens, TotalTokens: r.PromptTokens + r.Tokens}
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	list, err := s.models()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// models lists the loaded functions, then the other cached programs. Local
// paths a program was preloaded from are not shown.
func (s *Server) models() (api.ModelList, error) {
	list := api.ModelList{Object: api.ObjectList, Data: []api.Model{}}
	seen := map[string]int{}
	for _, l := range s.funcs.loaded() {
		m := api.Model{ID: l.fn.Name(), Object: api.ObjectModel, OwnedBy: "paw", Loaded: true}
		if p := l.fn.Program(); p != nil {
			m.Spec = p.Meta.Spec
			if t, err := time.Parse(time.RFC3339, p.Meta.CreatedAt); err == nil {
				m.Created = t.Unix()
			}
		}
		for _, ref := range l.refs {
			if r, err := program.ParseRef(ref); err == nil && r.IsSlug() {
				m.Aliases = append(m.Aliases, ref)
			}
		}
		seen[m.ID] = len(list.Data)
		list.Data = append(list.Data, m)
	}
	if s.cfg.Hub == nil {
		return list, nil
	}
	items, err := s.cfg.Hub.List()
	if err != nil {
		return list, err
	}
	for _, it := range items {
		if it.Kind != hub.KindProgram {
			continue
		}
		if i, ok := seen[it.ID]; ok {
			list.Data[i].Aliases = append(list.Data[i].Aliases, it.Slugs...)
			continue
		}
		list.Data = append(list.Data, api.Model{ID: it.ID, Object: api.ObjectModel, Created: it.Modified.Unix(),
			OwnedBy: "paw", Aliases: it.Slugs, Spec: it.Spec})
	}
	return list, nil
}

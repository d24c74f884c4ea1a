package api

import (
	"encoding/json"
	"fmt"
	"strings"
)

// OpenAI-compatible wire types: the subset of the Chat Completions and
// Completions APIs that paw's server answers and its upstream client sends.
// Optional fields are omitempty, so a request marshals to exactly the keys
// that were set.

// ChatMessage is one chat message.
type ChatMessage struct {
	Role    string      `json:"role"`
	Content ChatContent `json:"content"`
}

// ChatContent is a message's text. It decodes a string, null (""), or a list
// of content parts, whose text parts are joined (other parts are an error:
// paw functions take text); it encodes as a string.
type ChatContent string

// UnmarshalJSON accepts a string, null or a list of {type, text} parts.
func (c *ChatContent) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != nil {
			*c = ChatContent(*s)
		} else {
			*c = ""
		}
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return fmt.Errorf("content: want a string or a list of text parts: %w", err)
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return fmt.Errorf("content: part of type %q: only text parts are supported", p.Type)
		}
		sb.WriteString(p.Text)
	}
	*c = ChatContent(sb.String())
	return nil
}

// StringList is a string or a list of strings (stop, prompt).
type StringList []string

// UnmarshalJSON accepts a string, a list of strings or null.
func (l *StringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = list
	return nil
}

// Response format types.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat constrains the output: text, json_object (any JSON object)
// or json_schema (JSON valid against JSONSchema.Schema).
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatRequest is POST /v1/chat/completions. The first four fields come
// first and in this order because upstream's answer cache hashes the
// marshalled request.
type ChatRequest struct {
	Model       string        `json:"model"`
	Messages    []ChatMessage `json:"messages"`
	Temperature *float64      `json:"temperature,omitempty"`
	MaxTokens   int           `json:"max_tokens,omitempty"`

	MaxCompletionTokens int             `json:"max_completion_tokens,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	Stop                StringList      `json:"stop,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	N                   int             `json:"n,omitempty"`
	Logprobs            bool            `json:"logprobs,omitempty"`
	TopLogprobs         int             `json:"top_logprobs,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	Tools               json.RawMessage `json:"tools,omitempty"`
}

// Usage counts a response's tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Logprobs is a chat choice's logprobs: Content has each output token's
// log-probability (in a stream chunk, those of the chunk's tokens).
// LogprobMean and LogprobMin (over the output tokens) and Probs (each
// label's probability, for a labels contract) are paw's extensions, in the
// non-streamed answer and a stream's last chunk.
type Logprobs struct {
	Content     []TokenLogprob     `json:"content"`
	LogprobMean float64            `json:"logprob_mean,omitempty"`
	LogprobMin  float64            `json:"logprob_min,omitempty"`
	Probs       map[string]float64 `json:"probs,omitempty"`
}

// TokenLogprob is one output token's log-probability; Bytes are the
// token's bytes (Token may be part of a UTF-8 sequence) and TopLogprobs the
// most probable tokens at its step (top_logprobs of the request).
type TokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []TopLogprob `json:"top_logprobs"`
}

// TopLogprob is one of the most probable tokens at a step.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// CompletionLogprobs is a text completion's logprobs, in the legacy
// Completions shape: the output's tokens, each one's log-probability, the
// most probable tokens at each step (as many as the request's logprobs)
// and each token's byte offset in the text; paw's summary as in Logprobs.
type CompletionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
	LogprobMean   float64              `json:"logprob_mean,omitempty"`
	LogprobMin    float64              `json:"logprob_min,omitempty"`
	Probs         map[string]float64   `json:"probs,omitempty"`
}

// Finish reasons.
const (
	FinishStop   = "stop"
	FinishLength = "length"
)

// ChatChoice is one answer of a chat completion.
type ChatChoice struct {
	Index        int         `json:"index"`
	Message      ChatMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
	Logprobs     *Logprobs   `json:"logprobs"`
}

// Object types.
const (
	ObjectChatCompletion = "chat.completion"
	ObjectChatChunk      = "chat.completion.chunk"
	ObjectTextCompletion = "text_completion"
	ObjectList           = "list"
	ObjectModel          = "model"
)

// ChatResponse is a chat completion.
type ChatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []ChatChoice `json:"choices"`
	Usage   *Usage       `json:"usage,omitempty"`
}

// ChatDelta is the part of a message a stream chunk adds.
type ChatDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

// ChatChunkChoice is one choice of a stream chunk; FinishReason is null
// until the last chunk.
type ChatChunkChoice struct {
	Index        int       `json:"index"`
	Delta        ChatDelta `json:"delta"`
	FinishReason *string   `json:"finish_reason"`
	Logprobs     *Logprobs `json:"logprobs"`
}

// ChatChunk is one server-sent event of a streamed chat completion.
type ChatChunk struct {
	ID      string            `json:"id"`
	Object  string            `json:"object"`
	Created int64             `json:"created"`
	Model   string            `json:"model"`
	Choices []ChatChunkChoice `json:"choices"`
	Usage   *Usage            `json:"usage,omitempty"`
}

// CompletionRequest is POST /v1/completions.
type CompletionRequest struct {
	Model       string     `json:"model"`
	Prompt      StringList `json:"prompt"`
	Temperature *float64   `json:"temperature,omitempty"`
	MaxTokens   int        `json:"max_tokens,omitempty"`
	Stream      bool       `json:"stream,omitempty"`
	Stop        StringList `json:"stop,omitempty"`
	Seed        *int64     `json:"seed,omitempty"`
	N           int        `json:"n,omitempty"`
	// Logprobs, in this API, asks for each token's log-probability and
	// this many most probable tokens at each step (0 for none).
	Logprobs *int `json:"logprobs,omitempty"`
	Echo     bool `json:"echo,omitempty"`
}

// CompletionChoice is one answer of a text completion (or one stream chunk).
type CompletionChoice struct {
	Text         string              `json:"text"`
	Index        int                 `json:"index"`
	Logprobs     *CompletionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
}

// CompletionResponse is a text completion, or one chunk of a stream.
type CompletionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
}

// Model is one entry of GET /v1/models: a program. Loaded, Aliases and
// Spec are paw's extensions.
type Model struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	OwnedBy string   `json:"owned_by"`
	Loaded  bool     `json:"loaded"`
	Aliases []string `json:"aliases,omitempty"`
	Spec    string   `json:"spec,omitempty"`
}

// ModelList is GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// OpenAIError is the error body of the OpenAI-compatible routes.
type OpenAIError struct {
	Error OpenAIErrorDetail `json:"error"`
}

// OpenAIErrorDetail is the error itself; Code is machine-readable.
type OpenAIErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// Package upstream is the client of the hosted-model path: any
// OpenAI-compatible chat endpoint, prompted with a program's spec and an
// input. It answers the baseline that eval scores a program against, and is
// the client the server's fallback and shadow routing use. Answers can be
// cached on disk, keyed by endpoint, model and prompt, so a rerun sends
// nothing.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/retry"
)

// Defaults for zero Client fields.
const (
	DefaultRetries       = 3
	DefaultRetryDelay    = 500 * time.Millisecond
	DefaultMaxRetryDelay = 30 * time.Second
	// MaxResponse caps a response body.
	MaxResponse = 16 << 20
)

// Sentinel errors.
var (
	ErrConfig    = errors.New("upstream: client needs a BaseURL and a Model")
	ErrNoChoices = errors.New("upstream: response has no choices")
)

// Client calls an OpenAI-compatible chat endpoint. BaseURL and Model are
// required; the other fields' zero values work. It is safe for concurrent
// use.
type Client struct {
	// BaseURL is the API root; requests go to {BaseURL}/chat/completions
	// (e.g. "http://localhost:8080/v1").
	BaseURL string
	Model   string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// HTTPClient makes the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// CacheDir, when set, holds answers keyed by sha256 of the endpoint,
	// model and prompt messages, so the same prompt is sent only once.
	CacheDir string
	// MaxTokens, when > 0, bounds the answer's length.
	MaxTokens int
	// Retries is how many times a 429, a 5xx or a connection failure is
	// retried: 0 means DefaultRetries, negative means none.
	Retries int
	// RetryDelay is the first backoff (DefaultRetryDelay), doubling with
	// jitter; a Retry-After header overrides it.
	RetryDelay time.Duration
	// MaxRetryDelay caps each wait (DefaultMaxRetryDelay); a server asking
	// for longer gets its error returned instead.
	MaxRetryDelay time.Duration
}

// Completion is one answer.
type Completion struct {
	Text string
	// Latency is the request's wall time, retries included; for a cached
	// answer, that of the request that fetched it.
	Latency          time.Duration
	PromptTokens     int
	CompletionTokens int
	Cached           bool
}

// Complete asks the model, at temperature 0, to answer input under the
// system prompt (a program's spec; none when empty). Errors from the server
// are *api.Error (status, message), matching api.ErrRateLimited and the
// other status sentinels.
func (c *Client) Complete(ctx context.Context, system, input string) (Completion, error) {
	if c.BaseURL == "" || c.Model == "" {
		return Completion{}, ErrConfig
	}
	req := c.request(system, input)
	key := c.cacheKey(req)
	if comp, ok := c.cached(key); ok {
		return comp, nil
	}
	start := time.Now()
	comp, err := c.post(ctx, req)
	if err != nil {
		return Completion{}, fmt.Errorf("upstream: %s: %w", c.endpoint(), err)
	}
	comp.Latency = time.Since(start)
	c.store(key, comp)
	return comp, nil
}

// request is the chat request for input under the system prompt, at
// temperature 0 (sent explicitly: servers default to 1).
func (c *Client) request(system, input string) api.ChatRequest {
	zero := 0.0
	req := api.ChatRequest{Model: c.Model, MaxTokens: c.MaxTokens, Temperature: &zero}
	if system != "" {
		req.Messages = append(req.Messages, api.ChatMessage{Role: "system", Content: api.ChatContent(system)})
	}
	req.Messages = append(req.Messages, api.ChatMessage{Role: "user", Content: api.ChatContent(input)})
	return req
}

func (c *Client) endpoint() string {
	return strings.TrimRight(c.BaseURL, "/") + "/chat/completions"
}

// post sends req, retrying temporary failures.
func (c *Client) post(ctx context.Context, req api.ChatRequest) (Completion, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Completion{}, err
	}
	retries := c.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	for attempt := 1; ; attempt++ {
		comp, err := c.postOnce(ctx, body)
		if err == nil || attempt > retries || ctx.Err() != nil {
			return comp, err
		}
		var ae *api.Error
		retryAfter := time.Duration(0)
		switch {
		case errors.As(err, &ae) && ae.Temporary():
			retryAfter = ae.RetryAfter
		case errors.As(err, &ae) || !retry.TransientNetError(err):
			return comp, err
		}
		wait, ok := retry.Backoff(attempt, retryAfter, orDefault(c.RetryDelay, DefaultRetryDelay), orDefault(c.MaxRetryDelay, DefaultMaxRetryDelay))
		if !ok {
			return comp, err
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return comp, err
		}
	}
}

func (c *Client) postOnce(ctx context.Context, body []byte) (Completion, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(), bytes.NewReader(body))
	if err != nil {
		return Completion{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return Completion{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return Completion{}, err
	}
	if resp.StatusCode/100 != 2 {
		return Completion{}, parseError(resp, b)
	}
	var cr api.ChatResponse
	if err := json.Unmarshal(b, &cr); err != nil {
		return Completion{}, fmt.Errorf("%w: decode response: %w", api.ErrUnexpected, err)
	}
	if len(cr.Choices) == 0 {
		return Completion{}, ErrNoChoices
	}
	comp := Completion{Text: string(cr.Choices[0].Message.Content)}
	if u := cr.Usage; u != nil {
		comp.PromptTokens, comp.CompletionTokens = u.PromptTokens, u.CompletionTokens
	}
	return comp, nil
}

// parseError reads an OpenAI error body, {"error": {"message", "type",
// "code"}}, or any other shape api.ParseError knows.
func parseError(resp *http.Response, body []byte) *api.Error {
	var oe struct { // api.OpenAIError, with a code that may be a number
		Error struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &oe) != nil || oe.Error.Message == "" {
		return api.ParseError(resp.StatusCode, resp.Header, body)
	}
	e := &api.Error{Status: resp.StatusCode, Message: oe.Error.Message, Code: oe.Error.Type,
		RetryAfter: api.RetryAfter(resp.Header, time.Now()), RequestID: resp.Header.Get("X-Request-ID")}
	var code string
	if json.Unmarshal(oe.Error.Code, &code) == nil && code != "" {
		e.Code = code
	}
	return e
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

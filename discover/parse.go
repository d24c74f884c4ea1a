package discover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Call is one logged call to a hosted chat model.
type Call struct {
	Model string
	// System is the system message, with any conversation turns before the
	// last user message (fixed few-shot turns belong to the template).
	System string
	User   string // the last user message, or the completion prompt
	Output string // the answer (a tool call's arguments when it has no text)
	Time   time.Time
	// PromptTokens and CompletionTokens are the logged usage; 0 when absent.
	PromptTokens, CompletionTokens int
}

// Format is a log's line format.
type Format string

// Formats. FormatAuto tells each file's format from its first valid line.
const (
	FormatAuto Format = ""
	// FormatOpenAI: {"request": chat-completions request, "response": its
	// response, "timestamp": optional RFC 3339 or Unix seconds}.
	FormatOpenAI Format = "openai"
	// FormatBatchInput and FormatBatchOutput are the Batch API's files,
	// joined by custom_id.
	FormatBatchInput  Format = "batch-input"
	FormatBatchOutput Format = "batch-output"
	// FormatGeneric is any JSONL whose fields Fields names.
	FormatGeneric Format = "generic"
)

// Fields names the fields of a generic JSONL log; a name may be a dotted
// path into nested objects ("response.text"). Empty names take the
// defaults; the first default present is used.
type Fields struct {
	Messages string // chat messages [{role, content}] (default "messages")
	Prompt   string // a plain prompt, when there are no messages (default "prompt")
	System   string // a system message beside a prompt (default "system")
	Output   string // the answer (default "output", then "completion", "response")
	Model    string // default "model"
	Time     string // default "timestamp", then "time", "created_at", "created"
}

func pick(name string, defaults ...string) []string {
	if name != "" {
		return []string{name}
	}
	return defaults
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatRequest struct {
	Model    string          `json:"model"`
	Messages []chatMessage   `json:"messages"`
	Prompt   json.RawMessage `json:"prompt"` // the legacy completions endpoint
}

type chatResponse struct {
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   json.RawMessage `json:"content"`
			ToolCalls []struct {
				Function struct {
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		Text string `json:"text"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// ParseOpenAI parses a FormatOpenAI line.
func ParseOpenAI(line []byte) (Call, error) {
	var v struct {
		Request   *chatRequest    `json:"request"`
		Response  *chatResponse   `json:"response"`
		Timestamp json.RawMessage `json:"timestamp"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return Call{}, jsonError(err)
	}
	if v.Request == nil || v.Response == nil {
		return Call{}, errors.New(`want "request" and "response" objects`)
	}
	c, err := requestCall(v.Request)
	if err != nil {
		return Call{}, err
	}
	if err := c.answer(v.Response); err != nil {
		return Call{}, err
	}
	if len(v.Timestamp) > 0 && string(v.Timestamp) != "null" {
		if c.Time, err = parseTime(v.Timestamp); err != nil {
			return Call{}, err
		}
	}
	return c, nil
}

// requestCall is the call a chat-completions request makes.
func requestCall(r *chatRequest) (Call, error) {
	c := Call{Model: r.Model}
	var err error
	if len(r.Messages) > 0 {
		c.System, c.User, err = splitMessages(r.Messages)
	} else if len(r.Prompt) > 0 {
		c.User, err = contentText(r.Prompt)
	} else {
		err = errors.New("request has no messages")
	}
	return c, err
}

// answer fills c's output, usage and (when it has none) time from resp.
func (c *Call) answer(resp *chatResponse) error {
	if len(resp.Choices) == 0 {
		return errors.New("response has no choices")
	}
	ch := resp.Choices[0]
	out, err := contentText(ch.Message.Content)
	if err != nil {
		return err
	}
	if out == "" && len(ch.Message.ToolCalls) > 0 {
		out = ch.Message.ToolCalls[0].Function.Arguments
	}
	if out == "" {
		out = ch.Text
	}
	c.Output = out
	c.PromptTokens, c.CompletionTokens = resp.Usage.PromptTokens, resp.Usage.CompletionTokens
	if c.Model == "" {
		c.Model = resp.Model
	}
	if c.Time.IsZero() && resp.Created > 0 {
		c.Time = time.Unix(resp.Created, 0).UTC()
	}
	return nil
}

// splitMessages returns the context before the last user message (a lone
// system message as it is, else each turn as "role: content") and that
// message.
func splitMessages(msgs []chatMessage) (system, user string, err error) {
	last := -1
	for i, m := range msgs {
		if m.Role == "user" {
			last = i
		}
	}
	if last < 0 {
		return "", "", errors.New("no user message")
	}
	if user, err = contentText(msgs[last].Content); err != nil {
		return "", "", err
	}
	var parts []string
	for _, m := range msgs[:last] {
		text, err := contentText(m.Content)
		if err != nil {
			return "", "", err
		}
		parts = append(parts, m.Role+": "+text)
	}
	if last == 1 && (msgs[0].Role == "system" || msgs[0].Role == "developer") {
		system, _ = contentText(msgs[0].Content)
		return system, user, nil
	}
	return strings.Join(parts, "\n\n"), user, nil
}

// contentText is a message content's text: a string, or the text parts of
// an array of parts; null is "".
func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("content: want a string or an array of parts: %w", err)
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" || p.Type == "input_text" || p.Type == "output_text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

// parseTime reads a timestamp: RFC 3339 (or "2006-01-02 15:04:05"), or
// Unix seconds (milliseconds when above 1e12) as a number or a string.
func parseTime(raw json.RawMessage) (time.Time, error) {
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f > 1e12 {
			f /= 1000
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %.40q: want RFC 3339 or Unix seconds", s)
}

// ParseBatchInput parses a line of a Batch API input file: its custom_id
// and the call without an answer.
func ParseBatchInput(line []byte) (string, Call, error) {
	var v struct {
		CustomID string       `json:"custom_id"`
		Body     *chatRequest `json:"body"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return "", Call{}, jsonError(err)
	}
	if v.CustomID == "" || v.Body == nil {
		return "", Call{}, errors.New(`want "custom_id" and "body"`)
	}
	c, err := requestCall(v.Body)
	return v.CustomID, c, err
}

// ParseBatchOutput parses a line of a Batch API output file: its custom_id
// and the answer (a call with only the answer's fields set).
func ParseBatchOutput(line []byte) (string, Call, error) {
	var v struct {
		CustomID string `json:"custom_id"`
		Response *struct {
			StatusCode int           `json:"status_code"`
			Body       *chatResponse `json:"body"`
		} `json:"response"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return "", Call{}, jsonError(err)
	}
	if v.CustomID == "" || v.Response == nil || v.Response.Body == nil {
		return "", Call{}, errors.New(`want "custom_id" and "response.body"`)
	}
	if v.Response.StatusCode != 0 && v.Response.StatusCode != 200 {
		return "", Call{}, fmt.Errorf("request failed with status %d", v.Response.StatusCode)
	}
	var c Call
	err := c.answer(v.Response.Body)
	return v.CustomID, c, err
}

// Parse parses a generic JSONL line with the fields f names.
func (f Fields) Parse(line []byte) (Call, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return Call{}, jsonError(err)
	}
	get := func(names []string) json.RawMessage {
		for _, n := range names {
			if v := lookup(top, n); len(v) > 0 && string(v) != "null" {
				return v
			}
		}
		return nil
	}
	var c Call
	if raw := get(pick(f.Messages, "messages")); raw != nil {
		var msgs []chatMessage
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return Call{}, fmt.Errorf("messages: %w", err)
		}
		var err error
		if c.System, c.User, err = splitMessages(msgs); err != nil {
			return Call{}, err
		}
	} else if raw := get(pick(f.Prompt, "prompt")); raw != nil {
		var err error
		if c.User, err = contentText(raw); err != nil {
			return Call{}, fmt.Errorf("prompt: %w", err)
		}
		if raw := get(pick(f.System, "system")); raw != nil {
			if c.System, err = contentText(raw); err != nil {
				return Call{}, fmt.Errorf("system: %w", err)
			}
		}
	} else {
		return Call{}, errors.New("no messages or prompt field")
	}
	raw := get(pick(f.Output, "output", "completion", "response"))
	if raw == nil {
		return Call{}, errors.New("no output field")
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &c.Output); err != nil {
			return Call{}, fmt.Errorf("output: %w", err)
		}
	} else {
		// A structured answer: its compact JSON text.
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return Call{}, fmt.Errorf("output: %w", err)
		}
		c.Output = b.String()
	}
	if raw := get(pick(f.Model, "model")); raw != nil {
		if err := json.Unmarshal(raw, &c.Model); err != nil {
			return Call{}, fmt.Errorf("model: %w", err)
		}
	}
	if raw := get(pick(f.Time, "timestamp", "time", "created_at", "created")); raw != nil {
		var err error
		if c.Time, err = parseTime(raw); err != nil {
			return Call{}, err
		}
	}
	return c, nil
}

// jsonError says what a line's JSON lacks without naming Go types.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("a JSON %s, not a JSON object", te.Value)
		}
		return fmt.Errorf("field %s: a JSON %s, not %s", te.Field, te.Value, te.Type.Kind())
	}
	return err
}

// lookup follows a dotted path through nested objects.
func lookup(top map[string]json.RawMessage, path string) json.RawMessage {
	v, ok := top[path]
	if ok {
		return v
	}
	head, rest, found := strings.Cut(path, ".")
	if !found {
		return nil
	}
	var sub map[string]json.RawMessage
	if json.Unmarshal(top[head], &sub) != nil {
		return nil
	}
	return lookup(sub, rest)
}

// detect tells a line's format from its keys.
func detect(line []byte) (Format, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(line, &top) != nil {
		return "", false
	}
	_, id := top["custom_id"]
	_, body := top["body"]
	_, req := top["request"]
	_, resp := top["response"]
	switch {
	case id && body:
		return FormatBatchInput, true
	case id && resp:
		return FormatBatchOutput, true
	case req && resp:
		return FormatOpenAI, true
	}
	return FormatGeneric, true
}

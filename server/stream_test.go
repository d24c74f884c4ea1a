package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
)

// postStream sends a streamed request and returns the response, whose body
// the caller reads event by event.
func (f *fix) postStream(t *testing.T, ctx context.Context, path string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", f.ts.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get(api.HeaderPath) != api.PathLocal {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	return resp
}

// nextEvent reads one event's data, checking the framing.
func nextEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read event: %v", err)
	}
	data, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "data: ")
	if blank, _ := r.ReadString('\n'); !ok || blank != "\n" {
		t.Fatalf("event %q not framed as data: line + blank line", line)
	}
	return data
}

// TestChatStreamTokens: a free-text function streams a chunk per token
// while it generates: the first content chunk arrives before the call's
// later decodes, the contents add up to the non-streamed answer, each
// chunk carries its token's logprobs (equal to the non-streamed ones), and
// the last chunk has the finish reason, usage and summary, then [DONE].
func TestChatStreamTokens(t *testing.T) {
	f := newFix(t, Config{}, nil)
	const maxTokens = 300
	req := chatReq("alice/notes", "hello there")
	req.MaxTokens, req.Logprobs, req.TopLogprobs = maxTokens, true, 2
	resp, body := f.do(t, "POST", "/v1/chat/completions", req)
	wantStatus(t, resp, body, 200)
	var want api.ChatResponse
	mustJSON(t, body, &want)
	wantText := string(want.Choices[0].Message.Content)
	wantLP := want.Choices[0].Logprobs
	if wantLP == nil || len(wantLP.Content) != want.Usage.CompletionTokens || len(wantLP.Content[0].TopLogprobs) != 2 {
		t.Fatalf("logprobs %+v for %d tokens", wantLP, want.Usage.CompletionTokens)
	}
	sum := 0.0
	for _, c := range wantLP.Content {
		sum += c.Logprob
	}
	if math.Abs(sum/float64(len(wantLP.Content))-wantLP.LogprobMean) > 1e-9 {
		t.Errorf("token logprobs mean %v, summary %v", sum/float64(len(wantLP.Content)), wantLP.LogprobMean)
	}

	req.Stream = true
	rd := bufio.NewReader(f.postStream(t, context.Background(), "/v1/chat/completions", req).Body)
	var text strings.Builder
	var lps []api.TokenLogprob
	contents := map[string]bool{}
	decodesAtFirst := -1
	var last api.ChatChunk
	for i := 0; ; i++ {
		ev := nextEvent(t, rd)
		if ev == "[DONE]" {
			break
		}
		var c api.ChatChunk
		mustJSON(t, []byte(ev), &c)
		d := c.Choices[0]
		if (i == 0) != (d.Delta.Role == "assistant") || c.Object != api.ObjectChatChunk {
			t.Errorf("chunk %d: %s", i, ev)
		}
		if d.Delta.Content != "" {
			if decodesAtFirst < 0 {
				decodesAtFirst = f.eng.Stats().Decodes
			}
			contents[d.Delta.Content] = true
		}
		text.WriteString(d.Delta.Content)
		if d.Logprobs != nil {
			lps = append(lps, d.Logprobs.Content...)
		}
		last = c
	}
	if got := text.String(); got != wantText {
		t.Errorf("streamed %q, want %q", got, wantText)
	}
	if len(contents) < 2 {
		t.Errorf("%d distinct content chunks, want at least 2", len(contents))
	}
	if end := f.eng.Stats().Decodes; decodesAtFirst < 0 || end-decodesAtFirst < 10 {
		t.Errorf("first content at decode %d of %d: not streamed while generating", decodesAtFirst, end)
	}
	fin := last.Choices[0]
	if fin.FinishReason == nil || *fin.FinishReason != want.Choices[0].FinishReason || last.Usage == nil ||
		*last.Usage != *want.Usage || fin.Logprobs == nil || fin.Logprobs.LogprobMin != wantLP.LogprobMin {
		t.Errorf("last chunk %+v, want finish %s, usage %+v", last, want.Choices[0].FinishReason, want.Usage)
	}
	if diff := cmp.Diff(wantLP.Content, lps, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("streamed logprobs differ (-answer +stream):\n%s", diff)
	}
}

// TestCompletionStreamTokens: /v1/completions streams the same way, with
// the legacy logprobs shape.
func TestCompletionStreamTokens(t *testing.T) {
	f := newFix(t, Config{}, nil)
	want := f.serial(t, "alice/notes", "hello there", paw.WithMaxTokens(100), paw.WithLogprobs(1))
	rd := bufio.NewReader(f.postStream(t, context.Background(), "/v1/completions",
		map[string]any{"model": "alice/notes", "prompt": "hello there", "max_tokens": 100, "stream": true, "logprobs": 1}).Body)
	var text strings.Builder
	var toks []string
	n, offset := 0, 0
	for ev := nextEvent(t, rd); ev != "[DONE]"; ev = nextEvent(t, rd) {
		var c api.CompletionResponse
		mustJSON(t, []byte(ev), &c)
		text.WriteString(c.Choices[0].Text)
		if lp := c.Choices[0].Logprobs; lp != nil {
			toks = append(toks, lp.Tokens...)
			for i, off := range lp.TextOffset {
				if len(lp.TopLogprobs[i]) != 1 || off < offset {
					t.Errorf("chunk %s: offset or top logprobs wrong", ev)
				}
				offset = off + 1
			}
		}
		n++
	}
	if text.String() != want.Output || len(toks) != want.Tokens || n < 3 {
		t.Errorf("streamed %q in %d chunks (%d tokens), want %q (%d tokens)", text.String(), n, len(toks), want.Output, want.Tokens)
	}
}

// TestStreamDisconnect: a client leaving mid-stream cancels its call: the
// engine stops decoding for it and its queue place is freed.
func TestStreamDisconnect(t *testing.T) {
	f := newFix(t, Config{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req := chatReq("alice/notes", "go on")
	req.MaxTokens, req.Stream = 900, true
	rd := bufio.NewReader(f.postStream(t, ctx, "/v1/chat/completions", req).Body)
	nextEvent(t, rd) // the role
	nextEvent(t, rd) // a first token
	cancel()
	// Decoding stops: the count settles well before 900 tokens' worth.
	prev := -1
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		n := f.eng.Stats().Decodes
		if n == prev {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the engine kept decoding after the client left")
		}
		prev = n
	}
	if prev > 600 {
		t.Errorf("%d decodes: the call ran on after its client left", prev)
	}
	for start := time.Now(); f.srv.queue.len() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the queue place was not freed")
		}
	}
}

// TestStreamContract: a labels function streams its answer as one chunk,
// with every token's logprobs in the last.
func TestStreamContract(t *testing.T) {
	f := newFix(t, Config{}, nil)
	req := chatReq("alice/triage", "I was charged twice")
	req.Stream, req.Logprobs = true, true
	rd := bufio.NewReader(f.postStream(t, context.Background(), "/v1/chat/completions", req).Body)
	var events []api.ChatChunk
	for ev := nextEvent(t, rd); ev != "[DONE]"; ev = nextEvent(t, rd) {
		var c api.ChatChunk
		mustJSON(t, []byte(ev), &c)
		events = append(events, c)
	}
	if len(events) != 3 || !slices.Contains(triageLabels, events[1].Choices[0].Delta.Content) {
		t.Fatalf("events %+v: want the role, the label, the end", events)
	}
	last := events[2]
	if lp := last.Choices[0].Logprobs; lp == nil || len(lp.Content) != last.Usage.CompletionTokens || len(lp.Probs) != 2 {
		t.Errorf("last chunk %+v", last)
	}
}

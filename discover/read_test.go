package discover

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseOpenAI(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       Call
	}{
		{"string content", `{"request": {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
			"response": {"created": 1767225600, "choices": [{"message": {"content": "Hello"}}], "usage": {"prompt_tokens": 9, "completion_tokens": 1}}}`,
			Call{Model: "gpt-4o-mini", System: "Be brief.", User: "Hi", Output: "Hello", Time: time.Unix(1767225600, 0).UTC(), PromptTokens: 9, CompletionTokens: 1}},
		{"parts, few-shot turns, tool call, RFC 3339 timestamp", `{"timestamp": "2026-01-02T03:04:05Z", "request": {"model": "m", "messages": [
			{"role": "system", "content": [{"type": "text", "text": "S"}]}, {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
			{"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "2"}]}]},
			"response": {"model": "m-2024", "choices": [{"message": {"content": null, "tool_calls": [{"function": {"arguments": "{\"x\":1}"}}]}}]}}`,
			Call{Model: "m", System: "system: S\n\nuser: q1\n\nassistant: a1", User: "q2", Output: `{"x":1}`, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{"legacy completion, model from the response, ms timestamp", `{"timestamp": 1767225600500, "request": {"prompt": "Say hi"}, "response": {"model": "davinci", "choices": [{"text": " hi"}]}}`,
			Call{Model: "davinci", User: "Say hi", Output: " hi", Time: time.UnixMilli(1767225600500).UTC()}},
	} {
		got, err := ParseOpenAI([]byte(c.line))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	for _, bad := range []string{`{}`, `{"request": {"messages": []}, "response": {"choices": [{}]}}`,
		`{"request": {"messages": [{"role": "system", "content": "x"}]}, "response": {"choices": [{}]}}`,
		`{"request": {"messages": [{"role": "user", "content": "x"}]}, "response": {"choices": []}}`,
		`{"request": {"messages": [{"role": "user", "content": 3}]}, "response": {"choices": [{}]}}`,
		`{"timestamp": "yesterday", "request": {"messages": [{"role": "user", "content": "x"}]}, "response": {"choices": [{}]}}`} {
		if _, err := ParseOpenAI([]byte(bad)); err == nil {
			t.Errorf("ParseOpenAI(%s) succeeded", bad)
		}
	}
}

func TestParseGeneric(t *testing.T) {
	f := Fields{Prompt: "req.text", Output: "res.label", Model: "meta.model", Time: "at"}
	got, err := f.Parse([]byte(`{"req": {"text": "Is it spam?"}, "res": {"label": "spam"}, "meta": {"model": "x"}, "at": "2026-01-01 10:00:00", "system": "S"}`))
	want := Call{Model: "x", System: "S", User: "Is it spam?", Output: "spam", Time: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("named fields: %+v, %v", got, err)
	}
	got, err = Fields{}.Parse([]byte(`{"messages": [{"role": "user", "content": "q"}], "completion": {"a": [1, 2]}, "created": 1767225600}`))
	if err != nil || got.User != "q" || got.Output != `{"a":[1,2]}` || got.Time.Unix() != 1767225600 {
		t.Errorf("defaults: %+v, %v", got, err)
	}
	for _, bad := range []string{`{"output": "x"}`, `{"prompt": "x"}`, `{"prompt": "x", "output": "y", "model": 3}`, `[]`} {
		if _, err := (Fields{}).Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
}

// TestBatchJoin reads a Batch API pair given input first: answers join by
// custom_id, an input without an output and a failed request are counted.
func TestBatchJoin(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "batch_input.jsonl")
	out := filepath.Join(dir, "batch_output.jsonl")
	req := func(id, text string) string {
		return `{"custom_id": "` + id + `", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "` + text + `"}]}}` + "\n"
	}
	resp := func(id, answer string, status int) string {
		return `{"id": "batch_req_` + id + `", "custom_id": "` + id + `", "response": {"status_code": ` + map[bool]string{true: "200", false: "500"}[status == 200] +
			`, "body": {"created": 1767225600, "model": "gpt-4o-mini-2024", "choices": [{"message": {"content": "` + answer + `"}}]}}, "error": null}` + "\n"
	}
	os.WriteFile(in, []byte(req("a", "one")+req("b", "two")+req("c", "three")+req("d", "four")), 0o644)
	os.WriteFile(out, []byte(resp("b", "2", 200)+resp("a", "1", 200)+resp("d", "4", 500)), 0o644)
	d := New(Options{})
	if err := d.ReadFiles(context.Background(), []string{in, out}); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st.Calls != 2 || st.Unanswered != 2 || st.Malformed != 1 || st.Errors[0].File != out || st.Errors[0].Line != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestReadLines: blank lines skipped, a line over MaxLineBytes reported by
// number and skipped, gzip detected by its magic bytes whatever the name.
func TestReadLines(t *testing.T) {
	good := `{"prompt": "p", "output": "o"}`
	var log bytes.Buffer
	log.WriteString(good + "\n\n" + "{" + strings.Repeat("x", MaxLineBytes) + "\n" + good + "\nnot json\n" + good)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(log.Bytes())
	zw.Close()
	path := filepath.Join(t.TempDir(), "log.txt")
	os.WriteFile(path, z.Bytes(), 0o644)
	d := New(Options{Format: FormatGeneric})
	if err := d.ReadFiles(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	var lines []int
	for _, e := range st.Errors {
		lines = append(lines, e.Line)
		if !errors.Is(e, ErrFormat) {
			t.Errorf("%v is not ErrFormat", e)
		}
	}
	if st.Calls != 3 || st.Malformed != 2 || !cmp.Equal(lines, []int{3, 5}) || !strings.Contains(st.Errors[0].Error(), "longer than") {
		t.Errorf("stats %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	many := strings.Repeat(good+"\n", 10000)
	if err := New(Options{}).Read(ctx, strings.NewReader(many), "x", FormatGeneric); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled read: %v", err)
	}
}

// FuzzParseLine: no line makes a parser panic, and what parses mines.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"request": {"model": "m", "messages": [{"role": "user", "content": "Review: good"}]}, "response": {"created": 1, "choices": [{"message": {"content": "pos"}}]}}`,
		`{"custom_id": "a", "body": {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}}`,
		`{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "y"}}]}}}`,
		`{"prompt": "p", "output": {"k": [1]}, "timestamp": "2026-01-01T00:00:00Z"}`,
		`{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "completion": "c", "time": 17e8}`,
		`not json`, `{"timestamp": 1e300}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		d := New(Options{})
		if c, err := ParseOpenAI(line); err == nil {
			d.Add(c)
			d.Add(c)
		}
		ParseBatchInput(line)
		ParseBatchOutput(line)
		if c, err := (Fields{}).Parse(line); err == nil {
			d.Add(c)
		}
		detect(line)
		d.Report(RankOptions{MinCalls: 1})
	})
}

// FuzzTemplate: a template induced from two messages matches both and
// gives back each exactly from its slot values; generalized to a third it
// still matches all three.
func FuzzTemplate(f *testing.F) {
	f.Add("Classify: good product\nAnswer:", "Classify: bad one\nAnswer:", "Sort this: meh\nAnswer:")
	f.Add("Customer: Ann\nSubject: refund\nText: hi", "Customer: Bob\nSubject: login\nText: help me", "Customer: Cy\nText: x")
	f.Add("same text here", "same text here", "same text there")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var al aligner
		check := func(tm template, texts ...string) {
			for _, s := range texts {
				values := tm.values(s)
				if values == nil {
					t.Fatalf("template %q does not match %q", tm.segs, s)
				}
				var r strings.Builder
				for i, seg := range tm.segs {
					if i > 0 {
						r.WriteString(values[i-1])
					}
					r.WriteString(seg)
				}
				if r.String() != s {
					t.Fatalf("template %q: %q gives back %q", tm.segs, s, r.String())
				}
			}
		}
		tm, ok := al.induce(tokenize(a), tokenize(b))
		if !ok {
			return
		}
		check(tm, a, b)
		toks, seg := tm.tokens()
		if g, ok := al.generalize(&tm, toks, seg, tokenize(c)); ok {
			check(g, a, b, c)
		}
	})
}

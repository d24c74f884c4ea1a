package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

func TestOpenCases(t *testing.T) {
	got, err := OpenCases("testdata/cases.jsonl", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{Input: "Find the latest report", Expected: "search", HasExpected: true, Tags: []string{"intent"}, Source: "testdata/cases.jsonl:1"},
		{Input: "Make a new folder", Expected: "create", HasExpected: true, Source: "testdata/cases.jsonl:2"},
		{Input: "{name: 'Alice',}", Expected: `{"name":"Alice"}`, HasExpected: true, ExpectedJSON: true,
			Tags: []string{"json", "repair"}, Source: "testdata/cases.jsonl:4"},
		{Input: "no expected answer", Source: "testdata/cases.jsonl:5"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cases (-want +got):\n%s", diff)
	}
}

func TestReadCasesErrors(t *testing.T) {
	tests := []struct {
		name, text string
		cols       Columns
		line       int
		is         error
		mention    string
	}{
		{"malformed", "{\"input\": \"a\"}\n{\"input\": \"b\",\n", Columns{}, 2, nil, "malformed JSON"},
		{"no input", "{\"input\": \"a\"}\n\n{\"expected\": \"b\", \"id\": 3}\n", Columns{}, 3, ErrNoInput, `"input" is missing or null (fields: expected, id)`},
		{"null input", `{"input": null}`, Columns{}, 1, ErrNoInput, `"input" is missing or null (fields: input)`},
		{"input not a string", `{"input": 42}`, Columns{}, 1, ErrBadType, `"input" must be a string`},
		{"tags not strings", `{"input": "a", "tags": [1]}`, Columns{}, 1, ErrBadType, `"tags"`},
		{"not an object", `["input", "a"]`, Columns{}, 1, ErrBadType, "object"},
		{"named column missing", `{"question": "a", "answer": "b"}`, Columns{Input: "question", Expected: "output"}, 1, ErrNoColumn, `"output" (fields: answer, question)`},
		{"spec not a string", `{"input": "a", "spec": {}}`, Columns{}, 1, ErrBadType, `"spec"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCases(strings.NewReader(tt.text), "set.jsonl", tt.cols)
			var ce *CaseError
			if !errors.As(err, &ce) || ce.File != "set.jsonl" || ce.Line != tt.line {
				t.Fatalf("error %v, want a *CaseError at set.jsonl:%d", err, tt.line)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "set.jsonl:") || !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q: want set.jsonl:%d and %q", msg, tt.line, tt.mention)
			}
		})
	}
	if _, err := ReadCases(strings.NewReader("\n \n"), "empty.jsonl", Columns{}); !errors.Is(err, ErrNoCases) {
		t.Errorf("empty file: %v, want ErrNoCases", err)
	}
}

// TestColumns reads FuzzyBench-style JSONL rows through column names.
func TestColumns(t *testing.T) {
	text := `{"prompt": "2+2", "output": 4, "task": "add the numbers", "extra": true}` + "\n"
	got, err := ReadCases(strings.NewReader(text), "fb.jsonl", Columns{Input: "prompt", Expected: "output", Spec: "task"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{{Input: "2+2", Expected: "4", HasExpected: true, ExpectedJSON: true, Spec: "add the numbers", Source: "fb.jsonl:1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cases (-want +got):\n%s", diff)
	}
}

type benchRow struct {
	Question string   `parquet:"question"`
	Answer   string   `parquet:"answer"`
	Task     string   `parquet:"task"`
	Tags     []string `parquet:"tags,list"`
}

func writeParquet[T any](t *testing.T, rows []T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bench.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadParquet(t *testing.T) {
	path := writeParquet(t, []benchRow{
		{Question: "I love it", Answer: "positive", Task: "sentiment", Tags: []string{"short"}},
		{Question: "Meh", Answer: `{"a": 1}`, Task: "sentiment"},
	})
	cols := Columns{Input: "question", Expected: "answer", Spec: "task", Tags: "tags"}
	got, err := OpenCases(path, cols)
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{Input: "I love it", Expected: "positive", HasExpected: true, Spec: "sentiment", Tags: []string{"short"}, Source: path + ":1"},
		// A string column stays a string, even when its text is JSON.
		{Input: "Meh", Expected: `{"a": 1}`, HasExpected: true, Spec: "sentiment", Source: path + ":2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cases (-want +got):\n%s", diff)
	}

	_, err = OpenCases(path, Columns{Input: "prompt"})
	if !errors.Is(err, ErrNoColumn) || !strings.Contains(err.Error(), `"prompt" (columns: question, answer, task, tags)`) {
		t.Errorf("missing column: %v", err)
	}
	// The default input column "input" is required too.
	if _, err := OpenCases(path, Columns{}); !errors.Is(err, ErrNoColumn) || !strings.Contains(err.Error(), `"input"`) {
		t.Errorf("missing default input column: %v", err)
	}
}

func TestReadParquetTypes(t *testing.T) {
	type row struct {
		Input    int64 `parquet:"input"`
		Expected int64 `parquet:"expected"`
	}
	path := writeParquet(t, []row{{Input: 1, Expected: 2}})
	_, err := OpenCases(path, Columns{})
	var ce *CaseError
	if !errors.As(err, &ce) || ce.Line != 1 || !errors.Is(err, ErrBadType) {
		t.Errorf("integer input column: %v, want a *CaseError at row 1 matching ErrBadType", err)
	}
	type scored struct {
		Input    string `parquet:"input"`
		Expected int64  `parquet:"expected"`
	}
	got, err := OpenCases(writeParquet(t, []scored{{Input: "x", Expected: 7}}), Columns{})
	if err != nil || len(got) != 1 || got[0].Expected != "7" || !got[0].ExpectedJSON {
		t.Errorf("integer expected column: %+v, %v; want the JSON value 7", got, err)
	}
}

func TestFromSpec(t *testing.T) {
	text, err := os.ReadFile("testdata/pseudo_program.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromSpec(string(text), "prog.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{Input: "[step 100] loss=0.05 lr=0.0001", Expected: "QUIET", HasExpected: true, Source: "prog.txt:5"},
		{Input: "Traceback (most recent call last):\n  File \"train.py\", line 3", Expected: "ALERT", HasExpected: true, Source: "prog.txt:8"},
		{Input: "Training complete. Final loss: 0.11", Expected: "ALERT", HasExpected: true, Source: "prog.txt:14"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cases (-want +got):\n%s", diff)
	}
	// A spec as users write it, with Input and Output on separate lines
	// and lower-case keys.
	got, err = FromSpec("Classify intent. Return ONLY one of: search, create.\n\ninput: Find it\noutput: search\n", "spec")
	if err != nil || len(got) != 1 || got[0].Input != "Find it" || got[0].Expected != "search" {
		t.Errorf("simple spec: %+v, %v", got, err)
	}
	if _, err := FromSpec("Classify sentiment as positive or negative.", "spec"); !errors.Is(err, ErrNoCases) {
		t.Errorf("spec without examples: %v, want ErrNoCases", err)
	}
}

// TestCaseJSON: a case written into a report reads back the same.
func TestCaseJSON(t *testing.T) {
	cases, err := OpenCases("testdata/cases.jsonl", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	var back []Case
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cases, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func FuzzCases(f *testing.F) {
	seed, err := os.ReadFile("testdata/cases.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"input": "a", "expected": [1, 2.0, {"b": null}], "tags": []}`))
	f.Add([]byte("{\"input\": \"a\"}\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := ReadCases(bytes.NewReader(data), "fuzz.jsonl", Columns{})
		if err != nil {
			var ce *CaseError
			if !errors.Is(err, ErrNoCases) && (!errors.As(err, &ce) || ce.Line < 1) {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, c := range cases {
			if c.ExpectedJSON {
				if j, ok := canonicalJSON(c.Expected); !ok || j != c.Expected {
					t.Fatalf("expected %q is not canonical JSON", c.Expected)
				}
			}
			// Every case survives a trip through a report.
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var back Case
			if err := json.Unmarshal(b, &back); err != nil || !cmp.Equal(c, back) {
				t.Fatalf("round trip of %+v: %+v, %v", c, back, err)
			}
		}
	})
}

func TestBySpec(t *testing.T) {
	cases := []Case{{Input: "1", Spec: "b"}, {Input: "2", Spec: "a"}, {Input: "3", Spec: "b"}, {Input: "4"}}
	want := [][]Case{{cases[0], cases[2]}, {cases[1]}, {cases[3]}}
	if diff := cmp.Diff(want, BySpec(cases)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

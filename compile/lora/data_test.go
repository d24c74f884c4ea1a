package lora_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/compile/lora"
)

// words counts tokens as whitespace-separated words.
func words(s string) int { return len(strings.Fields(s)) }

func TestPseudoWithin(t *testing.T) {
	exs := []lora.Example{{Input: "a b", Output: "c"}, {Input: "d e f", Output: "g"}, {Input: "h", Output: "i"}, {Input: "j", Output: "k"}}
	task := lora.Pseudo("Do it.", nil) // 5 words; each example adds 4 to 6
	for _, tt := range []struct {
		name   string
		budget int
		want   string
		err    error
	}{
		{"task alone fits", 6, task, nil},
		{"one example", 12, lora.Pseudo("Do it.", exs[:1]), nil},
		{"two examples", 18, lora.Pseudo("Do it.", exs[:2]), nil},
		{"at most three", 1000, lora.Pseudo("Do it.", exs[:3]), nil},
		{"over budget", 4, "", lora.ErrBudget},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lora.PseudoWithin("Do it.", exs, tt.budget, words)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("PseudoWithin(budget %d) = %q, %v; want %q, %v", tt.budget, got, err, tt.want, tt.err)
			}
			if err == nil && words(got) > tt.budget {
				t.Errorf("%d words over the budget %d", words(got), tt.budget)
			}
		})
	}
}

func TestWritePseudo(t *testing.T) {
	good := "[PSEUDO_PROGRAM]\nTask: Say yes.\n\nExamples:\nInput: a\nOutput: yes\n[END_PSEUDO_PROGRAM]"
	for _, tt := range []struct {
		name, answer string
		budget       int
		want         string
		err          error
	}{
		{"in prose", "Sure! Here it is:\n" + good + "\nHope it helps.", 100, good, nil},
		{"no markers", "Task: say yes", 100, "", lora.ErrTeacher},
		{"over budget", good, 5, "", lora.ErrBudget},
	} {
		t.Run(tt.name, func(t *testing.T) {
			teacher := lora.TeacherFunc(func(context.Context, string, string) (string, error) { return tt.answer, nil })
			got, err := lora.WritePseudo(context.Background(), teacher, "say yes", nil, tt.budget, words)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("WritePseudo = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseExamples(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       []lora.Example
	}{
		{"json lines", `{"input": "a", "output": "x"}` + "\n" + `{"input": "b", "output": "y"}`,
			[]lora.Example{{"a", "x"}, {"b", "y"}}},
		{"fenced, bulleted, trailing commas, any case", "```json\n- {\"Input\": \"a\", \"Output\": \"x\"},\n2. {\"input\": \"b\", \"output\": 3}\n```",
			[]lora.Example{{"a", "x"}, {"b", "3"}}},
		{"array", `[{"input": "a", "output": {"k": 1}}, {"input": "", "output": "z"}]`, []lora.Example{{"a", `{"k":1}`}}},
		{"input/output pairs", "Input: a\nOutput: x\n\nInput: b\nOutput: y", []lora.Example{{"a", "x"}, {"b", "y"}}},
		{"prose", "I cannot help with that.", nil},
		{"broken json", `{"input": "a", "output": `, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, lora.ParseExamples(tt.text)); diff != "" {
				t.Errorf("ParseExamples (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseExamples(f *testing.F) {
	f.Add(`{"input": "a", "output": "x"}`)
	f.Add("- {\"input\": \"a\", \"output\": [1,2]},\n")
	f.Add(`[{"input": "a", "output": null}]`)
	f.Add("Input: a\nOutput: b\n[END_PSEUDO_PROGRAM]")
	f.Fuzz(func(t *testing.T, text string) {
		for _, ex := range lora.ParseExamples(text) {
			if strings.TrimSpace(ex.Input) == "" || strings.TrimSpace(ex.Output) == "" {
				t.Errorf("empty field in %+v", ex)
			}
		}
	})
}

// TestGenerate: the teacher is asked in rounds, its repeats and the known
// examples are dropped, and generation stops when a round adds nothing.
func TestGenerate(t *testing.T) {
	var prompts []string
	round := 0
	teacher := lora.TeacherFunc(func(_ context.Context, system, user string) (string, error) {
		prompts = append(prompts, user)
		round++
		switch round {
		case 1: // one known input, one repeat, two new
			return `{"input": "known", "output": "x"}` + "\n" + `{"input": "n1", "output": "a"}` + "\n" +
				`{"input": "n1", "output": "b"}` + "\n" + `{"input": "n2", "output": "a"}`, nil
		case 2:
			return `{"input": "n3", "output": "b"}`, nil
		default: // nothing new
			return `{"input": "n2", "output": "a"}`, nil
		}
	})
	got, err := lora.Generate(context.Background(), teacher, "classify", []lora.Example{{"known", "x"}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []lora.Example{{"n1", "a"}, {"n2", "a"}, {"n3", "b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Generate (-want +got):\n%s", diff)
	}
	if len(prompts) != 3 || !strings.Contains(prompts[0], "Function: classify") || !strings.Contains(prompts[0], `"input":"known"`) ||
		!strings.Contains(prompts[0], "Write 10 new examples") || !strings.Contains(prompts[1], "Write 8 new examples") {
		t.Errorf("prompts %q", prompts)
	}
	silent := lora.TeacherFunc(func(context.Context, string, string) (string, error) { return "no", nil })
	if _, err := lora.Generate(context.Background(), silent, "x", nil, 5); !errors.Is(err, lora.ErrTeacher) {
		t.Errorf("unusable teacher: %v", err)
	}
}

// TestGather: the spec's own examples come first, then the file's, then
// the teacher's labels and examples, without repeated inputs.
func TestGather(t *testing.T) {
	spec := "Say the colour.\n\nExamples:\nInput: sky\nOutput: blue\nInput: grass\nOutput: green"
	teacher := lora.TeacherFunc(func(_ context.Context, system, user string) (string, error) {
		if strings.HasPrefix(system, "You are the function") {
			return " red\n", nil // labels "blood"
		}
		return `{"input": "sky", "output": "grey"}` + "\n" + `{"input": "snow", "output": "white"}`, nil
	})
	got, err := lora.Gather(context.Background(), spec, []lora.Example{{"grass", "lime"}, {"sun", "yellow"}}, []string{"blood"}, teacher, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := []lora.Example{{"sky", "blue"}, {"grass", "green"}, {"sun", "yellow"}, {"blood", "red"}, {"snow", "white"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Gather (-want +got):\n%s", diff)
	}
	failing := lora.TeacherFunc(func(context.Context, string, string) (string, error) { return "", errors.New("down") })
	got, err = lora.Gather(context.Background(), spec, nil, nil, failing, 6)
	if err == nil || len(got) != 2 {
		t.Errorf("failing teacher: %v with %d examples, want its error and the spec's 2", err, len(got))
	}
}

// TestSplitNeverTrainsOnHeldOut: no held-out input is trained on, even
// when the data repeats it with another output.
func TestSplitNeverTrainsOnHeldOut(t *testing.T) {
	var exs []lora.Example
	for i := range 50 {
		exs = append(exs, lora.Example{Input: fmt.Sprint("in", i%30), Output: fmt.Sprint("out", i)})
	}
	train, held := lora.Split(exs, 0.25)
	if len(train)+len(held) != 30 || len(held) == 0 {
		t.Fatalf("%d train + %d held out, want 30 distinct inputs", len(train), len(held))
	}
	inTrain := map[string]bool{}
	for _, ex := range train {
		inTrain[ex.Input] = true
	}
	for _, ex := range held {
		if inTrain[ex.Input] {
			t.Errorf("held-out input %q is also trained on", ex.Input)
		}
	}
}

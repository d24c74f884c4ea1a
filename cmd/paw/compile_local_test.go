package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/library"
	"github.com/paw-dev/paw/program"
)

// training reads the training record of the program at path.
func training(t *testing.T, path string) (*program.Program, lora.Training) {
	t.Helper()
	p, err := program.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec lora.Training
	if err := json.Unmarshal(p.Meta.Extra[lora.TrainingKey], &rec); err != nil {
		t.Fatal(err)
	}
	return p, rec
}

func TestCompileLocal(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	cfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	dir := t.TempDir()
	exs := filepath.Join(dir, "ex.jsonl")
	os.WriteFile(exs, []byte(`{"input": "red", "output": "warm"}`+"\n\n"+`{"input": "blue", "output": "cold"}`+"\n"+
		`{"input": "sky", "output": "grey"}`+"\n"), 0o644)
	out := filepath.Join(dir, "colour.paw")
	spec := "Warm or cold colour?\n\nExamples:\nInput: sky\nOutput: cold\nInput: orange\nOutput: warm"
	id, err := runPaw(t, "compile", "--local", "--compiler", lora.CompilerName, "--spec", spec, "--examples", exs, "--model", base,
		"--rank", "32", "--epochs", "1", "--threads", "1", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	p, rec := training(t, out)
	if p.Meta.ProgramID != strings.TrimSpace(id) || p.Meta.CompilerSnapshot != lora.CompilerSnapshot || p.LoRA.Rank != 32 {
		t.Errorf("printed %q; program %+v, rank %d", id, p.Meta, p.LoRA.Rank)
	}
	// The spec's two examples, then the file's new inputs ("sky" is the spec's).
	if rec.Examples != 4 || rec.HeldOut != 0 || !strings.Contains(p.PseudoProgram, "Input: sky\nOutput: cold") {
		t.Errorf("trained on %d examples (%d held out), pseudo-program %q; want the spec's 2 and the file's 2 new", rec.Examples, rec.HeldOut, p.PseudoProgram)
	}
	for _, ext := range []string{".report.json", ".report.svg"} {
		if _, err := os.Stat(filepath.Join(dir, "colour"+ext)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "colour.report.svg"))
	if err := xml.Unmarshal(svg, new(struct{})); err != nil || !strings.Contains(string(svg), "<polyline") {
		t.Errorf("report picture is no SVG with a curve (%v): %.200s", err, svg)
	}

	os.WriteFile(exs, []byte(`{"input": "red"}`+"\n"), 0o644)
	_, err = runPaw(t, "compile", "--local", "--spec", "x", "--examples", exs, "--model", base)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "teacher") {
		t.Errorf("example without output and no teacher: %v", err)
	}
	if _, err := runPaw(t, "compile", "--local", "--spec", "x"); !errors.As(err, &ue) {
		t.Errorf("--local without a base model: %v", err)
	}
	if _, err := runPaw(t, "compile", "--local", "--spec", "x", "--model", base); !errors.As(err, &ue) {
		t.Errorf("--local without examples: %v", err)
	}
	t.Setenv("PAW_OFFLINE", "1")
	if _, err := runPaw(t, "compile", "--local", "--spec", spec, "--interpreter", "qwen3-0.6b-q6_k"); !errors.Is(err, hub.ErrOffline) ||
		!strings.Contains(err.Error(), "--interpreter qwen3-0.6b-q6_k") {
		t.Errorf("--interpreter not cached, offline: %v", err)
	}
}

// fakeTeacher is an OpenAI-compatible endpoint: it answers requests for
// examples with JSON lines (repeats included), and requests for a
// pseudo-program with one.
func fakeTeacher(t *testing.T) (*httptest.Server, *[]api.ChatRequest) {
	var (
		mu   sync.Mutex
		reqs []api.ChatRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.ChatRequest
		if r.URL.Path != "/v1/chat/completions" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		reqs = append(reqs, req)
		n := len(reqs)
		mu.Unlock()
		system := string(req.Messages[0].Content)
		var text string
		switch {
		case strings.Contains(system, "pseudo-programs"):
			text = "[PSEUDO_PROGRAM]\nTask: Say warm for warm colours, else cold.\n\nExamples:\nInput: red\nOutput: warm\n[END_PSEUDO_PROGRAM]"
		default:
			var b strings.Builder
			b.WriteString("```json\n")
			for i := range 8 {
				out := []string{"warm", "cold"}[i%2]
				fmt.Fprintf(&b, `{"input": "colour %d-%d", "output": %q}`+"\n", n, i, out)
				fmt.Fprintf(&b, `{"input": "colour %d-%d", "output": %q}`+"\n", n, i, out) // a repeat
			}
			b.WriteString("```")
			text = b.String()
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"index": 0,
			"message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}}})
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

// TestCompileLocalTeacher: an OpenAI-compatible teacher writes the missing
// examples (repeats dropped) and the pseudo-program.
func TestCompileLocalTeacher(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("TEACHER_KEY", "k")
	srv, reqs := fakeTeacher(t)
	cfg, _ := fixture.Preset("gpt2-tiny")
	base := fixturetest.Cached(t, "gpt2-tiny", cfg)
	out := filepath.Join(t.TempDir(), "t.paw")
	line, err := runPaw(t, "compile", "--local", "--spec", "Warm or cold colour?", "--model", base, "--teacher", srv.URL+"/v1",
		"--teacher-name", "big", "--teacher-key-env", "TEACHER_KEY", "--teacher-examples", "20", "--rank", "32", "--epochs", "1",
		"--threads", "1", "--out", out, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res localOutput
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatal(err)
	}
	p, rec := training(t, out)
	// 20 examples from 3 requests of 8 new ones; 1 in 5 held out.
	if rec.Examples != 16 || rec.HeldOut != 4 || res.Examples != 16 || res.HeldOut != 4 || rec.PseudoBy != "teacher" ||
		!strings.HasPrefix(p.PseudoProgram, "[PSEUDO_PROGRAM]\nTask: Say warm for warm colours") {
		t.Errorf("record %+v, output %+v, pseudo-program %q", rec, res, p.PseudoProgram)
	}
	if len(*reqs) != 4 || (*reqs)[0].Model != "big" || !strings.Contains(string((*reqs)[0].Messages[1].Content), "Write 20 new examples") {
		t.Errorf("%d teacher requests: %+v", len(*reqs), *reqs)
	}
}

// TestCompileLocalTeacherModel: a local GGUF model as the teacher, run by
// paw's engine. stories260K writes stories, not examples: it labels the
// unlabeled inputs (with nonsense), its examples and pseudo-program are
// unusable, and the compile goes on with the rest.
func TestCompileLocalTeacherModel(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "fixtures", "stories260K")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("stories260K fixture not found beside the repository: %v", err)
	}
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	dir := t.TempDir()
	teacher := filepath.Join(dir, "stories260K.gguf")
	if err := fixture.Stories260K(src, teacher); err != nil {
		t.Fatal(err)
	}
	cfg, _ := fixture.Preset("gpt2-tiny")
	base := fixturetest.Cached(t, "gpt2-tiny", cfg)
	exs := filepath.Join(dir, "ex.jsonl")
	os.WriteFile(exs, []byte(`{"input": "red", "output": "warm"}`+"\n"+`{"input": "The cat"}`+"\n"+`{"input": "Lily saw"}`+"\n"), 0o644)
	out := filepath.Join(dir, "t.paw")
	if _, err := runPaw(t, "compile", "--local", "--spec", "Warm or cold colour?", "--model", base, "--examples", exs,
		"--teacher-model", teacher, "--teacher-examples", "5", "--rank", "32", "--epochs", "1", "--threads", "1", "--out", out); err != nil {
		t.Fatal(err)
	}
	_, rec := training(t, out)
	if rec.Examples != 3 || rec.PseudoBy != "assembled" {
		t.Errorf("record %+v: want the labeled example and two labeled by the teacher, the pseudo-program assembled", rec)
	}
}

// TestCompileLocalStories260K is the CLI path of the proof that compiling
// teaches: paw compile --local with its default pseudo-program template on
// the real pretrained stories260K, then paw test on the held-out third,
// through the runtime, with a 90% gate. It failed (0%) while training
// tokenized the whole prompt at once and the runtime tokenizes it in parts.
func TestCompileLocalStories260K(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a minute or two")
	}
	src := filepath.Join("..", "..", "..", "shared", "fixtures", "stories260K")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("stories260K fixture not found beside the repository: %v", err)
	}
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	dir := t.TempDir()
	base := filepath.Join(dir, "stories260K.gguf")
	if err := fixture.Stories260K(src, base); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join("..", "..", "compile", "lora", "testdata", "animal-or-toy.jsonl")
	out := filepath.Join(dir, "animal-or-toy.paw")
	line, err := runPaw(t, "compile", "--local", "--spec", "Is the sentence about an animal or a toy?", "--examples", data,
		"--model", base, "--holdout", "0.33", "--pseudo-budget", "80", "--rank", "8", "--epochs", "4", "--lr", "3e-3",
		"--threads", "1", "--seed", "1", "--out", out, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res localOutput
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatal(err)
	}
	// The held-out third: every third example, as --holdout 0.33 splits.
	b, _ := os.ReadFile(data)
	var cases strings.Builder
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if (i+1)%3 == 0 {
			var ex lora.Example
			json.Unmarshal([]byte(l), &ex)
			fmt.Fprintf(&cases, `{"input": %q, "expected": %q}`+"\n", ex.Input, ex.Output)
		}
	}
	casesPath := filepath.Join(dir, "held.jsonl")
	os.WriteFile(casesPath, []byte(cases.String()), 0o644)
	tested, err := runPaw(t, "test", out, "--model", base, "--cases", casesPath, "--json", "--min-accuracy", "0.9")
	var rep struct {
		Accuracy float64 `json:"accuracy"`
		Cases    int     `json:"n"`
	}
	json.Unmarshal([]byte(tested), &rep)
	t.Logf("held-out: %.0f%% with the pseudo-program alone, %.0f%% after compile (training's measure); paw test: %.0f%% of %d",
		100*res.HeldOutBaseAccuracy, 100*res.HeldOutAccuracy, 100*rep.Accuracy, rep.Cases)
	if err != nil || rep.Cases != 100 || res.HeldOut != 100 {
		t.Errorf("paw test: %v, %d cases (compile held out %d)", err, rep.Cases, res.HeldOut)
	}
}

// TestBuildLocalLora: paw build compiles a local-lora function of paw.yaml
// on this machine (stories260K, the manifest's examples file), with the
// PAW service unreachable, pins it in paw.lock with the program in the
// cache, and writes the compile report into paw-report/.
func TestBuildLocalLora(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "fixtures", "stories260K")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("stories260K fixture not found beside the repository: %v", err)
	}
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_API_URL", "http://127.0.0.1:1") // nothing listens: no network
	t.Setenv("PAW_QUIET", "1")
	dir := t.TempDir()
	if err := fixture.Stories260K(src, filepath.Join(dir, "stories260K.gguf")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "compile", "lora", "testdata", "animal-or-toy.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	os.WriteFile(filepath.Join(dir, "examples.jsonl"), []byte(strings.Join(lines[:24], "")), 0o644)
	os.WriteFile(filepath.Join(dir, library.ManifestFile), []byte(`functions:
  - name: animal_or_toy
    owner: me
    spec: Is the sentence about an animal or a toy?
    labels: [animal, toy]
    compiler: local-lora
    base: stories260K.gguf
    examples: examples.jsonl
`), 0o644)
	out, err := runPaw(t, "build", "--dir", dir)
	if err != nil || !strings.Contains(out, "1 built, 0 unchanged, 0 failed") {
		t.Fatalf("paw build: %q, %v", out, err)
	}
	lock, err := library.ReadLock(filepath.Join(dir, library.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	e := lock.Functions["animal_or_toy"]
	if e == nil || e.Compiler != lora.CompilerName || e.CompilerSnapshot != lora.CompilerSnapshot {
		t.Fatalf("lock entry %+v", e)
	}
	_, rec := training(t, filepath.Join(os.Getenv("PAW_CACHE_DIR"), "programs", e.ProgramID))
	if rec.Examples+rec.HeldOut != 24 {
		t.Errorf("trained on %d + %d held out, want the 24 examples", rec.Examples, rec.HeldOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "paw-report", "animal_or_toy.compile.svg")); err != nil {
		t.Errorf("compile report: %v", err)
	}
	if out, err := runPaw(t, "build", "--offline", "--dir", dir); err != nil || !strings.Contains(out, "1 functions locked and cached") {
		t.Errorf("paw build --offline: %q, %v", out, err)
	}
}

package mapper

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
)

// tinyCompiler returns a compiler on fixtures: a 4-layer qwen3 encoder
// (d 64) whose vocabulary ends with 64 prefix rows, a PyTorch-written
// mapper for qwen3-tiny, and qwen3-tiny itself as the pseudo-program writer
// and interpreter.
func tinyCompiler(t *testing.T) (*Compiler, string) {
	t.Helper()
	return tinyCompilerFor(t, "qwen3-tiny", "qwen3-tiny")
}

// tinyCompilerFor is tinyCompiler with the mapper oracle.py writes for
// arch, for the interpreter preset interp.
func tinyCompilerFor(t *testing.T, arch, interpPreset string) (*Compiler, string) {
	t.Helper()
	dir := oracle(t, arch, "64", "2", "4", "32", "64")
	interpCfg, _ := fixture.Preset(interpPreset)
	interp := fixturetest.Cached(t, interpPreset, interpCfg)
	enc := fixturetest.TinyCompiler(t)
	return &Compiler{
		Name:        "paw-test-qwen3",
		EncoderPath: fixturetest.Cached(t, "qwen3-compiler", enc),
		MapperPath:  filepath.Join(dir, "lora_mapper.pt"),
		MetaPath:    filepath.Join(dir, "meta.json"),
		WriterPath:  interp,
		Threads:     1,
		Now:         time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}, interp
}

// TestCompileAll: specs compile into programs for the interpreter, each
// model loaded once for all of them; the same spec and pseudo-program give
// the same program, another spec another adapter.
func TestCompileAll(t *testing.T) {
	c, interp := tinyCompiler(t)
	loads := map[string]int{}
	c.Progress = func(stage string, job int, d time.Duration) {
		if strings.HasPrefix(stage, "load") {
			loads[stage]++
		}
	}
	const pseudo = "[PSEUDO_PROGRAM]\nTask: Say yes.\n\nExamples:\nInput: a\nOutput: yes\n[END_PSEUDO_PROGRAM]"
	res, err := c.CompileAll(context.Background(), []Job{
		{Spec: "Say yes.", PseudoProgram: pseudo},
		{Spec: "Say yes.", PseudoProgram: pseudo},
		{Spec: "Count the words."},
	})
	if err != nil {
		t.Fatal(err)
	}
	if loads["load writer"] != 1 || loads["load encoder"] != 1 || loads["load mapper"] != 1 {
		t.Errorf("model loads %v, want each once", loads)
	}
	if res[0].ProgramID != res[1].ProgramID {
		t.Errorf("the same job gave programs %s and %s", res[0].ProgramID, res[1].ProgramID)
	}
	if res[0].Program.AdapterSHA256 == res[2].Program.AdapterSHA256 {
		t.Error("two specs gave the same adapter")
	}
	base, err := gguf.Open(interp)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	for i, r := range res {
		p := r.Program
		if err := p.CheckBase(&base.Reader); err != nil {
			t.Errorf("job %d: %v", i, err)
		}
		if p.LoRA.Rank != 32 || p.LoRA.Alpha != 16 || p.Meta.CompilerSnapshot != "paw-test-qwen3" || p.Meta.Interpreter != program.InterpreterQwen3 {
			t.Errorf("job %d: %+v, meta %+v", i, p.LoRA, p.Meta)
		}
		for _, s := range []string{"encode", "map", "export"} {
			if _, ok := r.Timings[s+"_seconds"]; !ok {
				t.Errorf("job %d: no %s timing in %v", i, s, r.Timings)
			}
		}
	}
	if got := string(res[0].Program.Meta.Extra[StrategyKey]); got != `"supplied"` {
		t.Errorf("strategy %s", got)
	}
	gen := res[2].Program
	if s := string(gen.Meta.Extra[StrategyKey]); !strings.HasPrefix(s, `"generated:`) ||
		!strings.HasPrefix(gen.PseudoProgram, "[PSEUDO_PROGRAM]\n") || !strings.HasSuffix(gen.PseudoProgram, "\n[END_PSEUDO_PROGRAM]") {
		t.Errorf("generated pseudo-program %q (strategy %s)", gen.PseudoProgram, s)
	}
}

// TestCompileGPT2: a GPT-2 mapper (modules attn_c_proj, c_attn, c_fc,
// mlp_c_proj) gives a program for GPT-2 whose adapter fits the interpreter
// with no transpose.
func TestCompileGPT2(t *testing.T) {
	c, interp := tinyCompilerFor(t, "gpt2", "gpt2-tiny")
	c.WriterPath = ""
	res, err := c.CompileAll(context.Background(), []Job{{Spec: "Say yes.", PseudoProgram: "[PSEUDO_PROGRAM]\nTask: Say yes.\n[END_PSEUDO_PROGRAM]"}})
	if err != nil {
		t.Fatal(err)
	}
	p := res[0].Program
	base, err := gguf.Open(interp)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	if err := p.CheckBase(&base.Reader); err != nil {
		t.Error(err)
	}
	if p.Meta.Interpreter != program.InterpreterGPT2 || len(p.LoRA.Targets) != 4 || p.LoRA.Layers != 2 {
		t.Errorf("%+v, meta %+v", p.LoRA, p.Meta)
	}
	if !strings.HasPrefix(p.Template.Prefix, "[PSEUDO_PROGRAM]") {
		t.Errorf("GPT-2 template %q", p.Template.Prefix)
	}
}

// TestEncoderTokens: the encoder's input is the chat turn, the
// pseudo-program after its opening marker, <|im_end|> and the prefix ids.
func TestEncoderTokens(t *testing.T) {
	c, _ := tinyCompiler(t)
	mp, err := c.Mapper()
	if err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, c.EncoderPath)
	e, err := NewEncoder(m, mp)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Prefix) != 64 || int(e.Prefix[0]) != m.NVocab()-64 {
		t.Fatalf("prefix %v", e.Prefix)
	}
	toks, err := e.Tokens("Say yes.", "[PSEUDO_PROGRAM]\nTask: x\n[END_PSEUDO_PROGRAM]")
	if err != nil {
		t.Fatal(err)
	}
	text, err := m.Detokenize(toks[:len(toks)-64], true)
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>user\n[SPEC]\nSay yes.\n[END_SPEC]\n\n[PSEUDO_PROGRAM]<|im_end|>\n<|im_start|>assistant\n\nTask: x\n[END_PSEUDO_PROGRAM]<|im_end|>"
	if text != want {
		t.Errorf("encoder input %q\nwant %q", text, want)
	}
	if e.Layers[0] != 1 || e.Layers[1] != 3 {
		t.Errorf("layers %v, want [1 3] (4 compiler layers for 2)", e.Layers)
	}
}

func loadModel(t *testing.T, path string) *llama.Model {
	t.Helper()
	m, err := llama.LoadModel(path, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestWriterFromHF: a writer given as a Hugging Face checkpoint (as paw
// pull fetches Qwen3-4B-Instruct-2507) is converted on first need, once,
// and WriterMaxTokens bounds its reply (the random writer never stops by
// itself, so it writes exactly that many tokens).
func TestWriterFromHF(t *testing.T) {
	c, interp := tinyCompiler(t)
	hf := t.TempDir()
	if err := fixture.WriteHF(requant(t, interp, gguf.TypeBF16), hf, 2, 0); err != nil {
		t.Fatal(err)
	}
	c.WriterHF, c.WriterType, c.WriterPath = hf, gguf.TypeQ8_0, WriterGGUF(t.TempDir(), gguf.TypeQ8_0)
	stages := map[string]int{}
	c.Progress = func(stage string, job int, d time.Duration) { stages[stage]++ }
	for _, max := range []int{4, 24} {
		c.WriterMaxTokens = max
		res, err := c.CompileAll(context.Background(), []Job{{Spec: "Count the words."}})
		if err != nil {
			t.Fatal(err)
		}
		if n := res[0].Timings["pseudo_program_tokens"]; n != float64(max) {
			t.Errorf("WriterMaxTokens %d: wrote %v tokens", max, n)
		}
	}
	// A job's own cap wins over the compiler's, in one CompileAll.
	res, err := c.CompileAll(context.Background(), []Job{{Spec: "Count the words."}, {Spec: "Count the words.", WriterMaxTokens: 6}})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := res[0].Timings["pseudo_program_tokens"], res[1].Timings["pseudo_program_tokens"]; a != 24 || b != 6 {
		t.Errorf("jobs without and with WriterMaxTokens 6 wrote %v and %v tokens, want 24 and 6", a, b)
	}
	if stages["convert writer"] != 1 || stages["load writer"] != 3 {
		t.Errorf("stages %v: want the writer converted once and loaded per CompileAll", stages)
	}
	r, err := gguf.Open(c.WriterPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if ti, _ := r.Tensor("blk.0.attn_q.weight"); ti.Type != gguf.TypeQ8_0 {
		t.Errorf("converted writer's attn_q is %v, want Q8_0", ti.Type)
	}
}

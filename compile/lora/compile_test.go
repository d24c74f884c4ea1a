package lora_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
)

func TestPseudo(t *testing.T) {
	got := lora.Pseudo(" Say the colour. ", []lora.Example{{Input: "sky", Output: " blue"}})
	want := "[PSEUDO_PROGRAM]\nTask: Say the colour.\n\nExamples:\nInput: sky\nOutput: blue\n[END_PSEUDO_PROGRAM]"
	if got != want {
		t.Errorf("Pseudo:\n%q\nwant\n%q", got, want)
	}
}

// TestCompileQwen3 compiles on the tiny qwen3 fixture: the program is packed
// for the Qwen3 interpreter with its official template around the
// pseudo-program, the adapter is an official-layout LoRA that fits the
// base, and meta.json records the training.
func TestCompileQwen3(t *testing.T) {
	cfg, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	exs := []lora.Example{{Input: "red", Output: "warm"}, {Input: "blue", Output: "cold"}, {Input: "orange", Output: "warm"}, {Input: "red", Output: "warm"}}
	c := &lora.Compiler{Options: lora.Options{Base: base, Rank: 32, Epochs: 2, BatchSize: 2, Threads: 2, Targets: []string{"attn_q", "ffn_down"}}, Examples: exs}
	res, err := c.Compile(context.Background(), compile.Request{Spec: "Is the colour warm or cold?"})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Program
	if p.Meta.Interpreter != program.InterpreterQwen3 || p.Meta.CompilerSnapshot != lora.CompilerSnapshot || res.Compiler != lora.CompilerName {
		t.Errorf("meta %+v, result compiler %q", p.Meta, res.Compiler)
	}
	if !strings.HasPrefix(p.Template.Prefix, "<|im_start|>user\n[PSEUDO_PROGRAM]\nTask: Is the colour warm or cold?") {
		t.Errorf("template prefix %q", p.Template.Prefix)
	}
	if p.LoRA.Rank != 32 || p.LoRA.Layers != cfg.Layers || strings.Join(p.LoRA.Targets, ",") != "attn_q,ffn_down" ||
		len(p.LoRA.Types) != 1 || p.LoRA.Types[0] != gguf.TypeQ4_0 {
		t.Errorf("adapter %+v, want rank 32 Q4_0 attn_q+ffn_down on %d layers", p.LoRA, cfg.Layers)
	}
	var rec lora.Training
	if err := json.Unmarshal(p.Meta.Extra[lora.TrainingKey], &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Steps != 4 || rec.Examples != 4 || len(rec.DataSHA256) != 64 || rec.Alpha != lora.DefaultAlpha {
		t.Errorf("training record %+v", rec)
	}
	path := filepath.Join(t.TempDir(), "f.paw")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := program.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gguf.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := back.CheckBase(&r.Reader); err != nil {
		t.Errorf("compiled adapter does not fit its base: %v", err)
	}
	if back.Meta.ProgramID != p.Meta.ProgramID || back.Template != p.Template {
		t.Errorf("reopened program differs: %s vs %s", back.Meta.ProgramID, p.Meta.ProgramID)
	}
}

func TestCompileErrors(t *testing.T) {
	c := &lora.Compiler{}
	if _, err := c.Compile(context.Background(), compile.Request{}); !errors.Is(err, compile.ErrSpec) {
		t.Errorf("empty spec: %v", err)
	}
	if _, err := c.Compile(context.Background(), compile.Request{Spec: "x"}); !errors.Is(err, lora.ErrBase) {
		t.Errorf("no base: %v", err)
	}
	if _, err := lora.Train(context.Background(), lora.Options{Base: "x"}, nil, nil); !errors.Is(err, lora.ErrNoExamples) {
		t.Errorf("no examples: %v", err)
	}
}

func TestSplit(t *testing.T) {
	var exs []lora.Example
	for i := range 10 {
		exs = append(exs, lora.Example{Input: string(rune('a' + i)), Output: "x"})
	}
	exs = append(exs, exs[0], exs[3])
	train, held := lora.Split(exs, 0.2)
	if len(train) != 8 || len(held) != 2 || held[0].Input != "e" || held[1].Input != "j" {
		t.Errorf("Split: train %v, held out %v", train, held)
	}
	if train, held := lora.Split(exs, 0); len(train) != 10 || held != nil {
		t.Errorf("Split(0): %d train, %v held out", len(train), held)
	}
}

// TestCompileGPT2 compiles on the tiny GPT-2 fixture with the default
// targets: GPT-2's fused QKV and its MLP, under the GPT-2 template.
func TestCompileGPT2(t *testing.T) {
	cfg, err := fixture.Preset("gpt2-tiny")
	if err != nil {
		t.Fatal(err)
	}
	base := fixturetest.Cached(t, "gpt2-tiny", cfg)
	c := &lora.Compiler{Options: lora.Options{Base: base, Rank: 32, Epochs: 1, Threads: 2},
		Examples: []lora.Example{{Input: "red", Output: "warm"}, {Input: "blue", Output: "cold"}}}
	res, err := c.Compile(context.Background(), compile.Request{Spec: "Is the colour warm or cold?"})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Program
	if p.Meta.Interpreter != program.InterpreterGPT2 || !strings.HasPrefix(p.Template.Prefix, "[PSEUDO_PROGRAM]") {
		t.Errorf("interpreter %q, template %q", p.Meta.Interpreter, p.Template.Prefix)
	}
	if got := strings.Join(p.LoRA.Targets, ","); got != "attn_output,attn_qkv,ffn_down,ffn_up" {
		t.Errorf("targets %s", got)
	}
}

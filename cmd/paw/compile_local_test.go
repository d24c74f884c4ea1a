package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
)

func TestCompileLocal(t *testing.T) {
	cfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	dir := t.TempDir()
	exs := filepath.Join(dir, "ex.jsonl")
	os.WriteFile(exs, []byte(`{"input": "red", "output": "warm"}`+"\n\n"+`{"input": "blue", "output": "cold"}`+"\n"), 0o644)
	out := filepath.Join(dir, "colour.paw")
	id, err := runPaw(t, "compile", "--local", "--spec", "warm or cold colour?", "--examples", exs, "--model", base,
		"--rank", "32", "--epochs", "1", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := program.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Meta.ProgramID != strings.TrimSpace(id) || p.Meta.CompilerSnapshot != lora.CompilerSnapshot || p.LoRA.Rank != 32 {
		t.Errorf("printed %q; program %+v, rank %d", id, p.Meta, p.LoRA.Rank)
	}

	os.WriteFile(exs, []byte(`{"input": "red"}`+"\n"), 0o644)
	if _, err := runPaw(t, "compile", "--local", "--spec", "x", "--examples", exs, "--model", base); err == nil || !strings.Contains(err.Error(), "ex.jsonl:1") {
		t.Errorf("example without output: %v", err)
	}
	if _, err := runPaw(t, "compile", "--local", "--spec", "x"); err == nil {
		t.Error("--local without --examples accepted")
	}
}

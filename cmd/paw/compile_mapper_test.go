package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
)

// TestCompileMapperEndToEnd: paw compile --local --compiler compiles a spec
// with the fast compiler on fixtures (a 4-layer encoder with 64 prefix rows,
// a PyTorch-written mapper for qwen3-tiny, qwen3-tiny writing the
// pseudo-program), and paw run runs the .paw it writes.
func TestCompileMapperEndToEnd(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_QUIET", "1")
	t.Setenv("PAW_THREADS", "1")
	interpCfg, _ := fixture.Preset("qwen3-tiny")
	interp := fixturetest.Cached(t, "qwen3-tiny", interpCfg)
	r, err := gguf.Open(interp)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := r.Strings("tokenizer.ggml.tokens")
	r.Close()
	enc := fixture.Config{Arch: fixture.ArchQwen3, Layers: 4, Embd: 64, Heads: 4, HeadsKV: 2, HeadDim: 16, FFN: 128,
		CtxTrain: 2048, Type: gguf.TypeF32, Vocab: fixture.VocabSynthetic, Seed: 17, Untied: true, VocabSize: len(toks) + 64}
	dir := filepath.Join(t.TempDir(), "paw-4b-qwen3-0.6b")
	os.Mkdir(dir, 0o755)
	for dst, src := range map[string]string{
		"compiler.gguf":  fixturetest.Cached(t, "qwen3-compiler", enc),
		"writer.gguf":    interp,
		"lora_mapper.pt": "../../compile/mapper/testdata/qwen3-tiny/lora_mapper.pt",
		"meta.json":      "../../compile/mapper/testdata/qwen3-tiny/meta.json",
	} {
		abs, _ := filepath.Abs(src)
		if err := os.Symlink(abs, filepath.Join(dir, dst)); err != nil {
			t.Fatal(err)
		}
	}
	pseudo := filepath.Join(t.TempDir(), "pseudo.txt")
	os.WriteFile(pseudo, []byte("[PSEUDO_PROGRAM]\nTask: Say yes.\n\nExamples:\nInput: a\nOutput: yes\n[END_PSEUDO_PROGRAM]\n"), 0o644)
	for _, extra := range [][]string{{"--pseudo-program", pseudo}, nil} {
		out := filepath.Join(t.TempDir(), "f.paw")
		args := append([]string{"compile", "--local", "--compiler", dir, "--spec", "Say yes.", "--out", out, "--json"}, extra...)
		got, err := runPaw(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		checkJSONLines(t, "paw compile --local --compiler", got, 1)
		var res compileOutput
		json.Unmarshal([]byte(got), &res)
		if res.Compiler != "local-mapper" || res.CompilerSnapshot != "paw-4b-qwen3-0.6b" || res.Path != out || res.Timings["encode_seconds"] <= 0 {
			t.Errorf("compile output %s", got)
		}
		ran, err := runPaw(t, "run", out, "--model", interp, "--input", "hello", "--max-tokens", "4", "--json")
		if err != nil {
			t.Fatalf("paw run: %v", err)
		}
		t.Logf("paw run: %s", ran)
		if !strings.Contains(ran, `"output"`) {
			t.Errorf("paw run printed %s", ran)
		}
	}
	if _, err := runPaw(t, "compile", "--local", "--compiler", "no-such-compiler", "--spec", "x"); err == nil {
		t.Error("an unknown compiler was accepted")
	}
	if _, err := runPaw(t, "compile", "--local", "--compiler", "paw-4b-gpt2", "--spec", "x"); err == nil || !strings.Contains(err.Error(), "paw pull paw-4b-gpt2") {
		t.Errorf("an official compiler not pulled yet: %v, want advice to pull it", err)
	}
}

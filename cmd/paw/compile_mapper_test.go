package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/library"
)

// mapperFixture makes dir a fast compiler's directory of fixtures (a
// 4-layer encoder with 64 prefix rows, a PyTorch-written mapper for
// qwen3-tiny, qwen3-tiny as the pseudo-program writer) and returns the
// interpreter's GGUF.
func mapperFixture(t *testing.T, dir string) string {
	t.Helper()
	interpCfg, _ := fixture.Preset("qwen3-tiny")
	interp := fixturetest.Cached(t, "qwen3-tiny", interpCfg)
	enc := fixturetest.TinyCompiler(t)
	os.MkdirAll(dir, 0o755)
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
	return interp
}

// TestCompileMapperEndToEnd: paw compile --local --compiler compiles a spec
// with the fast compiler on fixtures (a 4-layer encoder with 64 prefix rows,
// a PyTorch-written mapper for qwen3-tiny, qwen3-tiny writing the
// pseudo-program), and paw run runs the .paw it writes.
func TestCompileMapperEndToEnd(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_QUIET", "1")
	t.Setenv("PAW_THREADS", "1")
	dir := filepath.Join(t.TempDir(), "paw-4b-qwen3-0.6b")
	interp := mapperFixture(t, dir)
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

// TestBuildLocalMapper: paw build compiles two local-mapper functions of
// paw.yaml (one with its pseudo-program given, one written by the writer
// model) with the service unreachable, loading each model once for both;
// both are pinned in paw.lock and their programs run.
func TestBuildLocalMapper(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_API_URL", "http://127.0.0.1:1") // nothing listens: no network
	t.Setenv("PAW_QUIET", "")
	t.Setenv("PAW_THREADS", "1")
	proj := t.TempDir()
	interp := mapperFixture(t, filepath.Join(proj, "compilers", "paw-4b-qwen3-0.6b"))
	os.WriteFile(filepath.Join(proj, "yes.txt"), []byte("[PSEUDO_PROGRAM]\nTask: Say yes.\n\nExamples:\nInput: a\nOutput: yes\n[END_PSEUDO_PROGRAM]\n"), 0o644)
	os.WriteFile(filepath.Join(proj, library.ManifestFile), []byte(`functions:
  - name: say_yes
    owner: me
    spec: Say yes.
    compiler: local-mapper
    mapper: compilers/paw-4b-qwen3-0.6b
    pseudo_program: yes.txt
    interpreter: qwen3
  - name: say_no
    owner: me
    spec: Say no.
    compiler: local-mapper
    mapper: compilers/paw-4b-qwen3-0.6b
    writer_max_tokens: 4
`), 0o644)
	cmd := newRootCmd()
	var out, stderr bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"build", "--dir", proj})
	if err := cmd.ExecuteContext(context.Background()); err != nil || !strings.Contains(out.String(), "2 built, 0 unchanged, 0 failed") {
		t.Fatalf("paw build: %q, %v\nstderr: %s", out.String(), err, stderr.String())
	}
	for _, stage := range []string{"load mapper:", "load writer:", "load encoder:"} {
		if n := strings.Count(stderr.String(), stage); n != 1 {
			t.Errorf("%s %d times, want once:\n%s", stage, n, stderr.String())
		}
	}
	lock, err := library.ReadLock(filepath.Join(proj, library.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"say_yes", "say_no"} {
		e := lock.Functions[name]
		if e == nil || e.Compiler != library.MapperCompiler || e.CompilerSnapshot != "paw-4b-qwen3-0.6b" {
			t.Fatalf("%s: lock entry %+v", name, e)
		}
		ran, err := runPaw(t, "run", e.ProgramID, "--model", interp, "--input", "hello", "--max-tokens", "4", "--json")
		if err != nil || !strings.Contains(ran, `"output"`) {
			t.Errorf("paw run %s: %q, %v", name, ran, err)
		}
	}
	if out, err := runPaw(t, "build", "--offline", "--dir", proj); err != nil || !strings.Contains(out, "2 functions locked and cached") {
		t.Errorf("paw build --offline: %q, %v", out, err)
	}
}

// TestCompileMapperPulledWriter: with no writer model at hand, paw compile
// --local says to pull one; after paw pull qwen3-4b-instruct-2507 (a tiny
// generated Qwen3 checkpoint served as Hugging Face does) the compile
// writes its pseudo-program offline, the checkpoint converted once.
func TestCompileMapperPulledWriter(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("PAW_CACHE_DIR", cache)
	t.Setenv("PAW_QUIET", "1")
	t.Setenv("PAW_THREADS", "1")
	cfg, _ := fixture.Preset("qwen3-tiny")
	cfg.Type = gguf.TypeBF16
	src, repo := filepath.Join(t.TempDir(), "w.gguf"), t.TempDir()
	if err := fixture.WriteModel(src, cfg); err != nil {
		t.Fatal(err)
	}
	if err := fixture.WriteHF(src, repo, 2, 0); err != nil {
		t.Fatal(err)
	}
	base := "/" + hub.PseudoWriter.Repo + "/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/models"+base+"tree/"+hub.PseudoWriter.Revision {
			var tree []map[string]any
			ents, _ := os.ReadDir(repo)
			for _, e := range ents {
				b, _ := os.ReadFile(filepath.Join(repo, e.Name()))
				sum := sha256.Sum256(b)
				tree = append(tree, map[string]any{"type": "file", "path": e.Name(), "size": 134, "oid": strings.Repeat("0", 40),
					"lfs": map[string]any{"oid": hex.EncodeToString(sum[:]), "size": len(b)}})
			}
			json.NewEncoder(w).Encode(tree)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, base+"resolve/"+hub.PseudoWriter.Revision+"/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(repo, filepath.Base(name)))
	}))
	defer srv.Close()
	t.Setenv("PAW_HF_URL", srv.URL+"/hf")

	dir := filepath.Join(t.TempDir(), "paw-4b-qwen3-0.6b")
	mapperFixture(t, dir)
	os.Remove(filepath.Join(dir, "writer.gguf"))
	args := []string{"compile", "--local", "--compiler", dir, "--spec", "Say yes.", "--writer-max-tokens", "8", "--json"}
	if _, err := runPaw(t, args...); err == nil || !strings.Contains(err.Error(), "paw pull qwen3-4b-instruct-2507") {
		t.Errorf("no writer model: %v, want advice to pull one", err)
	}
	if _, err := runPaw(t, "pull", "qwen3-4b-instruct-2507"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	t.Setenv("PAW_OFFLINE", "1")
	for range 2 {
		got, err := runPaw(t, append(args, "--out", filepath.Join(t.TempDir(), "f.paw"))...)
		if err != nil {
			t.Fatal(err)
		}
		var res compileOutput
		json.Unmarshal([]byte(got), &res)
		if res.Timings["pseudo_program_seconds"] <= 0 {
			t.Errorf("compile output %s: no pseudo-program written", got)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "writers", "qwen3-4b-instruct-2507", "writer-q8_0.gguf")); err != nil {
		t.Errorf("the converted writer is not kept: %v", err)
	}
	if _, err := runPaw(t, "compile", "--local", "--compiler", dir, "--spec", "x", "--writer-type", "Q6_K"); err == nil {
		t.Error("--writer-type Q6_K was accepted")
	}
}

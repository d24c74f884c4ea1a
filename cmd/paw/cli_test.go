package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/library"
)

func TestExitCode(t *testing.T) {
	for name, c := range map[string]struct {
		err  error
		want int
	}{
		"ok":                 {nil, exitOK},
		"failure":            {errors.New("disk full"), exitFailure},
		"usage":              {usagef("give --input"), exitUsage},
		"wrapped usage":      {fmt.Errorf("run: %w", usagef("bad flag")), exitUsage},
		"cancelled":          {fmt.Errorf("call: %w", context.Canceled), exitInterrupted},
		"deadline is a fail": {context.DeadlineExceeded, exitFailure},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", name, c.err, got, c.want)
		}
	}
}

// TestUsageErrors runs command lines that cannot run as given: each is a
// usage error (exit status 2), found before any model is opened.
func TestUsageErrors(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.gguf")
	pseudo := filepath.Join(dir, "pseudo.txt")
	os.WriteFile(pseudo, []byte("Say yes."), 0o644)
	for _, c := range []struct {
		args []string
		want string // in the message
	}{
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		{[]string{"run", "p.paw", "--input", "x", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"run", "p.paw", "--input", "x", "--max-tokens", "many"}, `invalid argument "many"`},
		{[]string{"run", "p.paw", "--input", "x", "--max-tokens", "0"}, "--max-tokens 0"},
		{[]string{"run", "a.paw", "b.paw", "--input", "x"}, "accepts at most 1 arg(s)"},
		{[]string{"info"}, "accepts 1 arg(s), received 0"},
		{[]string{"help", "nosuch"}, "unknown help topic"},
		{[]string{"compile"}, `required flag(s) "spec" not set`},
		{[]string{"pack", "--adapter", "a", "--peft", "b", "--pseudo-program", "p", "--interpreter", "qwen3", "-o", "x.paw"}, "none of the others can be"},
		{[]string{"pack", "--adapter", missing, "--adapter-type", "f16", "--pseudo-program", pseudo, "--interpreter", "qwen3", "-o", "x.paw"}, "PEFT conversion only"},
		{[]string{"run", "p.paw", "--model", missing, "--input", "x", "--interpreter", "gpt2"}, "--interpreter picks the model of --base"},
		{[]string{"run", "--base", "--input", "x", "--inputs", "f"}, "give --input TEXT or --inputs FILE"},
		{[]string{"run", "p.paw", "--model", missing, "--input", "x", "--seed", "3"}, "--seed seeds sampling"},
		{[]string{"run", "p.paw", "--model", missing, "--input", "x", "--labels", "a,b"}, `--labels "a,b" is one label`},
		{[]string{"run", "p.paw", "--model", missing, "--input", "x", "--labels", "a", "--labels", "a"}, `--labels: schema: invalid label: label "a" appears twice`},
		{[]string{"run", "p.paw", "--model", missing, "--input", "x", "--labels", "a", "--labels", "b", "--regex", "c"}, "at most one of"},
		{[]string{"generate", "--model", missing, "--seed", "1"}, "--seed seeds sampling"},
		{[]string{"bench", "--model", missing, "--calls", "3"}, "--calls does nothing with --model alone"},
		{[]string{"bench", "--program", "p.paw", "--input", "x", "--reps", "2"}, "--reps does nothing with --program"},
		{[]string{"bench", "--model", missing, "--vary", "adapter"}, "--vary does nothing with --model alone"},
		{[]string{"bench", "--program", "p.paw", "--model", missing, "--input", "x", "--vary", "threads"}, `--vary "threads": want flash-attn or adapter`},
		{[]string{"bench", "--program", "p.paw", "--model", missing, "--input", "x", "--vary", "adapter", "--vary", "adapter"}, "--vary adapter given twice"},
		{[]string{"bench", "--program", "p.paw", "--model", missing, "--input", "x", "--rounds", "2"}, "--rounds needs --vary"},
		{[]string{"bench", "--program", "p.paw", "--model", missing, "--input", "x", "--vary", "adapter", "--rounds", "0"}, "--rounds 0"},
		{[]string{"bench", "--program", "p.paw", "--model", missing, "--input", "x", "--vary", "flash-attn", "--flash-attn"}, "--flash-attn does nothing with --vary flash-attn"},
		{[]string{"quantize", missing, "--type", "q3_xs", "-o", "out.gguf"}, `--type "q3_xs": want one of f16, q4_0, q6_k, q8_0`},
		{[]string{"quantize", missing, "-o", "out.gguf"}, `required flag(s) "type" not set`},
		{[]string{"pull", "qwen3-0.6b-q6_k", "--requant", "q3_xs"}, `--requant "q3_xs"`},
		{[]string{"compile", "status", "job-1", "--pull"}, "--pull does nothing with 'paw compile status'"},
		{[]string{"compile", "--spec", "s", "--async", "--pull"}, "--pull needs the finished program"},
		{[]string{"serve", "--model", missing, "--shadow-workers", "0"}, "--shadow-workers 0: want at least 1"},
		{[]string{"serve", "--model", missing, "--shadow-queue", "-1"}, "--shadow-queue -1: want at least 1"},
		{[]string{"serve", "--model", missing, "--queue", "0"}, "--queue 0: want at least 1"},
	} {
		_, err := runPaw(t, c.args...)
		if code := exitCode(err); code != exitUsage || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("paw %s: exit %d, %v; want %d, %q", strings.Join(c.args, " "), code, err, exitUsage, c.want)
		}
	}
	// A command that runs and fails is not a usage error.
	if _, err := runPaw(t, "info", missing); exitCode(err) != exitFailure {
		t.Errorf("paw info on a missing file: exit %d (%v), want %d", exitCode(err), err, exitFailure)
	}
}

// TestInterrupted: a run whose context ends (main's, on SIGINT) exits 130.
func TestInterrupted(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 9, "Say yes.")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runPawContext(t, ctx, "run", pawPath, "--model", base, "--input", "x")
	if code := exitCode(err); code != exitInterrupted {
		t.Errorf("cancelled run: exit %d (%v), want %d", code, err, exitInterrupted)
	}
}

// TestListFlags: no flag splits its value on commas.
func TestListFlags(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.HasSuffix(f.Value.Type(), "Slice") {
				t.Errorf("%s --%s is a %s: it splits values on commas; use a repeatable StringArray", c.CommandPath(), f.Name, f.Value.Type())
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	run := newRunCmd(nil)
	if err := run.ParseFlags([]string{"--stop", "a,b", "--stop", "c", "--labels", "yes, sure", "--labels", "no"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{"stop": {"a,b", "c"}, "labels": {"yes, sure", "no"}} {
		if got, _ := run.Flags().GetStringArray(name); !slices.Equal(got, want) {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
}

// snakeKey is a JSON key in snake_case.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// dataKeys name objects whose keys are data (labels, tensor type names,
// timing names, a JSON Schema), not fields.
var dataKeys = map[string]bool{"probs": true, "tensor_types": true, "timings": true, "contract": true,
	"per_label": true, "per_tag": true, "label_shift": true, "schema": true}

// decodeLines decodes JSON lines, one T per line.
func decodeLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var items []T
	for line := range strings.Lines(out) {
		var it T
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		items = append(items, it)
	}
	return items
}

// checkJSONLines checks out is want lines (want < 0: at least one) of
// compact JSON objects with snake_case keys.
func checkJSONLines(t *testing.T, name, out string, want int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" || (want >= 0 && len(lines) != want) {
		t.Errorf("%s: %d lines, want %d:\n%s", name, len(lines), want, out)
		return
	}
	for _, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Errorf("%s: line %q is not one JSON object: %v", name, line, err)
			continue
		}
		checkKeys(t, name, obj)
	}
}

func checkKeys(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeKey.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", path, k)
			}
			if !dataKeys[k] {
				checkKeys(t, path+"."+k, x)
			}
		}
	case []any:
		for _, x := range v {
			checkKeys(t, path+"[]", x)
		}
	}
}

// TestJSONOutputs runs every command that has --json, against fixtures and
// a fake PAW service, and checks the shape rule of the package doc; a new
// command with --json fails here until it is added.
func TestJSONOutputs(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_QUIET", "1")
	t.Setenv("PAW_API_KEY", "test-key")
	base, pawPath, packed := packFixture(t, "gpt2-tiny", 7, "Say whether the text is about cats.", "--json")
	dir := t.TempDir()
	var p packResult
	json.Unmarshal([]byte(packed), &p)
	bundle, err := os.ReadFile(pawPath)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	job := map[string]any{"job_id": "job-1", "status": "completed", "result": map[string]any{"program_id": p.ProgramID, "status": "ready"}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/compile", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Tags []string }
		json.NewDecoder(r.Body).Decode(&req)
		tags = req.Tags
		json.NewEncoder(w).Encode(map[string]any{"program_id": p.ProgramID, "status": "ready", "slug": "me/cats",
			"version": 1, "version_action": "created", "timings": map[string]float64{"trainSeconds": 1}})
	})
	mux.HandleFunc("POST /api/v1/compile/async", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"job_id": "job-1", "status": "queued"})
	})
	mux.HandleFunc("/api/v1/compile/job-1", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(job) })
	mux.HandleFunc("GET /api/v1/programs/{id}/download", func(w http.ResponseWriter, r *http.Request) { w.Write(bundle) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	t.Setenv("PAW_API_URL", srv.URL)
	t.Setenv("PAW_HF_URL", srv.URL+"/hf")
	inputs := filepath.Join(dir, "inputs.txt")
	os.WriteFile(inputs, []byte("my cat\nthe market\n"), 0o644)
	t.Setenv("PAW_REGISTRY", filepath.Join(dir, "registry.db"))
	if _, err := runPaw(t, "fn", "add", "triage", "--owner", "ops"); err != nil {
		t.Fatal(err)
	}
	cases := filepath.Join(dir, "cases.jsonl")
	os.WriteFile(cases, []byte(`{"input": "my cat", "expected": "yes", "tags": ["pets"]}`+"\n"+`{"input": "the market", "expected": "no"}`+"\n"), 0o644)

	// A project of two functions on the packed program: paw test without a
	// program prints a line per function.
	proj := filepath.Join(dir, "proj")
	os.MkdirAll(proj, 0o755)
	os.WriteFile(filepath.Join(proj, "cases.jsonl"), []byte(`{"input": "my cat", "expected": "yes"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(proj, library.ManifestFile), []byte("version: 1\nfunctions:\n"+
		"  - {name: cats, spec: about cats?, labels: [\"yes\", \"no\"], owner: ops, interpreter: gpt2, cases: cases.jsonl}\n"+
		"  - {name: dogs, spec: about dogs?, owner: ops, interpreter: gpt2, cases: cases.jsonl}\n"), 0o644)
	m, err := library.Load(proj)
	if err != nil {
		t.Fatal(err)
	}
	lock := library.NewLock()
	for _, f := range m.Functions {
		lock.Functions[f.Name] = &library.LockEntry{ProgramID: p.ProgramID, Compiler: f.Compiler, SpecHash: library.SpecHash(f)}
	}
	if err := library.WriteLock(filepath.Join(proj, library.LockFile), lock); err != nil {
		t.Fatal(err)
	}

	checked := map[string]bool{"paw pack": true}
	checkJSONLines(t, "paw pack", packed, 1)
	for _, c := range []struct {
		args  []string
		lines int
	}{
		{[]string{"version"}, 1},
		{[]string{"info", base}, 1},
		{[]string{"info", pawPath}, 1},
		{[]string{"run", pawPath, "--model", base, "--input", "my cat", "--max-tokens", "3"}, 1},
		{[]string{"run", pawPath, "--model", base, "--inputs", inputs, "--max-tokens", "3"}, 2},
		{[]string{"bench", "--program", pawPath, "--model", base, "--input", "x", "--calls", "2", "--concurrency", "2", "--max-tokens", "2"}, 1},
		{[]string{"bench", "--program", pawPath, "--model", base, "--input", "x", "--calls", "2", "--concurrency", "1", "--max-tokens", "2",
			"--vary", "adapter", "--vary", "flash-attn", "--rounds", "2"}, 4},
		{[]string{"generate", "--model", base, "--prompt", "once", "--max-tokens", "3"}, 1},
		{[]string{"compile", "--spec", "about cats?", "--tag", "pets, cats", "--tag", "demo", "--pull"}, 1},
		{[]string{"compile", "--spec", "about cats?", "--async"}, 1},
		{[]string{"compile", "--local", "--spec", "about cats?\n\nInput: my cat\nOutput: yes\nInput: a car\nOutput: no", "--model", base,
			"--rank", "32", "--epochs", "1", "--threads", "1", "--out", filepath.Join(dir, "local.paw")}, 1},
		{[]string{"compile", "status", "job-1"}, 1},
		{[]string{"compile", "cancel", "job-1"}, 1},
		{[]string{"compile", "wait", "job-1"}, 1},
		{[]string{"pull", p.ProgramID}, 1},
		{[]string{"push", pawPath}, 1},
		{[]string{"ls"}, -1},
		{[]string{"fn", "list"}, 1},
		{[]string{"fn", "show", "triage"}, 1},
		{[]string{"fn", "log"}, 1},
		{[]string{"test", pawPath, "--model", base, "--cases", cases, "--max-tokens", "3"}, 1},
		{[]string{"test", "--dir", proj, "--model", base, "--max-tokens", "3"}, 2},
		{[]string{"diff", "--old", pawPath, "--new", pawPath, "--model", base, "--cases", cases, "--max-tokens", "3"}, 1},
		{[]string{"diff", "--old", pawPath, "--new", pawPath, "--model", base, "--new-model", base, "--cases", cases, "--max-tokens", "3"}, 1},
		{[]string{"discover", writeSynthLog(t, 300)}, -1},
	} {
		name := "paw " + strings.Join(c.args, " ")
		out, err := runPaw(t, append(c.args, "--json")...)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkJSONLines(t, name, out, c.lines)
		cmd, _, _ := newRootCmd().Find(c.args)
		checked[cmd.CommandPath()] = true
	}
	if !slices.Equal(tags, []string{"pets, cats", "demo"}) {
		t.Errorf("compile --tag sent tags %q, want the values as given", tags)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if (c.LocalFlags().Lookup("json") != nil || c.InheritedFlags().Lookup("json") != nil) && !checked[c.CommandPath()] {
			t.Errorf("%s has --json but is not checked here", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

// TestNoRuntime: a program of an unknown interpreter and no runtime id
// needs a base model; the library's error says which option, the CLI's adds
// which flag.
func TestNoRuntime(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	cfg, _ := fixture.Preset("qwen3-tiny")
	dir := t.TempDir()
	if err := fixture.WriteAdapter(filepath.Join(dir, "adapter.gguf"), cfg, fixture.OfficialAdapter(8)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"program_id": "0123456789abcdef", "interpreter": "llama", "spec": "x"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "prompt_template.txt"), []byte("Echo: {INPUT_PLACEHOLDER}"), 0o644)
	_, err := runPaw(t, "run", dir, "--input", "x")
	if !errors.Is(err, paw.ErrNoRuntime) || !strings.Contains(err.Error(), "Options.Model must name its base model (with paw: --model FILE.gguf)") {
		t.Errorf("err = %v, want paw.ErrNoRuntime naming the option and the flag", err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
)

// runPaw runs the CLI in-process and returns its stdout.
func runPaw(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runPawContext(t, context.Background(), args...)
}

// runPawContext is runPaw under ctx (a signal's, in main).
func runPawContext(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

// packFixture packs, with `paw pack` (its flags and extra), a program of the
// given pseudo-program for a fixture base model; it returns the base, the
// bundle and pack's output.
func packFixture(t *testing.T, preset string, seed uint64, pseudoProgram string, extra ...string) (base, pawPath, out string) {
	t.Helper()
	cfg, _ := fixture.Preset(preset)
	base = fixturetest.Cached(t, preset, cfg)
	dir := t.TempDir()
	adapter := filepath.Join(dir, "adapter.gguf")
	if err := fixture.WriteAdapter(adapter, cfg, fixture.OfficialAdapter(seed)); err != nil {
		t.Fatal(err)
	}
	pseudo := filepath.Join(dir, "pseudo.txt")
	os.WriteFile(pseudo, []byte(pseudoProgram), 0o644)
	pawPath = filepath.Join(dir, "p.paw")
	interpreter, _, _ := strings.Cut(preset, "-")
	out, err := runPaw(t, append([]string{"pack", "--spec", "a fixture program", "--pseudo-program", pseudo,
		"--adapter", adapter, "--interpreter", interpreter, "-o", pawPath}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return base, pawPath, out
}

// TestPackRunInfo packs a fixture program with `paw pack`, runs it with
// `paw run` and checks the outputs equal the Go API's.
func TestPackRunInfo(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 4, "Say whether the text is about cats.")
	dir := t.TempDir()
	inputs := []string{"my cat sleeps all day", "the stock market", "kittens <|endoftext|> everywhere"}
	ctx := context.Background()
	eng, err := paw.Open(ctx, paw.Options{CacheDir: t.TempDir(), Model: base, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	fn, err := eng.Function(ctx, pawPath)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, in := range inputs {
		r, err := fn.Call(ctx, in, paw.WithMaxTokens(10))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Output)
	}

	out, err := runPaw(t, "run", "--program", pawPath, "--model", base, "--input", inputs[0], "--max-tokens", "10", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var one runOutput
	if err := json.Unmarshal([]byte(out), &one); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if one.Output != want[0] || one.Program != fn.Name() || one.Tokens == 0 || one.LatencyMS <= 0 {
		t.Errorf("paw run --json = %+v, want output %q", one, want[0])
	}

	file := filepath.Join(dir, "inputs.jsonl")
	os.WriteFile(file, []byte(`{"input": "my cat sleeps all day"}`+"\nthe stock market\n"+`{"input": "kittens <|endoftext|> everywhere"}`+"\n"), 0o644)
	out, err = runPaw(t, "run", pawPath, "--model", base, "--inputs", file, "--max-tokens", "10")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("%d JSON lines for %d inputs:\n%s", len(lines), len(inputs), out)
	}
	if !strings.Contains(lines[2], `"input":"kittens <|endoftext|> everywhere"`) {
		t.Errorf("JSON lines escape the input's < and >: %s", lines[2])
	}
	for i, line := range lines {
		var o runOutput
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatal(err)
		}
		if o.Input != inputs[i] || o.Output != want[i] {
			t.Errorf("line %d: %+v, want input %q output %q", i, o, inputs[i], want[i])
		}
	}

	// paw bench on the same program: a consistent report, on the same inputs.
	out, err = runPaw(t, "bench", "--program", pawPath, "--model", base, "--inputs", file, "--calls", "6",
		"--concurrency", "3", "--max-tokens", "10", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var b programBench
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("paw bench --json %q: %v", out, err)
	}
	if b.Program != fn.Name() || b.Calls != 6 || b.Concurrency != 3 || b.LoadMS <= 0 || b.P50MS <= 0 ||
		b.P95MS < b.P50MS || b.SerialPerS <= 0 || b.ConcurrentPer <= 0 || b.TokensPerCall <= 0 || b.TokensPerCall > 10 {
		t.Errorf("paw bench = %+v", b)
	}
	if _, err := runPaw(t, "bench", "--program", pawPath, "--model", base); err == nil {
		t.Error("paw bench --program without inputs: no error")
	}
	if _, err := runPaw(t, "bench"); err == nil {
		t.Error("paw bench with neither --model nor --program: no error")
	}

	out, err = runPaw(t, "info", pawPath, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var info progInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if info.Adapter.Rank != 64 || info.Adapter.Alpha != 16 || len(info.AdapterSHA256) != 64 || info.Meta.Interpreter != "gpt2" {
		t.Errorf("paw info = %+v", info)
	}
	if !strings.Contains(out, `"rank":64`) || !strings.Contains(out, `"types":["Q4_0"]`) {
		t.Errorf("paw info --json: adapter fields not in snake case with type names:\n%s", out)
	}

	if _, err := runPaw(t, "run", pawPath, "--model", base); err == nil {
		t.Error("paw run without an input succeeded")
	}
}

func TestRunLabels(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "qwen3-tiny", 5, "Route the ticket. Return ONLY one of: billing, technical, other.")
	dir := t.TempDir()
	out, err := runPaw(t, "info", pawPath, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var info progInfo
	json.Unmarshal([]byte(out), &info)
	if strings.Join(info.ProposedLabels, ",") != "billing,technical,other" {
		t.Errorf("proposed labels %v", info.ProposedLabels)
	}
	out, err = runPaw(t, "run", pawPath, "--model", base, "--input", "charged twice", "--labels", "billing", "--labels", "technical", "--labels", "other, or none", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var o runOutput
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, p := range o.Probs {
		sum += p
	}
	if _, ok := o.Probs[o.Output]; !ok || len(o.Probs) != 3 || o.Probs["other, or none"] == 0 || sum < 0.999999 || sum > 1.000001 || o.LogprobMean >= 0 {
		t.Errorf("labels run: %+v", o)
	}
	out, err = runPaw(t, "run", pawPath, "--model", base, "--input", "charged twice", "--regex", `[a-z]{3}-\d{2}`)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-z]{3}-\d{2}$`).MatchString(strings.TrimSpace(out)) {
		t.Errorf("regex run printed %q", out)
	}
	if _, err := runPaw(t, "run", pawPath, "--model", base, "--input", "x", "--labels", "a", "--regex", "b"); err == nil {
		t.Error("two contracts accepted")
	}
	for flag, val := range map[string]string{"--max-tokens": "0", "--temperature": "-1"} {
		if _, err = runPaw(t, "run", pawPath, "--model", base, "--input", "x", flag, val); err == nil || !strings.Contains(err.Error(), flag+" "+val) {
			t.Errorf("%s %s: %v", flag, val, err)
		}
	}
	// A bad schema is named, and reported before any model is opened.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"type": 7}`), 0o644)
	_, err = runPaw(t, "run", pawPath, "--model", filepath.Join(dir, "missing.gguf"), "--input", "x", "--schema", bad)
	if err == nil || !strings.Contains(err.Error(), "--schema "+bad) {
		t.Errorf("bad schema: %v", err)
	}
}

func TestReadInputs(t *testing.T) {
	got, err := readInputs(strings.NewReader("plain line\n\n  \n{\"input\": \"json <|im_end|>\", \"id\": 3}\n"), "-")
	if err != nil || len(got) != 2 || got[0] != "plain line" || got[1] != "json <|im_end|>" {
		t.Errorf("readInputs = %q, %v", got, err)
	}
	for in, want := range map[string]string{
		"ok\n{\"input\": \"a\"\n": "stdin line 2: unexpected end of JSON input",
		"{\"text\": \"a\"}\n":     `stdin line 1: a JSON line needs a string "input" field`,
		"{\"input\": 5}\n":        "stdin line 1: json: cannot unmarshal number",
	} {
		if _, err := readInputs(strings.NewReader(in), "-"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}

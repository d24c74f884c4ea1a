package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/library"
	"github.com/paw-dev/paw/registry"
)

// libManifest has two functions: triage passes its gates, intent's latency
// gate cannot pass. EXPIRES is triage's expiry date.
const libManifest = `version: 1
functions:
  - name: triage
    spec: Say whether the log line is urgent.
    labels: [urgent, calm]
    owner: alice
    expires: EXPIRES
    cases: cases/triage.jsonl
    gates:
      min_accuracy: 0
      max_invalid: 0
  - name: intent
    spec: Name the intent of the message.
    labels: [buy, ask]
    owner: bob
    cases: cases/intent.jsonl
    gates:
      max_p95_ms: 0.001
`

// libProject writes a project of libManifest with triage expiring on
// expires, builds it against a stand-in hub and returns its directory and
// the base model its programs run on.
func libProject(t *testing.T, expires string) (dir, base string) {
	t.Helper()
	srv := fixturetest.StandInHub(t, time.Time{})
	t.Setenv("PAW_API_URL", srv.URL)
	t.Setenv("PAW_HF_URL", srv.URL+"/hf")
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_QUIET", "1")
	cfg, _ := fixture.Preset("qwen3-tiny")
	base = fixturetest.Cached(t, "qwen3-tiny", cfg)
	dir = t.TempDir()
	writeProject(t, dir, expires)
	os.MkdirAll(filepath.Join(dir, "cases"), 0o755)
	for name, text := range map[string]string{
		"triage": `{"input": "db down, all requests failing", "expected": "urgent"}` + "\n" +
			`{"input": "cache warmed", "expected": "calm"}` + "\n" + `{"input": "GET /healthz 200", "expected": "calm"}` + "\n",
		"intent": `{"input": "how much is it?", "expected": "ask"}` + "\n" + `{"input": "I'll take two", "expected": "buy"}` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, "cases", name+".jsonl"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runPaw(t, "build", "--dir", dir); err != nil || !strings.Contains(out, "2 built") {
		t.Fatalf("paw build: %q, %v", out, err)
	}
	return dir, base
}

// writeProject writes dir's paw.yaml with triage expiring on expires.
func writeProject(t *testing.T, dir, expires string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, library.ManifestFile), []byte(strings.Replace(libManifest, "EXPIRES", expires, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readReport reads a function's JSON report.
func readReport(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ReportDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLibraryTest runs paw test on a built project: the reports beside the
// functions, --function, a failing gate, a failed run leaving the reports
// whole, a function not built, and expiry.
func TestLibraryTest(t *testing.T) {
	dir, base := libProject(t, time.Now().AddDate(1, 0, 0).Format(time.DateOnly))
	lock, err := library.ReadLock(filepath.Join(dir, library.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	reports := filepath.Join(dir, ReportDir)
	args := []string{"test", "--dir", dir, "--model", base, "--max-tokens", "4"}

	out, err := runPaw(t, append(args, "--function", "triage")...)
	if err != nil || !strings.Contains(out, "triage") || strings.Contains(out, "intent") || !strings.Contains(out, filepath.Join(reports, IndexFile)) {
		t.Fatalf("paw test --function triage: %v\n%s", err, out)
	}
	r := readReport(t, dir, "triage")
	e := lock.Functions["triage"]
	if r["function"] != "triage" || r["owner"] != "alice" || r["program_id"] != e.ProgramID || r["spec_hash"] != e.SpecHash ||
		r["adapter_sha256"] != e.AdapterSHA256 || r["n"] != 3.0 || r["passed"] != true || r["accuracy"] == nil {
		t.Errorf("triage.json = %v, want the report with triage's lock entry", r)
	}
	if _, err := os.Stat(filepath.Join(reports, "intent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--function triage tested intent too (%v)", err)
	}
	index, _ := os.ReadFile(filepath.Join(reports, IndexFile))
	if !strings.Contains(string(index), `<a href="triage.html">triage</a>`) || !strings.Contains(string(index), "not tested") {
		t.Errorf("index after --function triage:\n%s", index)
	}

	out, err = runPaw(t, append(args, "--json")...)
	if exitCode(err) != exitFailure || !errors.Is(err, eval.ErrGate) || !strings.Contains(err.Error(), "intent: ") ||
		!strings.Contains(err.Error(), "latency p95 (ms)") || strings.Contains(err.Error(), "triage") {
		t.Fatalf("a failing gate of intent: exit %d, %v", exitCode(err), err)
	}
	lines := decodeLines[funcOutput](t, out)
	if len(lines) != 2 || lines[0].Function != "triage" || !lines[0].Passed || lines[1].Function != "intent" || lines[1].Passed ||
		len(lines[1].FailedGates) != 1 || lines[1].LockEntry == nil || lines[1].ProgramID != lock.Functions["intent"].ProgramID {
		t.Errorf("paw test --json: %s", out)
	}
	if r := readReport(t, dir, "intent"); r["passed"] != false || r["program_id"] != lock.Functions["intent"].ProgramID {
		t.Errorf("intent.json = %v", r)
	}
	index, _ = os.ReadFile(filepath.Join(reports, IndexFile))
	for _, want := range []string{`<a href="triage.html">triage</a>`, `<a href="intent.html">intent</a>`, "bob", `<span class="fail">failed</span>`} {
		if !strings.Contains(string(index), want) {
			t.Errorf("index lacks %q:\n%s", want, index)
		}
	}
	for _, name := range []string{"triage.html", "intent.html"} {
		if page, err := os.ReadFile(filepath.Join(reports, name)); err != nil || !strings.Contains(string(page), "paw test: "+strings.TrimSuffix(name, ".html")) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// intent's cases break: its run fails, its report stays as it was, the
	// others are replaced whole, and no temporary file is left.
	before, _ := os.ReadFile(filepath.Join(reports, "intent.json"))
	intentCases := filepath.Join(dir, "cases", "intent.jsonl")
	good, _ := os.ReadFile(intentCases)
	os.WriteFile(intentCases, []byte("not JSON\n"), 0o644)
	if _, err := runPaw(t, args...); err == nil || !strings.Contains(err.Error(), "intent: ") || !strings.Contains(err.Error(), "intent.jsonl") {
		t.Errorf("a run with broken intent cases: %v", err)
	}
	os.WriteFile(intentCases, good, 0o644)
	if after, _ := os.ReadFile(filepath.Join(reports, "intent.json")); string(after) != string(before) {
		t.Error("a failed run changed intent.json")
	}
	ents, _ := os.ReadDir(reports)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != "[index.html intent.html intent.json triage.html triage.json]" {
		t.Errorf("report folder holds %v", names)
	}

	// Expiry fails the run, naming function and owner; --allow-expired passes.
	writeProject(t, dir, "2020-01-01")
	_, err = runPaw(t, append(args, "--function", "triage")...)
	if exitCode(err) != exitFailure || !strings.Contains(fmt.Sprint(err), "triage (owner alice) expired on 2020-01-01") {
		t.Errorf("an expired function: exit %d, %v", exitCode(err), err)
	}
	if r := readReport(t, dir, "triage"); r["expired"] != true || r["expires"] != "2020-01-01" {
		t.Errorf("triage.json of an expired function: expired %v, expires %v", r["expired"], r["expires"])
	}
	if out, err := runPaw(t, append(args, "--function", "triage", "--allow-expired")...); err != nil || !strings.Contains(out, "2020-01-01 EXPIRED") {
		t.Errorf("--allow-expired: %v\n%s", err, out)
	}

	// A function not built names itself and says to run paw build.
	manifest, _ := os.ReadFile(filepath.Join(dir, library.ManifestFile))
	os.WriteFile(filepath.Join(dir, library.ManifestFile), append(manifest, "  - name: summary\n    spec: Summarize.\n    owner: carol\n"...), 0o644)
	if _, err := runPaw(t, args...); !errors.Is(err, library.ErrNotBuilt) || !strings.Contains(err.Error(), "summary: ") ||
		!strings.Contains(err.Error(), "run paw build") {
		t.Errorf("a function not built: %v", err)
	}
	if _, err := runPaw(t, "test", "--dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--program REF, or start a project with paw init") {
		t.Errorf("paw test without paw.yaml: %v", err)
	}
	if _, err := runPaw(t, append(args, "--function", "nope")...); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--function nope") {
		t.Errorf("--function of no function: %v", err)
	}
}

// TestLibraryTestRecord: --record stores each result on the registry's
// version of the locked program, so paw fn promote takes a passing version
// without --force and refuses a failing one; before paw fn import it says
// to run it.
func TestLibraryTestRecord(t *testing.T) {
	dir, base := libProject(t, "2099-01-01")
	t.Setenv("PAW_REGISTRY", filepath.Join(t.TempDir(), "registry.db"))
	args := []string{"test", "--dir", dir, "--model", base, "--max-tokens", "4", "--record"}
	_, err := runPaw(t, append(args, "--function", "triage")...)
	if err == nil || !strings.Contains(err.Error(), "--record triage") || !strings.Contains(err.Error(), "paw fn import "+filepath.Join(dir, library.LockFile)) {
		t.Fatalf("--record before paw fn import: %v", err)
	}
	if _, err := runPaw(t, "fn", "import", filepath.Join(dir, library.LockFile)); err != nil {
		t.Fatal(err)
	}
	out, err := runPaw(t, args...)
	if !errors.Is(err, eval.ErrGate) || !strings.Contains(out, "recorded on triage@v1 (passed: true)") || !strings.Contains(out, "recorded on intent@v1 (passed: false)") {
		t.Fatalf("paw test --record: %v\n%s", err, out)
	}
	if out, err := runPaw(t, "fn", "promote", "triage@v1"); err != nil || out != "triage@v1 is live\n" {
		t.Errorf("promote of a passing version: %q, %v", out, err)
	}
	if _, err := runPaw(t, "fn", "promote", "intent@v1"); !errors.Is(err, registry.ErrGatesFailed) {
		t.Errorf("promote of a failing version: %v", err)
	}
	var d registry.Detail
	out, err = runPaw(t, "fn", "show", "intent", "--json")
	if err != nil || json.Unmarshal([]byte(out), &d) != nil || len(d.Versions) != 1 || d.Versions[0].Test == nil {
		t.Fatalf("paw fn show intent: %v\n%s", err, out)
	}
	var rec funcOutput
	if err := json.Unmarshal(d.Versions[0].Test.Result, &rec); err != nil || rec.Function != "intent" || rec.Report == nil || rec.ProgramID != d.Versions[0].ProgramID {
		t.Errorf("recorded result: %v, %+v", err, rec)
	}
}

// TestLibraryTestBaseline: a function's baseline in paw.yaml scores the
// hosted model beside the program, prompted with its spec and labels, and
// its answers are cached.
func TestLibraryTestBaseline(t *testing.T) {
	dir, base := libProject(t, "2099-01-01")
	t.Setenv("LIB_BASELINE_KEY", "k-9")
	srv, requests, system := chatServer(t, "k-9", "calm")
	manifest, _ := os.ReadFile(filepath.Join(dir, library.ManifestFile))
	manifest = []byte(strings.Replace(string(manifest), "owner: alice\n",
		"owner: alice\n    baseline: {url: "+srv.URL+"/v1, model: gpt-test, api_key_env: LIB_BASELINE_KEY}\n", 1))
	os.WriteFile(filepath.Join(dir, library.ManifestFile), manifest, 0o644)
	for run := range 2 {
		out, err := runPaw(t, "test", "--dir", dir, "--model", base, "--max-tokens", "4", "--function", "triage", "--json")
		if err != nil {
			t.Fatal(err)
		}
		lines := decodeLines[funcOutput](t, out)
		if b := lines[0].Baseline; b == nil || b.Model != "gpt-test" || b.N != 3 || b.Accuracy != 2.0/3 || b.InvalidRate != 0 {
			t.Errorf("run %d: baseline %+v", run+1, b)
		}
		if n := requests.Load(); n != 3 {
			t.Errorf("run %d: %d requests, want 3 (the first run's only)", run+1, n)
		}
	}
	if s, _ := system.Load().(string); !strings.Contains(s, "Say whether the log line is urgent.") || !strings.Contains(s, "urgent | calm") {
		t.Errorf("system prompt %q lacks the spec or the labels", s)
	}
	if r := readReport(t, dir, "triage"); r["baseline"] == nil {
		t.Error("triage.json has no baseline")
	}
}

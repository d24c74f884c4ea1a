package library

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/program"
)

// TestLockFormat: the lock is sorted JSON, one field per line, ending in a
// newline, and reads back to the same value.
func TestLockFormat(t *testing.T) {
	l := NewLock()
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	l.Functions["zeta"] = &LockEntry{ProgramID: "0123456789abcdef0123", AdapterSHA256: "aa", Compiler: "c", SpecHash: "sha256:1", BuiltAt: at}
	l.Functions["alpha"] = &LockEntry{ProgramID: "fedcba98765432100123", AdapterSHA256: "bb", Compiler: "c",
		CompilerSnapshot: "c@1", SpecHash: "sha256:2", BuiltAt: at}
	const want = `{
  "version": 1,
  "functions": {
    "alpha": {
      "program_id": "fedcba98765432100123",
      "adapter_sha256": "bb",
      "compiler": "c",
      "compiler_snapshot": "c@1",
      "spec_hash": "sha256:2",
      "built_at": "2026-11-30T10:00:00Z"
    },
    "zeta": {
      "program_id": "0123456789abcdef0123",
      "adapter_sha256": "aa",
      "compiler": "c",
      "spec_hash": "sha256:1",
      "built_at": "2026-11-30T10:00:00Z"
    }
  }
}
`
	path := filepath.Join(t.TempDir(), LockFile)
	if err := WriteLock(path, l); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("lock (-want +got):\n%s", diff)
	}
	back, err := ReadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	empty, err := NewLock().Marshal()
	if err != nil || string(empty) != "{\n  \"version\": 1,\n  \"functions\": {}\n}\n" {
		t.Errorf("empty lock = %q, %v", empty, err)
	}
}

func TestReadLock(t *testing.T) {
	dir := t.TempDir()
	if l, err := ReadLock(filepath.Join(dir, "none")); err != nil || len(l.Functions) != 0 {
		t.Errorf("missing lock = %v, %v; want an empty lock", l, err)
	}
	for name, data := range map[string]string{
		"not json":      "{",
		"other version": `{"version": 2, "functions": {}}`,
		"unknown field": `{"version": 1, "functions": {}, "extra": 1}`,
		"no program":    `{"version": 1, "functions": {"f": {"spec_hash": "x"}}}`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(data), 0o644)
		if _, err := ReadLock(path); !errors.Is(err, ErrLock) {
			t.Errorf("%s: err = %v, want ErrLock", name, err)
		}
	}
}

// TestSpecHash: the hash covers spec, contract, compiler and interpreter,
// and nothing else.
func TestSpecHash(t *testing.T) {
	load := func(fn string) *Function {
		t.Helper()
		m, err := Parse([]byte("functions:\n  - name: f\n    owner: me\n"+fn), filepath.Join("testdata", "project", ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		return m.Functions[0]
	}
	base := SpecHash(load("    spec: Triage\n    labels: [a, b]\n"))
	same := map[string]string{
		"owner, scope, gates, cases": "    spec: Triage\n    labels: [a, b]\n    scope: {use: x}\n    gates: {min_accuracy: 0.5}\n    cases: cases/intent.jsonl\n",
		"interpreter spelled out":    "    spec: Triage\n    labels: [a, b]\n    interpreter: Qwen/Qwen3-0.6B\n",
		"default compiler named":     "    spec: Triage\n    labels: [a, b]\n    compiler: " + DefaultCompiler + "\n",
	}
	for name, fn := range same {
		if got := SpecHash(load(fn)); got != base {
			t.Errorf("%s changed the hash", name)
		}
	}
	differ := map[string]string{
		"spec":         "    spec: Triage!\n    labels: [a, b]\n",
		"label order":  "    spec: Triage\n    labels: [b, a]\n",
		"no contract":  "    spec: Triage\n",
		"regex":        "    spec: Triage\n    regex: 'a|b'\n",
		"compiler":     "    spec: Triage\n    labels: [a, b]\n    compiler: paw-ft-bs48\n",
		"interpreter":  "    spec: Triage\n    labels: [a, b]\n    interpreter: gpt2\n",
		"local-lora":   "    spec: Triage\n    labels: [a, b]\n    compiler: local-lora\n    base: qwen3-0.6b-q6_k\n",
		"local base":   "    spec: Triage\n    labels: [a, b]\n    compiler: local-lora\n    base: qwen3-0.6b-q8_0\n",
		"local-mapper": "    spec: Triage\n    labels: [a, b]\n    compiler: local-mapper\n",
		"writer cap":   "    spec: Triage\n    labels: [a, b]\n    compiler: local-mapper\n    writer_max_tokens: 300\n",
	}
	seen := map[string]string{base: "base"}
	for name, fn := range differ {
		h := SpecHash(load(fn))
		if prev, dup := seen[h]; dup {
			t.Errorf("%s hashes like %s", name, prev)
		}
		seen[h] = name
	}
	// An inline schema and the same schema in a file hash alike.
	inline := load("    spec: S\n    schema: {type: object, required: [summary], properties: {summary: {type: string}, severity: {enum: [low, high]}}}\n")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.json"), []byte(`{"type":"object","properties":{"severity":{"enum":["low","high"]},"summary":{"type":"string"}},"required":["summary"]}`), 0o644)
	m, err := Parse([]byte("functions:\n  - name: f\n    owner: me\n    spec: S\n    schema: s.json\n"), filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if SpecHash(inline) != SpecHash(m.Functions[0]) {
		t.Error("an inline schema and its file hash differently")
	}
	if inline.Interpreter != program.InterpreterQwen3 {
		t.Errorf("default interpreter = %q", inline.Interpreter)
	}
}

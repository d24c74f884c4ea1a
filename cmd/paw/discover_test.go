package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/discover/discovertest"
	"github.com/paw-dev/paw/library"
)

// writeSynthLog writes a synthetic call log of n calls and returns its path.
func writeSynthLog(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := discovertest.Write(f, discovertest.Config{Calls: n, Seed: 3, Noise: 0.05, Malformed: 0.01, Repeat: 0.1}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDiscoverCLI: the table ranks the busy label templates first and
// names the changed one; --json prints a line per template; flag misuse is
// a usage error.
func TestDiscoverCLI(t *testing.T) {
	log := writeSynthLog(t, 1500)
	out, err := runPaw(t, "discover", log, "--price-per-1k", "0.15")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "RANK  NAME") || !strings.Contains(lines[1], "classify_sentiment_review") ||
		!strings.Contains(lines[2], "customer_subject_message") || !strings.Contains(out, "CHANGED") ||
		!strings.Contains(out, "message_spam_ham: replaced by decide_whether_sms (template ") {
		t.Errorf("paw discover:\n%s", out)
	}
	out, err = runPaw(t, "discover", log, "--json", "--top", "2")
	if err != nil {
		t.Fatal(err)
	}
	ts := decodeLines[discoverOutput](t, out)
	if len(ts) != 2 || ts[0].Rank != 1 || ts[0].Output != "labels" || len(ts[0].Labels) != 3 || ts[0].Slots[0] != "review" {
		t.Errorf("paw discover --json --top 2:\n%s", out)
	}
	for _, args := range [][]string{
		{"discover"},
		{"discover", log, "--format", "csv"},
		{"discover", log, "--to", "x.yaml"},
		{"discover", log, "--export", "nope"},
		{"discover", log, "--export", "classify_sentiment_review", "--holdout", "1"},
	} {
		if _, err := runPaw(t, args...); exitCode(err) != exitUsage {
			t.Errorf("paw %s: exit %d (%v), want a usage error", strings.Join(args, " "), exitCode(err), err)
		}
	}
}

// TestDiscoverExport: an exported template round-trips: the paw.yaml passes
// the library's strict loader, builds against a stand-in hub, and paw test
// runs its cases on the fixture program with the logged model (a stand-in
// server) as the baseline.
func TestDiscoverExport(t *testing.T) {
	dir, base := libProject(t, "2099-01-01")
	t.Setenv("OPENAI_API_KEY", "k-1")
	srv, requests, _ := chatServer(t, "k-1", "positive")
	log := writeSynthLog(t, 600)
	manifest := filepath.Join(dir, library.ManifestFile)
	out, err := runPaw(t, "discover", log, "--export", "classify_sentiment_review", "--as", "sentiment", "--to", manifest,
		"--baseline-url", srv.URL+"/v1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	e := decodeLines[exportOutput](t, out)
	if len(e) != 1 || e[0].Function != "sentiment" || e[0].NCases == 0 || e[0].NTraining <= e[0].NCases {
		t.Fatalf("export: %s", out)
	}
	if exs, unlabeled, err := readExamples(e[0].Training); err != nil || len(exs) != e[0].NTraining || len(unlabeled) != 0 {
		t.Errorf("the training file as paw compile --local reads it: %d examples, %d unlabeled, %v", len(exs), len(unlabeled), err)
	}
	m, err := library.Load(manifest)
	if err != nil {
		t.Fatalf("the exported manifest does not load: %v", err)
	}
	if f := m.Function("sentiment"); f == nil || len(f.Contract.Labels) != 3 || f.Baseline.Model != "gpt-4o-mini" || len(m.Functions) != 3 {
		t.Fatalf("manifest: %+v", m.Functions)
	}
	if out, err := runPaw(t, "build", "--dir", dir); err != nil || !strings.Contains(out, "1 built") {
		t.Fatalf("paw build: %q, %v", out, err)
	}
	out, err = runPaw(t, "test", "--dir", dir, "--function", "sentiment", "--model", base, "--max-tokens", "4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	r := decodeLines[map[string]any](t, out)
	bl, _ := r[0]["baseline"].(map[string]any)
	if len(r) != 1 || r[0]["function"] != "sentiment" || r[0]["n"] != float64(e[0].NCases) || bl == nil || requests.Load() != int64(e[0].NCases) {
		t.Errorf("paw test of the export (%d baseline requests): %s", requests.Load(), out)
	}
	if _, err := runPaw(t, "discover", log, "--export", "classify_sentiment_review", "--as", "sentiment", "--to", manifest); err == nil ||
		!strings.Contains(err.Error(), "already has a function sentiment") {
		t.Errorf("a second export of one name: %v", err)
	}
}

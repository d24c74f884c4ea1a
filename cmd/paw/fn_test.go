package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/library"
	"github.com/paw-dev/paw/registry"
)

// TestFn drives the registry through `paw fn`: add, import of two paw.lock
// files, promote refused without a test and forced with a reason,
// rollback, retire, and the --json forms of list, show and log.
func TestFn(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PAW_CACHE_DIR", dir)
	t.Setenv("PAW_REGISTRY", filepath.Join(dir, "reg", "registry.db"))
	t.Setenv("USER", "tester")
	paw := func(args ...string) string {
		t.Helper()
		out, err := runPaw(t, append([]string{"fn"}, args...)...)
		if err != nil {
			t.Fatalf("paw fn %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	pawErr := func(args ...string) string {
		t.Helper()
		_, err := runPaw(t, append([]string{"fn"}, args...)...)
		if err == nil {
			t.Fatalf("paw fn %s succeeded", strings.Join(args, " "))
		}
		return err.Error()
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := write("cases.jsonl", `{"input":"disk full","output":"true"}`+"\n")
	paw("add", "triage", "--owner", "alice", "--scope", "ops logs only", "--expires", "2020-01-01",
		"--cases", cases, "--gates", `{"min_accuracy":0.9}`)
	paw("add", "intent", "--owner", "bob")
	writeLock := func(name string, entries map[string]*library.LockEntry) string {
		t.Helper()
		l := library.NewLock()
		l.Functions = entries
		p := filepath.Join(dir, name)
		if err := library.WriteLock(p, l); err != nil {
			t.Fatal(err)
		}
		return p
	}
	built := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	lock1 := writeLock("paw.lock", map[string]*library.LockEntry{
		"triage": {ProgramID: "p1", AdapterSHA256: "aa", Compiler: "c", CompilerSnapshot: "c1", SpecHash: "s1", BuiltAt: built},
		"intent": {ProgramID: "p2", Compiler: "c", SpecHash: "s2", BuiltAt: built},
	})
	if out := paw("import", lock1); out != "intent@v1 registered\ntriage@v1 registered\n" {
		t.Errorf("import said %q", out)
	}
	lock2 := writeLock("paw2.lock", map[string]*library.LockEntry{
		"triage": {ProgramID: "p1b", Compiler: "c", SpecHash: "s1b", BuiltAt: built},
		"intent": {ProgramID: "p2", Compiler: "c", SpecHash: "s2", BuiltAt: built},
	})
	if out := paw("import", lock2); out != "intent@v1 already registered\ntriage@v2 registered\n" {
		t.Errorf("second import said %q", out)
	}

	if msg := pawErr("promote", "triage@v1"); !strings.Contains(msg, "no test result") || !strings.Contains(msg, "--force") {
		t.Errorf("untested promote: %s", msg)
	}
	if msg := pawErr("promote", "triage@v1", "--force"); !strings.Contains(msg, "needs a reason") {
		t.Errorf("force without reason: %s", msg)
	}
	paw("promote", "triage@v1", "--force", "--reason", "first deploy")
	paw("promote", "triage@v2", "--force", "--reason", "spec fix", "--actor", "carol")
	if out := paw("rollback", "triage", "--reason", "regression"); out != "triage@v1 is live\n" {
		t.Errorf("rollback said %q", out)
	}

	fs := decodeLines[registry.Function](t, paw("list", "--json"))
	if len(fs) != 2 || fs[1].Name != "triage" || !fs[1].Expired || fs[1].Live != 1 || fs[0].Expired {
		t.Errorf("list --json = %+v", fs)
	}
	if out := paw("list"); !strings.Contains(out, "EXPIRED") {
		t.Errorf("list does not mark the expired function:\n%s", out)
	}
	// What paw serve wrote back: show prints the rates, --json carries them.
	reg, err := registry.Open(context.Background(), os.Getenv("PAW_REGISTRY"))
	if err != nil {
		t.Fatal(err)
	}
	err = reg.AddServeStats(context.Background(), []registry.StatsDelta{{Function: "triage", Version: 1,
		ServeStats: registry.ServeStats{Calls: 40, Fallbacks: 5, ShadowCompared: 8, ShadowAgreed: 6}}})
	reg.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out := paw("show", "triage"); !strings.Contains(out, "CALLS") || !strings.Contains(out, "12.5%") || !strings.Contains(out, "75.0% of 8") {
		t.Errorf("show lacks the serve stats:\n%s", out)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(paw("show", "triage", "--json")), &d); err != nil {
		t.Fatal(err)
	}
	if d["owner"] != "alice" || d["cases_hash"] == "" || d["live"] != 1.0 || len(d["versions"].([]any)) != 2 {
		t.Errorf("show --json = %v", d)
	}
	if s, _ := d["versions"].([]any)[0].(map[string]any)["serve"].(map[string]any); s["fallback_rate"] != 0.125 || s["agreement_rate"] != 0.75 {
		t.Errorf("show --json serve stats = %v", s)
	}
	es := decodeLines[registry.Entry](t, paw("log", "triage", "--json"))
	var got []string
	for _, e := range es {
		if e.From != e.To {
			got = append(got, e.Action+" "+e.Actor+" "+e.Reason)
		}
	}
	want := []string{"force-promote tester first deploy", "force-promote carol spec fix", "rollback tester regression"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}

	paw("retire", "intent", "--reason", "unused")
	if msg := pawErr("promote", "intent@v1", "--force", "--reason", "x"); !strings.Contains(msg, "retired") || !strings.Contains(msg, "bob") {
		t.Errorf("promote of a retired function: %s", msg)
	}
	if out := paw("show", "intent"); !strings.Contains(out, "retired") {
		t.Errorf("show of a retired function:\n%s", out)
	}
	if msg := pawErr("import", write("bad.lock", `{"version": 1, "functions": {"x": {"spec_hash": "s"}}}`)); !strings.Contains(msg, "program_id") {
		t.Errorf("lock without program_id: %s", msg)
	}
}

package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/compile/hosted"
	"github.com/paw-dev/paw/examples/triage/fuzzy"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/library"
)

// update rewrites paw.lock and the generated package from a stand-in build
// (go test ./examples/triage -update, with cgo.mk's flags); the test binary
// holds the package as it was, so run the test again to check the new one.
var update = flag.Bool("update", false, "rewrite paw.lock and fuzzy/ from a stand-in build")

// builtAt is the time the stand-in build stamps, so that a rebuild gives
// the committed paw.lock byte for byte.
var builtAt = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// TestExample builds the example against the stand-in hub as paw build
// does, from no lock: the lock it writes is the committed paw.lock, and the
// committed package is what paw gen go writes for it. Then the program's
// triage runs on the fixture programs and returns typed values.
func TestExample(t *testing.T) {
	ctx := context.Background()
	m, err := library.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	srv := fixturetest.StandInHub(t, builtAt)
	cache := t.TempDir()
	h := &hub.Client{Dir: cache, BaseURL: srv.URL, NoFallback: true, Retries: -1}
	b := &library.Builder{Compiler: &hosted.Compiler{BaseURL: srv.URL, Retries: -1}, Fetch: h.PullProgram,
		Now: func() time.Time { return builtAt }}
	lock, _, err := b.Build(ctx, library.NewPlan(m, library.NewLock()))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	lockBytes, err := lock.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gen, err := library.Generate(m, lock, library.GenOptions{Package: "fuzzy"})
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := library.WriteLock(library.LockFile, lock); err != nil {
			t.Fatal(err)
		}
		for name, src := range gen {
			if err := os.WriteFile(filepath.Join("fuzzy", name), src, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if committed, err := os.ReadFile(library.LockFile); err != nil || !bytes.Equal(committed, lockBytes) {
		t.Errorf("a build from scratch differs from the committed %s (%v):\n%s", library.LockFile, err, lockBytes)
	}
	for name, src := range gen {
		if committed, err := os.ReadFile(filepath.Join("fuzzy", name)); err != nil || !bytes.Equal(committed, src) {
			t.Errorf("fuzzy/%s differs from what paw gen go writes (%v); regenerate it", name, err)
		}
	}
	h.Offline = true
	if err := library.Verify(ctx, m, lock, h.PullProgram); err != nil {
		t.Errorf("paw build --offline: %v", err)
	}

	cfg, _ := fixture.Preset("qwen3-tiny")
	eng, err := paw.Open(ctx, paw.Options{CacheDir: cache, Offline: true, Model: fixturetest.Cached(t, "qwen3-tiny", cfg)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	lib, err := fuzzy.Open(ctx, eng, lockFile)
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	lines := []string{
		"GET /checkout 502 Bad Gateway upstream=payments",
		"{'level': 'error', 'service': 'payments', 'message': 'card declined',}",
		"support: I was charged twice for my March invoice",
	}
	reports, err := triage(ctx, lib, lines)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		t.Logf("%+v", r)
	}
	if len(reports) != len(lines) {
		t.Fatalf("%d reports for %d lines", len(reports), len(lines))
	}
	actions := []fuzzy.LogTriage{fuzzy.LogTriagePage, fuzzy.LogTriageTicket, fuzzy.LogTriageIgnore}
	for i, r := range reports[:2] {
		if !slices.Contains(actions, r.Action) || r.Confidence <= 0 || r.Confidence > 1 || r.Intent != "" {
			t.Errorf("log line %d: %+v, want one of %v with its probability", i, r, actions)
		}
	}
	if rec := reports[1].Record; rec == nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, string(rec.Level)) {
		t.Errorf("the almost-JSON line was not repaired into a record with a level: %+v", reports[1])
	}
	intents := []fuzzy.Intent{fuzzy.IntentBilling, fuzzy.IntentBugReport, fuzzy.IntentAccount, fuzzy.IntentOther}
	if r := reports[2]; !slices.Contains(intents, r.Intent) || r.Action != "" {
		t.Errorf("support message: %+v, want one of %v", r, intents)
	}
}

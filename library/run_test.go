package library

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
)

// runManifest has one function of each kind the generator knows.
const runManifest = `functions:
  - name: alert
    spec: Is this log line worth paging for?
    labels: [true, false]
    owner: sre
  - name: intent
    spec: What does the customer want?
    labels: [billing, bug, other]
    owner: support
  - name: order_id
    spec: Extract the order id.
    regex: 'ORD-[0-9]{6}'
    owner: commerce
  - name: ticket
    spec: Route the ticket.
    owner: platform
    schema:
      type: object
      properties:
        team: {enum: [infra, billing]}
        urgent: {type: boolean}
      required: [team, urgent]
  - name: echo
    spec: Repeat the input.
    owner: me
`

// runMain calls every method of the generated package and prints the
// typed results as JSON; the var declarations pin the methods' types.
const runMain = `package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/library/DIR/fuzzy"
)

func main() {
	ctx := context.Background()
	eng, err := paw.Open(ctx, paw.Options{CacheDir: os.Args[1], Model: os.Args[2], Offline: true, Threads: 1})
	check(err)
	defer eng.Close()
	lib, err := fuzzy.OpenFile(ctx, eng, os.Args[3])
	check(err)
	defer lib.Close()
	var alert bool
	var alertProbs map[bool]float64
	alert, alertProbs, err = lib.Alert(ctx, "GET /checkout 502")
	check(err)
	var intent fuzzy.Intent
	var intentProbs map[fuzzy.Intent]float64
	intent, intentProbs, err = lib.Intent(ctx, "I was charged twice")
	check(err)
	var order string
	order, err = lib.OrderID(ctx, "where is my order?")
	check(err)
	var ticket fuzzy.Ticket
	ticket, err = lib.Ticket(ctx, "the server is down")
	check(err)
	var echo string
	echo, err = lib.Echo(ctx, "hello", paw.WithMaxTokens(4))
	check(err)
	check(json.NewEncoder(os.Stdout).Encode(map[string]any{
		"alert": alert, "alert_probs": map[string]float64{"true": alertProbs[true], "false": alertProbs[false]},
		"intent": intent, "intent_probs": intentProbs, "order": order, "ticket": ticket, "echo": echo,
		"labels": []fuzzy.Intent{fuzzy.IntentBilling, fuzzy.IntentBug, fuzzy.IntentOther},
	}))
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
`

// TestGeneratedCodeRuns builds a project on fixture programs, generates
// its package, and runs a program that calls every method: each returns
// its typed value within its contract.
func TestGeneratedCodeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a cgo program")
	}
	if !strings.Contains(os.Getenv("CGO_CPPFLAGS"), "llama") {
		t.Skip("needs cgo.mk's flags to build the root package: run through make test")
	}
	cfg, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	proj, cache := t.TempDir(), t.TempDir()
	manifest := filepath.Join(proj, ManifestFile)
	if err := os.WriteFile(manifest, []byte(runManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(manifest)
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHub(t)
	h.dir = filepath.Join(cache, "programs") // where the engine's hub looks
	if err := os.Mkdir(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, lock, err := build(t, m, h.builder(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(m, lock, GenOptions{Package: "fuzzy"})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Mkdir(filepath.Join(dir, "fuzzy"), 0o755)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, "fuzzy", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := strings.Replace(runMain, "DIR", filepath.ToSlash(dir), 1)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./"+dir, cache, base, filepath.Join(proj, LockFile))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the generated library: %v", err)
	}
	var got struct {
		Alert       bool
		AlertProbs  map[string]float64 `json:"alert_probs"`
		Intent      string
		IntentProbs map[string]float64 `json:"intent_probs"`
		Order       string
		Ticket      struct {
			Team   *string
			Urgent *bool
		}
		Echo   *string
		Labels []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("%s", out)
	if p := got.AlertProbs["true"] + got.AlertProbs["false"]; math.Abs(p-1) > 1e-6 || got.Alert != (got.AlertProbs["true"] > got.AlertProbs["false"]) {
		t.Errorf("alert %v with probabilities %v", got.Alert, got.AlertProbs)
	}
	if !slices.Equal(got.Labels, []string{"billing", "bug", "other"}) || !slices.Contains(got.Labels, got.Intent) || len(got.IntentProbs) != 3 {
		t.Errorf("intent %q with probabilities %v (labels %v)", got.Intent, got.IntentProbs, got.Labels)
	}
	if !regexp.MustCompile(`^ORD-[0-9]{6}$`).MatchString(got.Order) {
		t.Errorf("order id %q does not match its regex", got.Order)
	}
	if got.Ticket.Team == nil || (*got.Ticket.Team != "infra" && *got.Ticket.Team != "billing") || got.Ticket.Urgent == nil {
		t.Errorf("ticket %s does not fit its schema", out)
	}
	if got.Echo == nil {
		t.Error("no free-text answer")
	}
}

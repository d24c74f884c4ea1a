package lora_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
)

// checkpoints lists the checkpoint files under dir.
func checkpoints(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*", "checkpoint.gob"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestResume interrupts a compile (its context cancelled after step 7 of
// 12, as Ctrl-C does), then runs it again: no program comes out of the
// interrupted run, its checkpoint survives, and the second run resumes at
// step 7 and ends with the losses and weights of an uninterrupted run.
func TestResume(t *testing.T) {
	cfg, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	exs := []lora.Example{{"red", "warm"}, {"blue", "cold"}, {"orange", "warm"}, {"teal", "cold"},
		{"yellow", "warm"}, {"navy", "cold"}, {"pink", "warm"}, {"grey", "cold"}}
	opts := func(dir string) lora.Options {
		return lora.Options{Base: base, Template: program.Template{Prefix: "Colour: ", Suffix: "\nWarm or cold?"}, Rank: 8,
			Epochs: 3, BatchSize: 2, LR: 1e-2, Threads: 1, Seed: 3, CheckpointDir: dir, CheckpointEvery: 5}
	}
	whole, err := lora.Train(context.Background(), opts(t.TempDir()), exs[:6], exs[6:])
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	o := opts(dir)
	o.Progress = func(p lora.Progress) {
		if p.Step == 7 {
			cancel()
		}
	}
	c := &lora.Compiler{Options: o, Examples: exs[:6], HeldOut: exs[6:], PseudoBudget: -1}
	if res, err := c.Compile(ctx, compile.Request{Spec: "warm or cold?"}); !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("interrupted compile: %v, %v", res, err)
	}
	if got := checkpoints(t, dir); len(got) != 1 {
		t.Fatalf("checkpoints after the interruption: %v, want one", got)
	}

	resumed, err := lora.Train(context.Background(), opts(dir), exs[:6], exs[6:])
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedAt != 7 || len(resumed.Losses) != len(whole.Losses) {
		t.Fatalf("resumed at step %d with %d losses; want 7 and %d", resumed.ResumedAt, len(resumed.Losses), len(whole.Losses))
	}
	for i := range whole.Losses {
		if math.Abs(resumed.Losses[i]-whole.Losses[i]) > 1e-4*math.Max(1, whole.Losses[i]) {
			t.Errorf("step %d: loss %.6f resumed, %.6f uninterrupted", i+1, resumed.Losses[i], whole.Losses[i])
		}
	}
	for i, tw := range whole.Adapter.Tensors {
		for j, w := range tw.Data {
			if d := math.Abs(float64(resumed.Adapter.Tensors[i].Data[j] - w)); d > 1e-4 {
				t.Fatalf("%s[%d]: %g resumed, %g uninterrupted", tw.Name, j, resumed.Adapter.Tensors[i].Data[j], w)
			}
		}
	}
	if len(resumed.Curve) != len(whole.Curve) || resumed.Accuracy != whole.Accuracy {
		t.Errorf("curve %v, accuracy %v; uninterrupted %v, %v", resumed.Curve, resumed.Accuracy, whole.Curve, whole.Accuracy)
	}
	if got := checkpoints(t, dir); len(got) != 0 {
		t.Errorf("checkpoints left after the compile ended: %v", got)
	}
	// Other data is another compile: it does not resume this one's state.
	o = opts(dir)
	o.Epochs = 1
	o.Progress = func(p lora.Progress) {
		if p.Resumed != 0 {
			t.Errorf("a different compile resumed at step %d", p.Resumed)
		}
	}
	if _, err := lora.Train(context.Background(), o, exs[:4], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Error(err)
	}
}

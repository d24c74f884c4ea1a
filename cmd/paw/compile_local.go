package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/internal/config"
)

// localFlags are `paw compile --local`'s options: LoRA training on this
// machine instead of the hosted service.
type localFlags struct {
	enabled         bool
	examples, model string
	out             string
	rank, epochs    int
	alpha, lr       float64
	holdOut         float64
	batch, threads  int
	seed            uint64
	targets         []string
}

func (l *localFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&l.enabled, "local", false, "compile on this machine by LoRA training (needs --examples and --model)")
	f.StringVar(&l.examples, "examples", "", "with --local: JSONL file of {\"input\": ..., \"output\": ...} examples")
	f.StringVar(&l.model, "model", "", "with --local: the base model GGUF to train on")
	f.StringVar(&l.out, "out", "", "with --local: write the program here (default: PROGRAM_ID.paw)")
	f.IntVar(&l.rank, "rank", lora.DefaultRank, "with --local: LoRA rank")
	f.Float64Var(&l.alpha, "alpha", lora.DefaultAlpha, "with --local: LoRA alpha")
	f.IntVar(&l.epochs, "epochs", lora.DefaultEpochs, "with --local: passes over the examples")
	f.Float64Var(&l.lr, "lr", lora.DefaultLR, "with --local: peak learning rate")
	f.IntVar(&l.batch, "batch", lora.DefaultBatchSize, "with --local: examples per optimizer step")
	f.IntVar(&l.threads, "threads", 0, "with --local: training threads (0: every core)")
	f.Uint64Var(&l.seed, "seed", 0, "with --local: seed of the initial adapter and the shuffling")
	f.StringArrayVar(&l.targets, "targets", nil, "with --local: block projection to adapt, such as attn_q (repeatable; default: every projection)")
	f.Float64Var(&l.holdOut, "holdout", 0.2, "with --local: fraction of the examples held out to measure accuracy (with 10 or more)")
}

// runLocal compiles spec with the local LoRA compiler and writes the .paw.
func runLocal(cmd *cobra.Command, cfg *config.Config, spec string, l localFlags, asJSON bool) error {
	if l.examples == "" || l.model == "" {
		return usagef("--local needs --examples FILE and --model BASE.gguf")
	}
	exs, err := readExamples(l.examples)
	if err != nil {
		return err
	}
	frac := l.holdOut
	if len(exs) < 10 {
		frac = 0
	}
	train, held := lora.Split(exs, frac)
	stderr := cmd.ErrOrStderr()
	c := &lora.Compiler{Examples: train, HeldOut: held, Options: lora.Options{
		Base: l.model, Rank: l.rank, Alpha: float32(l.alpha), Epochs: l.epochs, LR: float32(l.lr),
		BatchSize: l.batch, Threads: l.threads, Seed: l.seed, Targets: l.targets,
		Progress: func(p lora.Progress) {
			if cfg.Quiet {
				return
			}
			eta := time.Duration(float64(p.Elapsed) / float64(p.Step) * float64(p.Steps-p.Step))
			fmt.Fprintf(stderr, "\rstep %d/%d  loss %.4f  eta %v   ", p.Step, p.Steps, p.Loss, eta.Round(time.Second))
			if p.Step == p.Steps {
				fmt.Fprintln(stderr)
			}
		},
	}}
	res, err := c.Compile(cmd.Context(), compile.Request{Spec: spec})
	if err != nil {
		return err
	}
	out := l.out
	if out == "" {
		out = res.ProgramID + ".paw"
	}
	if err := res.Program.WriteFile(out); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(cmd.OutOrStdout(), compileOutput{ProgramID: res.ProgramID, Status: res.Status, Compiler: res.Compiler,
			CompilerSnapshot: res.CompilerSnapshot, RuntimeID: res.RuntimeID, Timings: res.Timings, Path: out})
	}
	fmt.Fprintln(cmd.OutOrStdout(), res.ProgramID)
	if !cfg.Quiet {
		fmt.Fprintf(stderr, "wrote %s\n", out)
	}
	return nil
}

// readExamples reads JSON lines with "input" and "output" fields.
func readExamples(path string) ([]lora.Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var exs []lora.Example
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ex lora.Example
		if err := json.Unmarshal([]byte(line), &ex); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if ex.Input == "" || ex.Output == "" {
			return nil, fmt.Errorf("%s:%d: an example needs \"input\" and \"output\"", path, n)
		}
		exs = append(exs, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return exs, nil
}

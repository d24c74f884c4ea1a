package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/eval/report"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
	"github.com/paw-dev/paw/upstream"
)

// BaselineDir is the directory under the cache root holding the hosted
// baseline's answers, so reruns send nothing.
const BaselineDir = "upstream"

// testOutput is what `paw test --json` prints: the report's figures (see
// eval.Report), the program, the baseline and the gates that failed.
type testOutput struct {
	Program string `json:"program"`
	*eval.Report
	Baseline    *baselineOutput `json:"baseline,omitempty"`
	FailedGates []string        `json:"failed_gates,omitempty"`
}

// baselineOutput is the hosted model's report on the same cases.
type baselineOutput struct {
	URL   string `json:"url"`
	Model string `json:"model"`
	*eval.Report
	// Agreement is the share of cases where the program and the hosted
	// model answer alike (normalized).
	Agreement float64 `json:"agreement"`
	// CostPer1000 is what 1,000 hosted calls cost at --price-prompt and
	// --price-output: the cost a local program avoids.
	CostPer1000 *float64 `json:"cost_per_1000,omitempty"`
}

// baselineFlags configure the hosted baseline.
type baselineFlags struct {
	url, model, keyEnv       string
	pricePrompt, priceOutput float64
}

// testFlags are paw test's flags.
type testFlags struct {
	harnessFlags
	baseline                                 baselineFlags
	ref                                      string
	fromSpec                                 bool
	repeat                                   int
	temperature                              float32
	seed                                     uint32
	target                                   float64
	minAcc, minAccNorm, maxInvalid, maxP95MS float64
	lib                                      libFlags
}

func newTestCmd(cfg *config.Config) *cobra.Command {
	var t testFlags
	cmd := &cobra.Command{
		Use:   "test [[--program] REF (--cases FILE | --from-spec)]",
		Short: "Score a program, or every function of paw.yaml, on test cases",
		Long: "Score a program on test cases: exact match (raw and normalized), invalid outputs, per-label\n" +
			"precision/recall/F1 and the confusion matrix, per-tag accuracy, latency and tokens, calibration and\n" +
			"the fallback threshold (--target-accuracy). --baseline scores an OpenAI-compatible chat model on the\n" +
			"same cases, prompted with the program's spec; its answers are cached, so reruns send nothing.\n" +
			"Gates (--min-accuracy, --max-invalid, --max-p95-ms) make the exit status 1 when they fail.\n\n" +
			"Without a program, paw test runs every function of DIR/paw.yaml (--function narrows it) on the\n" +
			"program paw.lock pins, with the function's cases, contract, gates and baseline, and writes the\n" +
			"benchmarks beside the functions: DIR/paw-report/ (--report-dir) holds NAME.json (the report and\n" +
			"the lock entry tested) and NAME.html per function and an index.html linking them. The exit status\n" +
			"is 1 when a gate fails or a function is past its expires date (unless --allow-expired). --record\n" +
			"stores each result in the registry on the version paw.lock pins, for paw fn promote.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && t.ref == "" {
				return t.runLibrary(cmd, cfg)
			}
			gates, given, err := t.check(cmd, args)
			if err != nil {
				return err
			}
			out, page, err := t.run(cmd, cfg, given)
			if err != nil {
				return err
			}
			if t.html != "" {
				if err := report.WriteFile(t.html, page); err != nil {
					return err
				}
			}
			gateErr := gates.Check(out.Report)
			out.FailedGates = gateList(gateErr)
			w := cmd.OutOrStdout()
			if t.asJSON {
				err = writeJSON(w, out)
			} else {
				err = writeTestTable(w, out, t.failing)
			}
			return errors.Join(gateErr, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&t.ref, "program", "", "program: .paw file or directory, program id, or slug user/name[@vN]")
	t.register(f)
	t.lib.register(f, cfg)
	f.StringVar(&t.cols.Spec, "spec-col", "", "field or column holding each case's spec: only cases for the program's spec run (default \"spec\", optional)")
	f.BoolVar(&t.fromSpec, "from-spec", false, "take the cases from the Input:/Output: examples of the program's pseudo-program (or spec)")
	f.IntVar(&t.repeat, "repeat", 1, "calls per case; with --temperature above 0 each case gets a consistency rate")
	f.Float32Var(&t.temperature, "temperature", 0, "sampling temperature; 0 = greedy")
	f.Uint32Var(&t.seed, "seed", 0, "first random seed for temperature > 0 (the n-th call of a case uses seed+n)")
	f.Float64Var(&t.target, "target-accuracy", 0, "find the confidence threshold reaching this accuracy with the fewest hosted calls (e.g. 0.98)")
	f.Float64Var(&t.minAcc, "min-accuracy", 0, "gate: fail (exit 1) below this exact-match accuracy")
	f.Float64Var(&t.minAccNorm, "min-accuracy-normalized", 0, "gate: fail below this normalized accuracy")
	f.Float64Var(&t.maxInvalid, "max-invalid", 0, "gate: fail above this invalid-output rate")
	f.Float64Var(&t.maxP95MS, "max-p95-ms", 0, "gate: fail above this latency p95, in milliseconds")
	b := &t.baseline
	f.StringVar(&b.url, "baseline", "", "OpenAI-compatible API root of a hosted model to score side by side (e.g. https://api.openai.com/v1)")
	f.StringVar(&b.model, "baseline-model", "", "the hosted model's name (with --baseline)")
	f.StringVar(&b.keyEnv, "baseline-key-env", "OPENAI_API_KEY", "environment variable holding the hosted model's API key (unset: no key)")
	f.Float64Var(&b.pricePrompt, "price-prompt", 0, "hosted price per million prompt tokens, for the cost avoided per 1,000 calls")
	f.Float64Var(&b.priceOutput, "price-output", 0, "hosted price per million output tokens")
	return cmd
}

// check validates the command line before any file or model is opened; it
// returns the gates asked for and the contract given.
func (t *testFlags) check(cmd *cobra.Command, args []string) (eval.Gates, *schema.Contract, error) {
	var g eval.Gates
	if len(args) == 1 {
		if t.ref != "" {
			return g, nil, usagef("give the program once: as an argument or with --program")
		}
		t.ref = args[0]
	}
	fl := cmd.Flags()
	for _, name := range libraryFlags {
		if fl.Changed(name) {
			return g, nil, usagef("--%s is for paw.yaml's functions: leave out the program", name)
		}
	}
	if t.fromSpec == (t.casesFile != "") {
		return g, nil, usagef("give --cases FILE or --from-spec (one of them)")
	}
	for _, name := range columnFlags {
		if t.fromSpec && fl.Changed(name) {
			return g, nil, usagef("--%s names a column of --cases; --from-spec reads the program's Input:/Output: examples", name)
		}
	}
	if err := t.checkRun(cmd); err != nil {
		return g, nil, err
	}
	g, err := gateFlags(cmd, &t.minAcc, &t.minAccNorm, &t.maxInvalid, &t.maxP95MS)
	if err != nil {
		return g, nil, err
	}
	if err := t.baseline.check(cmd); err != nil {
		return g, nil, err
	}
	given, err := t.harnessFlags.check()
	return g, given, err
}

// checkRun validates how the cases run: sampling, repeats and the
// calibration target.
func (t *testFlags) checkRun(cmd *cobra.Command) error {
	if err := checkSampling(cmd, t.maxTokens, t.temperature); err != nil {
		return err
	}
	if t.repeat < 1 {
		return usagef("--repeat %d: want at least 1", t.repeat)
	}
	if t.repeat > 1 && t.temperature == 0 {
		return usagef("--repeat %d at --temperature 0 gives the same greedy answer every time: give --temperature above 0 to measure consistency", t.repeat)
	}
	if cmd.Flags().Changed("target-accuracy") && !(t.target > 0 && t.target <= 1) {
		return usagef("--target-accuracy %v: want a rate in (0, 1]", t.target)
	}
	return nil
}

// run scores the program (and the baseline, if any) and returns the
// report and its HTML page.
func (t *testFlags) run(cmd *cobra.Command, cfg *config.Config, given *schema.Contract) (testOutput, report.Page, error) {
	var (
		out   testOutput
		page  report.Page
		cases []eval.Case
		err   error
	)
	if !t.fromSpec {
		if cases, err = t.readCases(); err != nil {
			return out, page, err
		}
	}
	eng, err := t.open(cmd, cfg)
	if err != nil {
		return out, page, err
	}
	defer eng.Close()
	fn, err := loadFunction(cmd, eng, t.ref)
	if err != nil {
		return out, page, err
	}
	defer fn.Close()
	if t.fromSpec {
		cases, err = specCases(fn.Program())
	} else {
		cases, err = programCases(cmd, cases, fn.Program())
	}
	if err != nil {
		return out, page, err
	}
	return t.score(cmd, cfg, fn, cases, given, &t.baseline)
}

// score runs fn on cases under the contract given (nil: fn's own) and, when
// b names one, the hosted baseline on the same cases.
func (t *testFlags) score(cmd *cobra.Command, cfg *config.Config, fn *paw.Function, cases []eval.Case, given *schema.Contract,
	b *baselineFlags) (testOutput, report.Page, error) {
	var (
		out  testOutput
		page report.Page
	)
	contract, err := callContract(fn, given)
	if err != nil {
		return out, page, err
	}
	opts := eval.Options{Repeat: t.repeat, Concurrency: t.concurrency, Labels: contractLabels(contract), TargetAccuracy: t.target}
	rep, err := eval.Run(cmd.Context(), newFuncRunner(fn, t.temperature, t.seed, t.callOptions(given)...), cases, opts)
	if err != nil {
		return out, page, err
	}
	out = testOutput{Program: fn.Name(), Report: rep}
	page = report.Page{Name: fn.Name(), Report: rep, Generated: time.Now()}
	if b != nil && b.url != "" {
		opts.Repeat = 1 // the hosted model answers at temperature 0
		if out.Baseline, err = b.run(cmd, cfg, fn, contract, cases, opts, rep); err != nil {
			return out, page, err
		}
		page.Baseline, page.BaselineName = out.Baseline.Report, b.model
		if b.priced(cmd) {
			page.Price = &report.Price{PromptPerMillion: b.pricePrompt, GeneratedPerMillion: b.priceOutput}
		}
	}
	return out, page, nil
}

// gateFlags returns the gates whose flags were given, checked.
func gateFlags(cmd *cobra.Command, minAcc, minAccNorm, maxInvalid, maxP95MS *float64) (eval.Gates, error) {
	var g eval.Gates
	for _, x := range []struct {
		name string
		v    *float64
		dst  **float64
		rate bool
	}{
		{"min-accuracy", minAcc, &g.MinAccuracy, true},
		{"min-accuracy-normalized", minAccNorm, &g.MinAccuracyNormalized, true},
		{"max-invalid", maxInvalid, &g.MaxInvalid, true},
		{"max-p95-ms", maxP95MS, &g.MaxP95MS, false},
	} {
		if !cmd.Flags().Changed(x.name) {
			continue
		}
		if !(*x.v >= 0) || (x.rate && *x.v > 1) {
			return g, usagef("--%s %v: want %s", x.name, *x.v, map[bool]string{true: "a rate in [0, 1]", false: "0 or more"}[x.rate])
		}
		*x.dst = x.v
	}
	return g, nil
}

// check validates the baseline flags before anything runs.
func (b *baselineFlags) check(cmd *cobra.Command) error {
	fl := cmd.Flags()
	if b.url == "" {
		for _, name := range []string{"baseline-model", "baseline-key-env", "price-prompt", "price-output"} {
			if fl.Changed(name) {
				return usagef("--%s configures the hosted baseline: give --baseline URL too", name)
			}
		}
		return nil
	}
	if b.model == "" {
		return usagef("--baseline needs --baseline-model NAME")
	}
	if !(b.pricePrompt >= 0 && b.priceOutput >= 0) {
		return usagef("--price-prompt and --price-output: want 0 or more")
	}
	if fl.Changed("baseline-key-env") && os.Getenv(b.keyEnv) == "" {
		return usagef("--baseline-key-env %s: the variable is not set", b.keyEnv)
	}
	return nil
}

func (b *baselineFlags) priced(cmd *cobra.Command) bool {
	return cmd.Flags().Changed("price-prompt") || cmd.Flags().Changed("price-output")
}

// run scores the hosted model on cases, prompted with fn's spec (and, for a
// labels contract, the labels it must answer with).
func (b *baselineFlags) run(cmd *cobra.Command, cfg *config.Config, fn *paw.Function, contract *schema.Contract,
	cases []eval.Case, opts eval.Options, local *eval.Report) (*baselineOutput, error) {
	prog := fn.Program()
	spec := prog.Meta.Spec
	if spec == "" {
		spec = prog.PseudoProgram
	}
	if labels := contractLabels(contract); labels != nil {
		spec += "\n\nAnswer with exactly one of these labels and nothing else: " + strings.Join(labels, " | ")
	}
	client := &upstream.Client{BaseURL: b.url, Model: b.model, APIKey: os.Getenv(b.keyEnv),
		CacheDir: filepath.Join(cfg.CacheDir, BaselineDir)}
	rep, err := eval.Run(cmd.Context(), upstream.Runner{Client: client, Spec: spec, Valid: validFunc(contract)}, cases, opts)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", b.model, err)
	}
	d, err := eval.Compare(local, rep)
	if err != nil {
		return nil, err
	}
	out := &baselineOutput{URL: b.url, Model: b.model, Report: rep, Agreement: d.Agreement}
	if b.priced(cmd) {
		c := rep.CostPer1000(b.pricePrompt, b.priceOutput)
		out.CostPer1000 = &c
	}
	return out, nil
}

// programCases keeps the cases written for p: a set mixing tasks
// (FuzzyBench rows, each with its spec) runs only the rows whose spec is
// p's, in their order; cases without a spec are kept.
func programCases(cmd *cobra.Command, cases []eval.Case, p *program.Program) ([]eval.Case, error) {
	want := strings.TrimSpace(p.Meta.Spec)
	var kept []eval.Case
	for _, c := range cases {
		if s := strings.TrimSpace(c.Spec); s == "" || s == want {
			kept = append(kept, c)
		}
	}
	switch {
	case len(kept) == 0:
		return nil, fmt.Errorf("%w for this program: all %d cases have a spec other than its spec %q", eval.ErrNoCases, len(cases), want)
	case len(kept) < len(cases):
		fmt.Fprintf(cmd.ErrOrStderr(), "paw test: running the %d of %d cases whose spec is the program's\n", len(kept), len(cases))
	}
	return kept, nil
}

// specCases are the Input:/Output: examples of the program's
// pseudo-program, else of its spec.
func specCases(p *program.Program) ([]eval.Case, error) {
	cases, err := eval.FromSpec(p.PseudoProgram, "pseudo-program")
	if errors.Is(err, eval.ErrNoCases) {
		cases, err = eval.FromSpec(p.Meta.Spec, "spec")
	}
	return cases, err
}

// writeTestTable prints the report for people: the summary, per-label
// figures, the confusion matrix, the failing cases and the baseline.
func writeTestTable(w io.Writer, o testOutput, failing int) error {
	r := o.Report
	rows := []string{
		"program\t" + o.Program,
		fmt.Sprintf("cases\t%d (%d with an expected answer, %d calls)", r.N, r.Scored, r.Calls),
		fmt.Sprintf("accuracy\t%s", pct(r.Accuracy)),
		fmt.Sprintf("normalized\t%s", pct(r.AccuracyNormalized)),
		fmt.Sprintf("invalid\t%s", pct(r.InvalidRate)),
		fmt.Sprintf("latency\tp50 %.1f ms, p95 %.1f ms", r.LatencyMSP50, r.LatencyMSP95),
		fmt.Sprintf("tokens\t%.1f generated per call, %d prompt in all", r.TokensMean, r.PromptTokens),
	}
	if r.Errors > 0 {
		rows = append(rows, fmt.Sprintf("failed calls\t%d", r.Errors))
	}
	if r.Consistency != nil {
		rows = append(rows, "consistency\t"+pct(*r.Consistency))
	}
	if r.ECE != nil {
		rows = append(rows, fmt.Sprintf("ECE\t%.3f", *r.ECE))
	}
	if c := r.Calibration; c != nil && c.Target > 0 {
		if t := c.Threshold; t != nil {
			rows = append(rows, fmt.Sprintf("threshold\t%.3f reaches %s: %d calls stay local, %s go to the hosted model",
				t.Threshold, pct(t.LocalAccuracy), t.Local, pct(t.HostedShare)))
		} else {
			rows = append(rows, "threshold\t"+c.TargetNote)
		}
	}
	for _, g := range o.FailedGates {
		rows = append(rows, "GATE FAILED\t"+g)
	}
	if err := table(w, rows...); err != nil {
		return err
	}
	if len(r.Labels) > 0 {
		rows = []string{"\nlabel\tprecision\trecall\tF1\tsupport\tpredicted"}
		for _, l := range r.Labels {
			s := r.PerLabel[l]
			rows = append(rows, fmt.Sprintf("%s\t%.3f\t%.3f\t%.3f\t%d\t%d", l, s.Precision, s.Recall, s.F1, s.Support, s.Predicted))
		}
		rows = append(rows, "\nexpected \\ answered\t"+strings.Join(r.Labels, "\t"))
		for i, l := range r.Labels {
			row := l
			for _, n := range r.Confusion[i] {
				row += fmt.Sprintf("\t%d", n)
			}
			rows = append(rows, row)
		}
		if err := table(w, rows...); err != nil {
			return err
		}
	}
	if len(r.PerTag) > 0 {
		rows = []string{"\ntag\tcases\taccuracy\tnormalized"}
		for _, tag := range slices.Sorted(maps.Keys(r.PerTag)) {
			s := r.PerTag[tag]
			rows = append(rows, fmt.Sprintf("%s\t%d\t%s\t%s", tag, s.N, pct(s.Accuracy), pct(s.AccuracyNormalized)))
		}
		if err := table(w, rows...); err != nil {
			return err
		}
	}
	if err := writeFailing(w, r.Failing, failing); err != nil {
		return err
	}
	if b := o.Baseline; b != nil {
		return writeBaselineTable(w, r, b)
	}
	return nil
}

// writeFailing lists the first n failing cases.
func writeFailing(w io.Writer, fails []eval.Failure, n int) error {
	if len(fails) == 0 || n == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nfailing cases (%d of %d):\n", min(n, len(fails)), len(fails))
	rows := []string{"case\tinput\texpected\tanswered"}
	for _, f := range fails[:min(n, len(fails))] {
		got := quote(f.Output, 40)
		switch {
		case f.Error != "":
			got = "error: " + f.Error
		case f.Invalid:
			got += " (invalid)"
		case f.NormalizedMatch:
			got += " (matches normalized)"
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s", f.Source, quote(f.Input, 40), quote(f.Expected, 30), got))
	}
	return table(w, rows...)
}

// writeBaselineTable puts the program and the hosted model side by side.
func writeBaselineTable(w io.Writer, r *eval.Report, b *baselineOutput) error {
	fmt.Fprintf(w, "\nagainst %s at %s (agreement %s):\n", b.Model, b.URL, pct(b.Agreement))
	rows := []string{
		"\tprogram\t" + b.Model,
		fmt.Sprintf("accuracy\t%s\t%s", pct(r.Accuracy), pct(b.Accuracy)),
		fmt.Sprintf("normalized\t%s\t%s", pct(r.AccuracyNormalized), pct(b.AccuracyNormalized)),
		fmt.Sprintf("invalid\t%s\t%s", pct(r.InvalidRate), pct(b.InvalidRate)),
		fmt.Sprintf("latency p50\t%.1f ms\t%.1f ms", r.LatencyMSP50, b.LatencyMSP50),
		fmt.Sprintf("latency p95\t%.1f ms\t%.1f ms", r.LatencyMSP95, b.LatencyMSP95),
		fmt.Sprintf("tokens per call\t%.1f\t%.1f", r.TokensMean, b.TokensMean),
		fmt.Sprintf("failed calls\t%d\t%d", r.Errors, b.Errors),
	}
	if b.CostPer1000 != nil {
		rows = append(rows, fmt.Sprintf("cost avoided per 1,000 calls\t\t%.4f", *b.CostPer1000))
	}
	return table(w, rows...)
}

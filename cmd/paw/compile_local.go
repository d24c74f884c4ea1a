package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/interp"
	"github.com/paw-dev/paw/library"
	"github.com/paw-dev/paw/upstream"
)

// localFlags are `paw compile --local`'s options: LoRA training on this
// machine instead of the hosted service.
type localFlags struct {
	enabled              bool
	examples, model      string
	interpreter          string
	out                  string
	rank, epochs         int
	alpha, lr            float64
	holdOut              float64
	batch, threads       int
	seed                 uint64
	targets              []string
	teacher, teacherName string
	teacherKeyEnv        string
	teacherModel         string
	teacherWant          int
	pseudoBudget         int
	checkpointEvery      int
	noReport             bool
	adapterType          string
}

func (l *localFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&l.enabled, "local", false, "compile on this machine by LoRA training (needs examples and --model or --interpreter)")
	f.StringVar(&l.examples, "examples", "", "with --local: JSONL file of {\"input\": ..., \"output\": ...} examples (added to the spec's own Input:/Output: examples)")
	f.StringVar(&l.model, "model", "", "with --local: the base model GGUF to train on")
	f.StringVar(&l.interpreter, "interpreter", "", "with --local: train on this runtime's base model from the cache (e.g. qwen3-0.6b-q6_k) instead of --model")
	f.StringVar(&l.out, "out", "", "with --local: write the program here (default: PROGRAM_ID.paw); the report goes beside it")
	f.IntVar(&l.rank, "rank", lora.DefaultRank, "with --local: LoRA rank")
	f.Float64Var(&l.alpha, "alpha", lora.DefaultAlpha, "with --local: LoRA alpha")
	f.IntVar(&l.epochs, "epochs", lora.DefaultEpochs, "with --local: passes over the examples")
	f.Float64Var(&l.lr, "lr", lora.DefaultLR, "with --local: peak learning rate")
	f.IntVar(&l.batch, "batch", lora.DefaultBatchSize, "with --local: examples per optimizer step")
	f.IntVar(&l.threads, "threads", 0, "with --local: training threads (0: every core)")
	f.Uint64Var(&l.seed, "seed", 0, "with --local: seed of the initial adapter and the shuffling")
	f.StringArrayVar(&l.targets, "targets", nil, "with --local: block projection to adapt, such as attn_q (repeatable; default: every projection)")
	f.Float64Var(&l.holdOut, "holdout", 0.2, "with --local: fraction of the examples held out to measure accuracy (with 10 or more)")
	f.StringVar(&l.teacher, "teacher", "", "with --local: OpenAI-compatible API root of a teacher model that writes examples and the pseudo-program")
	f.StringVar(&l.teacherName, "teacher-name", "", "with --teacher: the teacher model's name")
	f.StringVar(&l.teacherKeyEnv, "teacher-key-env", "OPENAI_API_KEY", "with --teacher: environment variable holding its API key (unset: no key)")
	f.StringVar(&l.teacherModel, "teacher-model", "", "with --local: a local instruct model GGUF, run by paw's engine, as the teacher")
	f.IntVar(&l.teacherWant, "teacher-examples", 200, "with a teacher: examples wanted in all (the teacher writes the missing ones)")
	f.IntVar(&l.pseudoBudget, "pseudo-budget", lora.DefaultPseudoBudget, "with --local: the pseudo-program's limit in the interpreter's tokens")
	f.IntVar(&l.checkpointEvery, "checkpoint-every", lora.DefaultCheckpointEvery, "with --local: steps between checkpoints (an interrupted compile resumes from the last)")
	f.StringVar(&l.adapterType, "adapter-type", "", "with --local: the adapter's tensor type, q4_0, f16 or f32 (default: q4_0 where the rank allows, else f16)")
	f.BoolVar(&l.noReport, "no-report", false, "with --local: write no compile report beside the program")
}

// localOutput is `paw compile --local --json`'s line.
type localOutput struct {
	compileOutput
	Report              string  `json:"report,omitempty"`
	Examples            int     `json:"examples"`
	HeldOut             int     `json:"held_out"`
	HeldOutBaseAccuracy float64 `json:"held_out_base_accuracy"`
	HeldOutAccuracy     float64 `json:"held_out_accuracy"`
	ResumedAt           int     `json:"resumed_at_step,omitempty"`
}

// runLocal compiles spec with the local LoRA compiler and writes the .paw
// and its report. compiler is --compiler: "" or local-lora.
func runLocal(cmd *cobra.Command, cfg *config.Config, spec, compiler string, l localFlags, asJSON bool) error {
	if compiler != "" && compiler != lora.CompilerName {
		return usagef("--local --compiler %q: the offline compiler is %s", compiler, lora.CompilerName)
	}
	if (l.model == "") == (l.interpreter == "") {
		return usagef("--local needs one of --model BASE.gguf and --interpreter RUNTIME_ID")
	}
	if l.teacher != "" && l.teacherModel != "" {
		return usagef("--teacher and --teacher-model conflict: give one teacher")
	}
	if l.teacher != "" && l.teacherName == "" {
		return usagef("--teacher needs --teacher-name MODEL")
	}
	var typ gguf.Type
	if l.adapterType != "" {
		var err error
		if typ, err = gguf.ParseType(l.adapterType); err != nil || (typ != gguf.TypeQ4_0 && typ != gguf.TypeF16 && typ != gguf.TypeF32) {
			return usagef("--adapter-type %q: want q4_0, f16 or f32", l.adapterType)
		}
	}
	ctx := cmd.Context()
	base := l.model
	if l.interpreter != "" {
		var err error
		if base, err = newHubClient(cmd, cfg).PullRuntime(ctx, l.interpreter); err != nil {
			return fmt.Errorf("--interpreter %s: %w", l.interpreter, err)
		}
	}
	var (
		given     []lora.Example
		unlabeled []string
	)
	if l.examples != "" {
		var err error
		if given, unlabeled, err = readExamples(l.examples); err != nil {
			return err
		}
	}
	res, err := localCompile(cmd, cfg, spec, l, base, typ, given, unlabeled)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	out := cmp.Or(l.out, res.ProgramID+".paw")
	if err := res.Program.WriteFile(out); err != nil {
		return err
	}
	if err := publish(cmd, cfg, out); err != nil {
		return err
	}
	rep, err := lora.ReportOf(res.Program)
	if err != nil {
		return err
	}
	reportBase := ""
	if !l.noReport {
		reportBase = strings.TrimSuffix(out, ".paw") + ".report"
		if err := rep.WriteFiles(reportBase); err != nil {
			return err
		}
	}
	t := rep.Training
	if asJSON {
		return writeJSON(cmd.OutOrStdout(), localOutput{compileOutput: compileOutput{ProgramID: res.ProgramID, Status: res.Status,
			Compiler: res.Compiler, CompilerSnapshot: res.CompilerSnapshot, RuntimeID: res.RuntimeID, Timings: res.Timings, Path: out},
			Report: reportBase, Examples: t.Examples, HeldOut: t.HeldOut, HeldOutBaseAccuracy: t.HeldOutBaseAccuracy,
			HeldOutAccuracy: t.HeldOutAccuracy, ResumedAt: t.ResumedAt})
	}
	fmt.Fprintln(cmd.OutOrStdout(), res.ProgramID)
	if !cfg.Quiet {
		if t.HeldOut > 0 {
			fmt.Fprintf(stderr, "held-out accuracy: %.0f%% with the pseudo-program alone, %.0f%% after compile (%d examples)\n",
				100*t.HeldOutBaseAccuracy, 100*t.HeldOutAccuracy, t.HeldOut)
		}
		fmt.Fprintf(stderr, "wrote %s", out)
		if reportBase != "" {
			fmt.Fprintf(stderr, " and its report %s.json, %s.svg", reportBase, reportBase)
		}
		fmt.Fprintln(stderr)
	}
	return nil
}

// localCompile gathers the examples (the spec's, given, and a teacher's),
// splits off the held-out ones and trains: what paw compile --local and
// paw build's local-lora functions share.
func localCompile(cmd *cobra.Command, cfg *config.Config, spec string, l localFlags, base string, typ gguf.Type,
	given []lora.Example, unlabeled []string) (*compile.Result, error) {
	ctx := cmd.Context()
	teacher, closeTeacher, err := l.newTeacher(cfg)
	if err != nil {
		return nil, err
	}
	defer closeTeacher()
	if len(unlabeled) > 0 && teacher == nil {
		return nil, usagef("%s: %d examples have no \"output\": give a teacher (--teacher or --teacher-model) to label them", l.examples, len(unlabeled))
	}
	stderr := cmd.ErrOrStderr()
	exs, err := lora.Gather(ctx, spec, given, unlabeled, teacher, l.teacherWant)
	if err != nil {
		if ctx.Err() != nil || len(exs) == 0 {
			return nil, err
		}
		if !cfg.Quiet {
			fmt.Fprintf(stderr, "warning: going on with %d examples without the teacher's: %v\n", len(exs), err)
		}
	}
	if len(exs) == 0 {
		return nil, usagef("--local has no examples: give --examples FILE, Input:/Output: examples in the spec, or a teacher")
	}
	frac := l.holdOut
	if len(exs) < 10 {
		frac = 0
	}
	train, held := lora.Split(exs, frac)
	if !cfg.Quiet {
		fmt.Fprintf(stderr, "%d examples: %d to train on, %d held out\n", len(exs), len(train), len(held))
	}
	prog := newTrainProgress(stderr, cfg.Quiet)
	c := &lora.Compiler{Examples: train, HeldOut: held, Teacher: teacher, PseudoBudget: l.pseudoBudget, AdapterType: typ, Options: lora.Options{
		Base: base, Rank: l.rank, Alpha: float32(l.alpha), Epochs: l.epochs, LR: float32(l.lr),
		BatchSize: l.batch, Threads: l.threads, Seed: l.seed, Targets: l.targets, Progress: prog.step,
		CheckpointDir: filepath.Join(cfg.CacheDir, "checkpoints"), CheckpointEvery: l.checkpointEvery,
	}}
	res, err := c.Compile(ctx, compile.Request{Spec: spec})
	prog.finish()
	if err != nil && ctx.Err() != nil && !cfg.Quiet {
		fmt.Fprintf(stderr, "interrupted: the checkpoint in %s resumes this compile when it is run again\n", c.Options.CheckpointDir)
	}
	return res, err
}

// newTeacher returns the teacher the flags ask for (nil: none) and what
// releases it.
func (l *localFlags) newTeacher(cfg *config.Config) (lora.Teacher, func(), error) {
	switch {
	case l.teacher != "":
		if cfg.Offline {
			return nil, nil, fmt.Errorf("--teacher needs the network, and PAW_OFFLINE is set")
		}
		c := &upstream.Client{BaseURL: l.teacher, Model: l.teacherName, APIKey: os.Getenv(l.teacherKeyEnv),
			CacheDir: filepath.Join(cfg.CacheDir, "teacher")}
		return lora.TeacherFunc(func(ctx context.Context, system, user string) (string, error) {
			comp, err := c.Complete(ctx, system, user)
			return comp.Text, err
		}), func() {}, nil
	case l.teacherModel != "":
		return localTeacher(l.teacherModel, l.threads)
	}
	return nil, func() {}, nil
}

// localTeacher runs an instruct model GGUF through paw's engine in base
// mode (its own chat template around the prompt), greedily.
func localTeacher(path string, threads int) (lora.Teacher, func(), error) {
	e, err := interp.New(interp.Options{Threads: threads})
	if err != nil {
		return nil, nil, fmt.Errorf("--teacher-model: %w", err)
	}
	var fn *interp.Func
	t := lora.TeacherFunc(func(ctx context.Context, system, user string) (string, error) {
		if fn == nil { // loaded on first use: a compile may not need its teacher
			f, err := e.LoadBase(ctx, path)
			if err != nil {
				return "", fmt.Errorf("--teacher-model %s: %w", path, err)
			}
			fn = f
		}
		r, err := fn.Call(ctx, system+"\n\n"+user, interp.CallOptions{MaxTokens: 512})
		return r.Output, err
	})
	return t, func() {
		if fn != nil {
			fn.Close()
		}
		e.Close()
	}, nil
}

// trainProgress shows training steps on stderr: a bar with the loss and
// ETA when stderr is a terminal, else a line every 10% of the steps.
type trainProgress struct {
	w       io.Writer
	tty     bool
	quiet   bool
	bar     *progressbar.ProgressBar
	lastPct int
}

func newTrainProgress(w io.Writer, quiet bool) *trainProgress {
	p := &trainProgress{w: w, quiet: quiet, lastPct: -1}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *trainProgress) step(s lora.Progress) {
	if p.quiet {
		return
	}
	done := s.Step - s.Resumed
	eta := time.Duration(float64(s.Elapsed) / float64(max(1, done)) * float64(s.Steps-s.Step))
	desc := fmt.Sprintf("epoch %d  loss %.4f", s.Epoch+1, s.Loss)
	if p.tty {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(s.Steps, progressbar.OptionSetWriter(p.w), progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true), progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }))
			_ = p.bar.Set(s.Resumed)
		}
		p.bar.Describe(desc)
		_ = p.bar.Set(s.Step)
		return
	}
	if s.Resumed > 0 && p.lastPct < 0 {
		fmt.Fprintf(p.w, "resumed at step %d of %d from a checkpoint\n", s.Resumed, s.Steps)
	}
	if pct := 100 * s.Step / s.Steps; pct/10 > p.lastPct/10 || s.Step == s.Steps {
		p.lastPct = pct
		fmt.Fprintf(p.w, "step %d/%d  %s  eta %v\n", s.Step, s.Steps, desc, eta.Round(time.Second))
	}
}

func (p *trainProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// readExamples reads JSON lines with "input" and "output" fields; the
// inputs of lines without an output are returned apart, for a teacher.
func readExamples(path string) (exs []lora.Example, unlabeled []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ex lora.Example
		if err := json.Unmarshal([]byte(line), &ex); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		switch {
		case ex.Input == "":
			return nil, nil, fmt.Errorf("%s:%d: an example needs \"input\"", path, n)
		case ex.Output == "":
			unlabeled = append(unlabeled, ex.Input)
		default:
			exs = append(exs, ex)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return exs, unlabeled, nil
}

// localBuilder is paw build's compiler for local-lora and local-mapper
// functions.
func localBuilder(cmd *cobra.Command, cfg *config.Config) func(*library.Manifest, *library.Function) compile.Compiler {
	return func(m *library.Manifest, f *library.Function) compile.Compiler {
		if f.Compiler == library.MapperCompiler {
			return &mapperBuild{cmd, cfg, m, f}
		}
		return &localBuild{cmd, cfg, m, f}
	}
}

// localBuild compiles a local-lora function of paw.yaml with paw compile
// --local's defaults: on the function's base model, over the spec's
// examples, its examples file and its cases. It installs the program into
// the cache (where paw build fetches it from) and writes the compile report
// into the project's paw-report/ as NAME.compile.json and .svg.
type localBuild struct {
	cmd *cobra.Command
	cfg *config.Config
	m   *library.Manifest
	f   *library.Function
}

func (b *localBuild) Compile(ctx context.Context, req compile.Request) (*compile.Result, error) {
	base := b.f.Base
	if strings.HasSuffix(strings.ToLower(base), ".gguf") {
		base = filepath.Join(b.m.Dir, filepath.FromSlash(base))
	} else {
		var err error
		if base, err = newHubClient(b.cmd, b.cfg).PullRuntime(ctx, base); err != nil {
			return nil, fmt.Errorf("base %s: %w", b.f.Base, err)
		}
	}
	var (
		given     []lora.Example
		unlabeled []string
	)
	if b.f.Examples != "" {
		var err error
		if given, unlabeled, err = readExamples(filepath.Join(b.m.Dir, filepath.FromSlash(b.f.Examples))); err != nil {
			return nil, err
		}
	}
	if path := b.m.CasesPath(b.f); path != "" {
		cases, err := eval.OpenCases(path, eval.Columns{})
		if err != nil {
			return nil, err
		}
		for _, c := range cases {
			if c.HasExpected {
				given = append(given, lora.Example{Input: c.Input, Output: c.Expected})
			}
		}
	}
	var l localFlags // the flags' defaults
	l.register(&cobra.Command{})
	res, err := localCompile(b.cmd, b.cfg, req.Spec, l, base, 0, given, unlabeled)
	if err != nil {
		return nil, err
	}
	// Into the cache atomically, as paw pack's programs, and to PAW_STORE.
	if _, _, err := newHubClient(b.cmd, b.cfg).AddProgram(ctx, res.Program); err != nil {
		return nil, err
	}
	rep, err := lora.ReportOf(res.Program)
	if err != nil {
		return nil, err
	}
	return res, rep.WriteFiles(filepath.Join(b.m.Dir, "paw-report", b.f.Name+".compile"))
}

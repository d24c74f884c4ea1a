package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/mapper"
	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/library"
)

// mapperFlags are `paw compile --local --compiler`'s options: PAW's fast
// compiler (encoder + LoRA mapper) on this machine.
type mapperFlags struct {
	pseudoFile, writer  string
	writerType, encType string
	writerMaxTokens     int
}

func (m *mapperFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&m.pseudoFile, "pseudo-program", "", "with --local --compiler: a file holding the pseudo-program (default: written by --writer-model)")
	f.StringVar(&m.writer, "writer-model", "", "with --local --compiler: the instruct GGUF that writes pseudo-programs (default: writer.gguf in the compiler's directory, else the one paw pull "+hub.PseudoWriter.Name+" fetched)")
	f.IntVar(&m.writerMaxTokens, "writer-max-tokens", mapper.MaxPseudoTokens, "with --local --compiler: the most tokens a written pseudo-program may have")
	f.StringVar(&m.writerType, "writer-type", "Q8_0", "with --local --compiler: the weight type the pulled writer is converted to on first use: Q8_0 or Q4_0")
	f.StringVar(&m.encType, "encoder-type", "Q8_0", "with --local --compiler: the compiler encoder's weight type, converted on first use: Q8_0, BF16, F16 or F32 (see README for the cost)")
}

// types returns the encoder's and the pulled writer's weight types.
func (m *mapperFlags) types() (enc, writer gguf.Type, err error) {
	parse := func(flag, s string, ok ...gguf.Type) (gguf.Type, error) {
		t, err := gguf.ParseType(cmp.Or(s, "Q8_0"))
		if err != nil || !slices.Contains(ok, t) {
			return 0, usagef("--%s %q: want one of %v", flag, s, ok)
		}
		return t, nil
	}
	if m.writerMaxTokens < 0 {
		return 0, 0, usagef("--writer-max-tokens %d: want a positive count", m.writerMaxTokens)
	}
	if enc, err = parse("encoder-type", m.encType, gguf.TypeQ8_0, gguf.TypeBF16, gguf.TypeF16, gguf.TypeF32); err != nil {
		return 0, 0, err
	}
	writer, err = parse("writer-type", m.writerType, gguf.TypeQ8_0, gguf.TypeQ4_0)
	return enc, writer, err
}

// compilerDir is where a compiler's files are: a directory given as such,
// or an official compiler pulled into the cache (paw pull NAME).
func compilerDir(cmd *cobra.Command, cfg *config.Config, name string) (string, error) {
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		return name, nil
	}
	if _, ok := hub.OfficialCompilers[name]; !ok {
		names := slices.Sorted(maps.Keys(hub.OfficialCompilers))
		return "", usagef("--compiler %q with --local: want a directory or one of %s", name, strings.Join(names, ", "))
	}
	return newHubClient(cmd, cfg).CompilerDir(name)
}

// newMapperCompiler is the fast compiler in dir (its encoder converted to
// GGUF on first use), with the writer model m.writer, else the directory's
// writer.gguf, else the pulled PseudoWriter (converted on first need),
// telling each stage's time on stderr.
func newMapperCompiler(cmd *cobra.Command, cfg *config.Config, dir string, m mapperFlags) (*mapper.Compiler, error) {
	encType, writerType, err := m.types()
	if err != nil {
		return nil, err
	}
	stderr := cmd.ErrOrStderr()
	start := time.Now()
	enc, converted, err := mapper.EncoderGGUF(dir, encType)
	if err != nil {
		return nil, err
	}
	if converted && !cfg.Quiet {
		fmt.Fprintf(stderr, "convert: %.1fs (%s, kept for later compiles)\n", time.Since(start).Seconds(), enc)
	}
	c := &mapper.Compiler{
		Name:            filepath.Base(filepath.Clean(dir)),
		EncoderPath:     enc,
		MapperPath:      filepath.Join(dir, "lora_mapper.pt"),
		MetaPath:        filepath.Join(dir, "meta.json"),
		WriterPath:      m.writer,
		WriterMaxTokens: m.writerMaxTokens,
		Threads:         cfg.Threads,
		Progress: func(stage string, _ int, d time.Duration) {
			if !cfg.Quiet {
				fmt.Fprintf(stderr, "%s: %.1fs\n", stage, d.Seconds())
			}
		},
	}
	if c.WriterPath == "" {
		if p := filepath.Join(dir, "writer.gguf"); statOK(p) {
			c.WriterPath = p
		} else if wd, err := newHubClient(cmd, cfg).WriterDir(); err == nil {
			c.WriterHF, c.WriterType, c.WriterPath = wd, writerType, mapper.WriterGGUF(wd, writerType)
		}
	}
	return c, nil
}

func statOK(p string) bool { _, err := os.Stat(p); return err == nil }

// compileAll runs c on jobs, telling how to get a writer model when one is
// needed and there is none.
func compileAll(ctx context.Context, c *mapper.Compiler, jobs []mapper.Job) ([]*compile.Result, error) {
	res, err := c.CompileAll(ctx, jobs)
	if err != nil && c.WriterPath == "" && errors.Is(err, compile.ErrSpec) {
		err = fmt.Errorf("%w (give --pseudo-program or --writer-model, or run `paw pull %s` once)", err, hub.PseudoWriter.Name)
	}
	return res, err
}

// runMapperCompile compiles spec with a local PAW fast compiler and writes the .paw.
func runMapperCompile(cmd *cobra.Command, cfg *config.Config, spec, compilerName, out string, m mapperFlags, asJSON bool) error {
	dir, err := compilerDir(cmd, cfg, compilerName)
	if err != nil {
		return err
	}
	job := mapper.Job{Spec: spec}
	if m.pseudoFile != "" {
		b, err := os.ReadFile(m.pseudoFile)
		if err != nil {
			return err
		}
		job.PseudoProgram = strings.TrimSpace(string(b))
	}
	c, err := newMapperCompiler(cmd, cfg, dir, m)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	res, err := compileAll(cmd.Context(), c, []mapper.Job{job})
	if err != nil {
		return err
	}
	r := res[0]
	path := cmp.Or(out, r.ProgramID+".paw")
	if err := r.Program.WriteFile(path); err != nil {
		return err
	}
	if err := publish(cmd, cfg, path); err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintln(cmd.OutOrStdout(), r.ProgramID)
		if !cfg.Quiet {
			fmt.Fprintf(stderr, "wrote %s\n", path)
		}
		return nil
	}
	return writeJSON(cmd.OutOrStdout(), compileOutput{ProgramID: r.ProgramID, Status: r.Status, Compiler: r.Compiler,
		CompilerSnapshot: r.CompilerSnapshot, RuntimeID: r.RuntimeID, Timings: r.Timings, Path: path})
}

// mapperBuild is paw build's compiler of a local-mapper function: a
// library.BatchCompiler, so that a build loads each model once for all the
// functions of the same compiler and writer model.
type mapperBuild struct {
	cmd *cobra.Command
	cfg *config.Config
	m   *library.Manifest
	f   *library.Function
}

var _ library.BatchCompiler = (*mapperBuild)(nil)

func (b *mapperBuild) Compile(ctx context.Context, _ compile.Request) (*compile.Result, error) {
	res, errs := b.CompileBatch(ctx, []library.BatchCompiler{b})
	return res[0], errs[0]
}

// rel is a project file's path.
func (b *mapperBuild) rel(name string) string {
	if name == "" {
		return ""
	}
	return filepath.Join(b.m.Dir, filepath.FromSlash(name))
}

// compilerRef is the official compiler's name or the directory's path.
func (b *mapperBuild) compilerRef() string {
	if _, ok := hub.OfficialCompilers[b.f.Mapper]; ok {
		return b.f.Mapper
	}
	return b.rel(b.f.Mapper)
}

func (b *mapperBuild) Batch() string { return b.compilerRef() + "\n" + b.rel(b.f.WriterModel) }

// CompileBatch compiles every function of batch with one loading of each
// model; when that fails, each function alone, so each fails alone. The
// programs go into the cache as paw pack's do, and to PAW_STORE.
func (b *mapperBuild) CompileBatch(ctx context.Context, batch []library.BatchCompiler) ([]*compile.Result, []error) {
	res, errs := make([]*compile.Result, len(batch)), make([]error, len(batch))
	fail := func(err error) ([]*compile.Result, []error) {
		for i := range errs {
			errs[i] = cmp.Or(errs[i], err)
		}
		return res, errs
	}
	ref := b.compilerRef()
	dir := ref
	if _, ok := hub.OfficialCompilers[ref]; ok {
		var err error
		if dir, err = newHubClient(b.cmd, b.cfg).CompilerDir(ref); err != nil {
			return fail(fmt.Errorf("mapper %s: %w", ref, err))
		}
	}
	c, err := newMapperCompiler(b.cmd, b.cfg, dir, mapperFlags{writer: b.rel(b.f.WriterModel), writerMaxTokens: mapper.MaxPseudoTokens})
	if err != nil {
		return fail(err)
	}
	var jobs []mapper.Job
	var at []int // batch index of each job
	for i, o := range batch {
		f := o.(*mapperBuild).f
		job := mapper.Job{Spec: f.Spec, WriterMaxTokens: f.WriterMaxTokens}
		if f.PseudoProgram != "" {
			p, err := os.ReadFile(b.rel(f.PseudoProgram))
			if err != nil {
				errs[i] = err
				continue
			}
			job.PseudoProgram = strings.TrimSpace(string(p))
		}
		jobs, at = append(jobs, job), append(at, i)
	}
	out, err := compileAll(ctx, c, jobs)
	if err != nil && len(jobs) > 1 && ctx.Err() == nil {
		out = make([]*compile.Result, len(jobs))
		for k, job := range jobs {
			one, err := compileAll(ctx, c, []mapper.Job{job})
			if err != nil {
				errs[at[k]] = err
				continue
			}
			out[k] = one[0]
		}
	} else if err != nil {
		return fail(err)
	}
	h := newHubClient(b.cmd, b.cfg)
	for k, r := range out {
		if r == nil {
			continue
		}
		if _, _, err := h.AddProgram(ctx, r.Program); err != nil {
			errs[at[k]] = err
			continue
		}
		res[at[k]] = r
	}
	return res, errs
}

package main

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/compile/mapper"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/config"
)

// mapperFlags are `paw compile --local --compiler`'s options: PAW's fast
// compiler (encoder + LoRA mapper) on this machine.
type mapperFlags struct {
	pseudoFile, writer string
}

func (m *mapperFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&m.pseudoFile, "pseudo-program", "", "with --local --compiler: a file holding the pseudo-program (default: written by --writer-model)")
	f.StringVar(&m.writer, "writer-model", "", "with --local --compiler: the instruct GGUF that writes pseudo-programs (default: writer.gguf in the compiler's directory)")
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
	stderr := cmd.ErrOrStderr()
	start := time.Now()
	enc, converted, err := mapper.EncoderGGUF(dir)
	if err != nil {
		return err
	}
	if converted && !cfg.Quiet {
		fmt.Fprintf(stderr, "convert: %.1fs (%s, kept for later compiles)\n", time.Since(start).Seconds(), enc)
	}
	c := &mapper.Compiler{
		Name:        filepath.Base(filepath.Clean(dir)),
		EncoderPath: enc,
		MapperPath:  filepath.Join(dir, "lora_mapper.pt"),
		MetaPath:    filepath.Join(dir, "meta.json"),
		WriterPath:  cmp.Or(m.writer, filepath.Join(dir, "writer.gguf")),
		Threads:     cfg.Threads,
		Progress: func(stage string, _ int, d time.Duration) {
			if !cfg.Quiet {
				fmt.Fprintf(stderr, "%s: %.1fs\n", stage, d.Seconds())
			}
		},
	}
	res, err := c.CompileAll(cmd.Context(), []mapper.Job{job})
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

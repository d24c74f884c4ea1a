package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/hosted"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/internal/config"
)

func newHostedCompiler(cfg *config.Config) (*hosted.Compiler, error) {
	if cfg.Offline {
		return nil, fmt.Errorf("compiling needs the PAW service, and PAW_OFFLINE is set")
	}
	return &hosted.Compiler{BaseURL: cfg.APIURL, APIKey: cfg.APIKey}, nil
}

func newCompileCmd(cfg *config.Config) *cobra.Command {
	var (
		req    compile.Request
		async  bool
		asJSON bool
		pull   bool
		local  localFlags
		mflags mapperFlags // --local --compiler: PAW's fast compiler (compile_mapper.go)
	)
	cmd := &cobra.Command{
		Use:   "compile --spec TEXT",
		Short: "Compile a spec into a program with the hosted PAW service",
		Long: "Compile a spec (what the function should do, in words) with the hosted PAW service\n" +
			"and print the program id (--pull also downloads the program). --async submits a job and\n" +
			"prints its id; follow it with 'paw compile status JOB' or 'paw compile wait JOB', and stop\n" +
			"it with 'paw compile cancel JOB'. --local compiles offline instead: it trains a LoRA adapter\n" +
			"on --model (or the cached base of --interpreter RUNTIME_ID) over the spec's Input:/Output:\n" +
			"examples, the --examples file and a teacher's (--teacher URL, --teacher-model GGUF), holds\n" +
			"out a share to measure, and writes a .paw (--out) with its report beside it (.report.json,\n" +
			".report.svg: the loss curve, held-out accuracy before and after). An interrupted compile\n" +
			"resumes from its checkpoint (in the cache) when run again with the same data and options.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if local.enabled && req.Compiler != "" && req.Compiler != lora.CompilerName {
				return runMapperCompile(cmd, cfg, req.Spec, req.Compiler, local.out, mflags, asJSON)
			}
			if local.enabled {
				return runLocal(cmd, cfg, req.Spec, req.Compiler, local, asJSON)
			}
			if async && pull {
				return usagef("--pull needs the finished program: leave out --async, or use 'paw compile wait JOB --pull'")
			}
			c, err := newHostedCompiler(cfg)
			if err != nil {
				return err
			}
			if async {
				job, err := c.Submit(cmd.Context(), req)
				if err != nil {
					return err
				}
				return printJob(cmd.OutOrStdout(), job, asJSON)
			}
			res, err := c.Compile(cmd.Context(), req)
			if err != nil {
				return err
			}
			return compiled(cmd, cfg, res, asJSON, pull)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Spec, "spec", "", "what the function should do, in words (required)")
	f.StringVar(&req.Compiler, "compiler", "", "compiler name (default: the service's; see the service's compiler list)")
	f.StringVar(&req.Slug, "slug", "", "publish under this slug (name or user/name)")
	f.StringVar(&req.Name, "name", "", "display name")
	f.StringArrayVar(&req.Tags, "tag", nil, "tag (repeatable; commas are part of a tag)")
	f.BoolVar(&req.Private, "private", false, "do not publish the program")
	f.BoolVar(&async, "async", false, "submit a job and print its id instead of waiting (for slow fine-tuning compilers)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print one JSON line")
	cmd.PersistentFlags().BoolVar(&pull, "pull", false, "download the compiled program into the cache")
	local.register(cmd)
	mflags.register(cmd)
	_ = cmd.MarkFlagRequired("spec")
	cmd.AddCommand(newCompileJobCmd(cfg, "status", "Show a compile job's state", &asJSON),
		newCompileJobCmd(cfg, "cancel", "Cancel a compile job", &asJSON),
		newCompileWaitCmd(cfg, &asJSON, &pull))
	return cmd
}

// compileOutput is what `paw compile --json` and `paw compile wait --json` print.
type compileOutput struct {
	ProgramID        string             `json:"program_id"`
	Slug             string             `json:"slug,omitempty"`
	Version          int                `json:"version,omitempty"`
	VersionAction    string             `json:"version_action,omitempty"`
	Status           string             `json:"status,omitempty"`
	Compiler         string             `json:"compiler,omitempty"`
	CompilerSnapshot string             `json:"compiler_snapshot,omitempty"`
	RuntimeID        string             `json:"runtime_id,omitempty"`
	Timings          map[string]float64 `json:"timings,omitempty"`
	Path             string             `json:"path,omitempty"` // with --pull: the program in the cache
}

// compiled reports a finished compilation: the program id on stdout (or the
// result with --json), and with pull the program downloaded into the cache.
func compiled(cmd *cobra.Command, cfg *config.Config, res *compile.Result, asJSON, pull bool) error {
	out := compileOutput{ProgramID: res.ProgramID, Slug: res.Slug, Version: res.Version, VersionAction: res.VersionAction,
		Status: res.Status, Compiler: res.Compiler, CompilerSnapshot: res.CompilerSnapshot, RuntimeID: res.RuntimeID,
		Timings: res.Timings}
	if pull && res.ProgramID != "" {
		path, err := newHubClient(cmd, cfg).Pull(cmd.Context(), res.ProgramID)
		if err != nil {
			return fmt.Errorf("compiled %s, but: %w", res.ProgramID, err)
		}
		if !cfg.Quiet {
			fmt.Fprintf(cmd.ErrOrStderr(), "downloaded to %s\n", path)
		}
		out.Path = path
	}
	if asJSON {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	fmt.Fprintln(cmd.OutOrStdout(), res.ProgramID)
	if !cfg.Quiet {
		if res.Slug != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "slug %s (version %d, %s)\n", res.Slug, res.Version, res.VersionAction)
		}
		if !pull {
			fmt.Fprintf(cmd.ErrOrStderr(), "fetch it with: paw pull %s\n", res.ProgramID)
		}
	}
	return nil
}

// newCompileWaitCmd builds `paw compile wait JOB`.
func newCompileWaitCmd(cfg *config.Config, asJSON, pull *bool) *cobra.Command {
	return &cobra.Command{
		Use:   "wait JOB",
		Short: "Wait for a compile job and print its program id",
		Long: "Poll a compile job (from 'paw compile --async') until it ends, showing its progress on\n" +
			"stderr, then print the program id (--pull also downloads it). A failed or cancelled job is\n" +
			"an error; interrupting stops the waiting, not the job.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newHostedCompiler(cfg)
			if err != nil {
				return err
			}
			if !cfg.Quiet {
				last := ""
				c.Progress = func(j *api.CompileJob) {
					line := j.Status
					if j.Progress > 0 {
						line = fmt.Sprintf("%s %.0f%%", j.Status, j.Progress*100)
					}
					if line != last {
						fmt.Fprintf(cmd.ErrOrStderr(), "job %s: %s\n", j.JobID, line)
						last = line
					}
				}
			}
			res, err := c.Wait(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return compiled(cmd, cfg, res, *asJSON, *pull)
		},
	}
}

// newCompileJobCmd builds `paw compile status JOB` and `paw compile cancel JOB`.
func newCompileJobCmd(cfg *config.Config, verb, short string, asJSON *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " JOB",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("pull") {
				return usagef("--pull does nothing with 'paw compile %s': use 'paw compile wait %s --pull'", verb, args[0])
			}
			c, err := newHostedCompiler(cfg)
			if err != nil {
				return err
			}
			call := c.Status
			if verb == "cancel" {
				call = c.Cancel
			}
			job, err := call(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJob(cmd.OutOrStdout(), job, *asJSON)
		},
	}
	return cmd
}

func printJob(w io.Writer, job *api.CompileJob, asJSON bool) error {
	if asJSON {
		return writeJSON(w, job)
	}
	fmt.Fprintf(w, "job:     %s\nstatus:  %s\n", job.JobID, job.Status)
	if job.Progress > 0 {
		fmt.Fprintf(w, "progress: %.0f%%\n", job.Progress*100)
	}
	id := job.ProgramID
	if job.Result != nil && job.Result.ProgramID != "" {
		id = job.Result.ProgramID
	}
	if id != "" {
		fmt.Fprintf(w, "program: %s\n", id)
	}
	if msg := job.Error + job.Message; msg != "" {
		fmt.Fprintf(w, "message: %s\n", msg)
	}
	return nil
}

package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/hosted"
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
	)
	cmd := &cobra.Command{
		Use:   "compile --spec TEXT",
		Short: "Compile a spec into a program with the hosted PAW service",
		Long: "Compile a spec (what the function should do, in words) with the hosted PAW service\n" +
			"and print the program id. --async submits a job and prints its id; follow it with\n" +
			"'paw compile status JOB' and stop it with 'paw compile cancel JOB'.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.ProgramID)
			if !cfg.Quiet {
				if res.Slug != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "slug %s (version %d, %s)\n", res.Slug, res.Version, res.VersionAction)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "fetch it with: paw pull %s\n", res.ProgramID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Spec, "spec", "", "what the function should do, in words (required)")
	f.StringVar(&req.Compiler, "compiler", "", "compiler name (default: the service's; see the service's compiler list)")
	f.StringVar(&req.Slug, "slug", "", "publish under this slug (name or user/name)")
	f.StringVar(&req.Name, "name", "", "display name")
	f.StringSliceVar(&req.Tags, "tag", nil, "tag (repeatable)")
	f.BoolVar(&req.Private, "private", false, "do not publish the program")
	f.BoolVar(&async, "async", false, "submit a job and print its id instead of waiting (for slow fine-tuning compilers)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print one JSON object")
	_ = cmd.MarkFlagRequired("spec")
	cmd.AddCommand(newCompileJobCmd(cfg, "status", "Show a compile job's state", &asJSON),
		newCompileJobCmd(cfg, "cancel", "Cancel a compile job", &asJSON))
	return cmd
}

// newCompileJobCmd builds `paw compile status JOB` and `paw compile cancel JOB`.
func newCompileJobCmd(cfg *config.Config, verb, short string, asJSON *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " JOB",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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

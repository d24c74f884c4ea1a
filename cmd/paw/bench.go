package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/interp"
)

func newBenchCmd(cfg *config.Config) *cobra.Command {
	var (
		model  string
		o      interp.BenchOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "bench --model FILE.gguf",
		Short: "Measure engine speed: prompt and generation tokens per second (medians after a warm-up)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Threads == 0 {
				o.Threads = cfg.Threads
			}
			r, err := interp.BenchModel(cmd.Context(), model, o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s (%d threads)\nprompt %d tokens:  %.1f tok/s\ngenerate %d tokens: %.1f tok/s\n",
				r.Desc, r.Threads, r.PromptTokens, r.PromptTPS, r.GenTokens, r.GenTPS)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "GGUF model file (required)")
	f.IntVar(&o.PromptTokens, "prompt-tokens", 128, "tokens in the prompt batch")
	f.IntVar(&o.GenTokens, "gen-tokens", 32, "tokens generated one at a time")
	f.IntVar(&o.Reps, "reps", 5, "repetitions after one warm-up")
	f.IntVar(&o.Threads, "threads", 0, "compute threads (default PAW_THREADS, or one per core; never more than the cores)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (prompt_tps, gen_tps, ...)")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/basemodel"
	"github.com/paw-dev/paw/internal/config"
)

func newGenerateCmd(cfg *config.Config) *cobra.Command {
	var (
		model, prompt string
		o             basemodel.CompleteOptions
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "generate --model FILE.gguf [--prompt TEXT]",
		Short: "Continue a prompt with a raw base model (no program)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Threads == 0 {
				o.Threads = cfg.Threads
			}
			if err := checkSampling(cmd, o.MaxTokens, o.Temperature); err != nil {
				return err
			}
			c, err := basemodel.Complete(cmd.Context(), model, prompt, o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{
					"output": c.Text, "prompt_tokens": c.PromptTokens, "tokens_generated": c.Tokens,
					"latency_ms": ms(c.Elapsed),
				})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), c.Text)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "GGUF model file (required)")
	f.StringVar(&prompt, "prompt", "", "text to continue (special-token text stays plain text)")
	f.IntVar(&o.MaxTokens, "max-tokens", 128, "most tokens to generate")
	f.Float32Var(&o.Temperature, "temperature", 0, "sampling temperature; 0 = greedy")
	f.Uint32Var(&o.Seed, "seed", 0, "random seed for temperature > 0")
	f.IntVar(&o.Threads, "threads", 0, "compute threads (default PAW_THREADS, or one per core)")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

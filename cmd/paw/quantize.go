package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/basemodel"
	"github.com/paw-dev/paw/internal/config"
)

// newQuantizeCmd writes a GGUF model's weights as another type; `paw pull
// --requant` does the same for a cached runtime and makes runs use it.
func newQuantizeCmd(cfg *config.Config) *cobra.Command {
	var (
		typ, out string
		threads  int
	)
	cmd := &cobra.Command{
		Use:   "quantize MODEL.gguf --type TYPE -o OUT.gguf",
		Short: "Write a GGUF model with its weights quantized (or requantized) to another type",
		Long: "Write MODEL.gguf's weights as --type with llama.cpp's own quantizer, requantizing weights\n" +
			"that are already quantized (a Q6_K model to Q8_0, say: faster prompts, more memory).\n" +
			"OUT.gguf appears whole or not at all. Give it to --model; for a cached runtime,\n" +
			"paw pull --requant TYPE RUNTIME makes every run use the copy.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(basemodel.QuantizeTypes(), strings.ToLower(typ)) {
				return usagef("--type %q: want one of %s", typ, strings.Join(basemodel.QuantizeTypes(), ", "))
			}
			if threads == 0 {
				threads = cfg.Threads
			}
			if err := basemodel.Quantize(cmd.Context(), args[0], out, typ, threads); err != nil {
				return err
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), out)
			return err
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "weight type: "+strings.Join(basemodel.QuantizeTypes(), ", ")+" (required)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (required)")
	cmd.Flags().IntVar(&threads, "threads", 0, "threads (default PAW_THREADS, or one per core)")
	_ = cmd.MarkFlagRequired("type")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

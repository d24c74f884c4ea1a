package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
)

// newFixtureCmd writes the generated test models; it is for developers and
// benchmarks (random weights), so it is hidden from the main help.
func newFixtureCmd() *cobra.Command {
	var (
		preset, out, typ, stories string
		seed                      uint64
		adapterRank               int
	)
	cmd := &cobra.Command{
		Use:    "fixture --preset NAME -o FILE.gguf",
		Short:  "Write a deterministic random-weight fixture model (for tests and benchmarks)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stories != "" {
				return fixture.Stories260K(stories, out)
			}
			cfg, err := fixture.Preset(preset)
			if err != nil {
				return fmt.Errorf("%w (presets: %s)", err, strings.Join(fixture.PresetNames(), ", "))
			}
			if typ != "" {
				if cfg.Type, err = gguf.ParseType(typ); err != nil {
					return err
				}
			}
			cfg.Seed = seed
			if adapterRank > 0 {
				a := fixture.OfficialAdapter(seed)
				a.Rank = adapterRank
				return fixture.WriteAdapter(out, cfg, a)
			}
			return fixture.WriteModel(out, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&preset, "preset", "qwen3-tiny", "model shape: "+strings.Join(fixture.PresetNames(), ", "))
	f.StringVarP(&out, "output", "o", "", "file to write (required)")
	f.StringVar(&typ, "type", "", "weight type: F32, F16, Q8_0, Q4_0 (default: the preset's)")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.IntVar(&adapterRank, "adapter-rank", 0, "write a LoRA adapter of this rank for the preset instead of a model")
	f.StringVar(&stories, "stories260k", "", "convert the stories260K llama2.c checkpoint in this directory instead")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

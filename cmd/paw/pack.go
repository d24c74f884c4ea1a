package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/program"
)

// packResult is what `paw pack --json` prints.
type packResult struct {
	Path          string  `json:"path"`
	ProgramID     string  `json:"program_id"`
	Interpreter   string  `json:"interpreter"`
	RuntimeID     string  `json:"runtime_id"`
	LoRARank      int     `json:"lora_rank"`
	LoRAAlpha     float64 `json:"lora_alpha"`
	AdapterSHA256 string  `json:"adapter_sha256"`
}

func newPackCmd(cfg *config.Config) *cobra.Command {
	var (
		o      program.PackOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "pack --pseudo-program FILE (--adapter FILE.gguf | --peft DIR) --interpreter qwen3|gpt2 -o OUT.paw",
		Short: "Assemble a .paw program from a pseudo-program and a LoRA adapter (GGUF or PEFT)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := program.Pack(o)
			if errors.Is(err, program.ErrPack) {
				return asUsage(err) // the flags conflict or miss something
			} else if err != nil {
				return err
			}
			if err := publish(cmd, cfg, o.Out); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), packResult{Path: o.Out, ProgramID: p.ID(), Interpreter: p.Meta.Interpreter,
					RuntimeID: p.Meta.RuntimeID, LoRARank: p.Meta.LoRARank, LoRAAlpha: p.Meta.LoRAAlpha, AdapterSHA256: p.AdapterSHA256})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", o.Out, p.ID())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Spec, "spec", "", "what the program does, in words (meta.json spec)")
	f.StringVar(&o.SpecFile, "spec-file", "", "read the spec from this file instead")
	f.StringVar(&o.PseudoProgramFile, "pseudo-program", "", "file holding the pseudo-program the interpreter follows (required)")
	f.StringVar(&o.AdapterPath, "adapter", "", "llama.cpp LoRA adapter GGUF")
	f.StringVar(&o.PEFTDir, "peft", "", "PEFT adapter directory (adapter_config.json + adapter_model.safetensors), converted to GGUF")
	f.StringVar(&o.AdapterType, "adapter-type", "", "tensor type of a converted PEFT adapter: q4_0 (default), f16 or f32")
	f.StringVar(&o.Interpreter, "interpreter", "", "interpreter the adapter was trained for: qwen3 or gpt2 (required)")
	f.StringVar(&o.RuntimeID, "runtime-id", "", "meta.json runtime_id (default qwen3-0.6b-q6_k or gpt2-q8_0)")
	f.StringVar(&o.BasePath, "base", "", "optional base model GGUF to check the adapter's shapes against")
	f.StringVarP(&o.Out, "output", "o", "", "bundle to write (required)")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	cmd.MarkFlagsMutuallyExclusive("spec", "spec-file")
	cmd.MarkFlagsMutuallyExclusive("adapter", "peft")
	cmd.MarkFlagsOneRequired("adapter", "peft")
	for _, name := range []string{"pseudo-program", "interpreter", "output"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/interp"
)

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print paw's version and the llama.cpp commit it runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := struct {
				Version    string `json:"version"`
				LlamaCpp   string `json:"llama_cpp"`
				Go         string `json:"go"`
				SystemInfo string `json:"system_info"`
			}{version, interp.LlamaCommit, runtime.Version(), interp.SystemInfo()}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "paw %s\nllama.cpp %s (vendored by github.com/ollama/ollama v0.17.4)\n%s\ncpu: %s\n", v.Version, v.LlamaCpp, v.Go, v.SystemInfo)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

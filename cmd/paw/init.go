package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/library"
)

func newInitCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "init [--dir DIR]",
		Short: "Start a project: a paw.yaml with one example function and its test cases",
		Long: "Write DIR/paw.yaml with one example function (log triage: page or not) and its cases file,\n" +
			"then try: paw build && paw test && paw gen go -o fuzzy. An existing file is never overwritten.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			written, err := library.Init(dir, time.Now())
			if err != nil {
				return err
			}
			for _, path := range written {
				fmt.Fprintln(cmd.OutOrStdout(), path)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "the project directory")
	return cmd
}

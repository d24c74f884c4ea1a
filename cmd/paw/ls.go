package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/internal/config"
)

func newLsCmd(cfg *config.Config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List cached programs and base models with their sizes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := newHubClient(cmd, cfg).List()
			if err != nil {
				return err
			}
			if asJSON {
				for _, it := range items {
					if err := writeJSON(cmd.OutOrStdout(), it); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tID\tSIZE\tSLUGS\tSPEC")
			for _, it := range items {
				spec := it.Spec
				if len(spec) > 50 {
					spec = spec[:47] + "..."
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Kind, it.ID, humanBytes(it.Size), strings.Join(it.Slugs, ","),
					strings.ReplaceAll(spec, "\n", " "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line per cached item")
	return cmd
}

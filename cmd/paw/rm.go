package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/config"
)

func newRmCmd(cfg *config.Config) *cobra.Command {
	return &cobra.Command{
		Use:   "rm REF...",
		Short: "Remove cached programs (id or slug) with their engine cache, or base models (runtime id)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newHubClient(cmd, cfg)
			for _, ref := range args {
				if err := c.Remove(cmd.Context(), ref); errors.Is(err, hub.ErrNotCached) {
					return fmt.Errorf("nothing cached as %s (`paw ls` lists the cache)", ref)
				} else if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "removed", ref)
			}
			return nil
		},
	}
}

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/internal/kvcache"
)

func newLsCmd(cfg *config.Config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List cached programs and base models with their sizes, and the engine cache (KV) each program takes",
		Long: `List cached programs and base models with their sizes.

KV is the engine cache under PAW_CACHE_DIR/kv that a program takes: its
evaluated prefix states (one per base model and attention setting) and its
extracted adapter (an adapter shared by programs counts for each). Rows of
kind kv are cache files no cached program owns, by owner: base (base mode),
the id of a program run from a file or removed by an older paw, or unowned
(files of older paw versions, adapters no cached program uses).
PAW_KV_CACHE_MAX bounds the whole (the least recently used files go
first); paw rm removes a program's.`,
		Args: cobra.NoArgs,
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
			// Shared adapters count for each program: the total is the disk's.
			kvFiles, err := kvcache.List(filepath.Join(cfg.CacheDir, hub.KVDir))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tID\tSIZE\tKV\tSLUGS\tSPEC")
			var total int64
			for _, it := range items {
				spec := it.Spec
				if len(spec) > 50 {
					spec = spec[:47] + "..."
				}
				size, kv := humanBytes(it.Size), ""
				switch it.Kind {
				case hub.KindProgram:
					kv = humanBytes(it.KVSize)
					total += it.Size
				case hub.KindKV:
					size, kv = "", size
				default:
					total += it.Size
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Kind, it.ID, size, kv, strings.Join(it.Slugs, ","),
					strings.ReplaceAll(spec, "\n", " "))
			}
			fmt.Fprintf(tw, "total\t\t%s\t%s\t\t\n", humanBytes(total), humanBytes(kvcache.Total(kvFiles)))
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line per cached item")
	return cmd
}

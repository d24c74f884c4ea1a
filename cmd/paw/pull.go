package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/program"
)

// newHubClient configures a hub.Client from the environment; progress goes
// to stderr unless PAW_QUIET is set.
func newHubClient(cmd *cobra.Command, cfg *config.Config) *hub.Client {
	p := newProgress(cmd.ErrOrStderr(), cfg.Quiet)
	return &hub.Client{Dir: cfg.CacheDir, BaseURL: cfg.APIURL, HFBaseURL: cfg.HFURL, APIKey: cfg.APIKey,
		Offline: cfg.Offline, Trace: p.trace, Store: newStore(cfg)}
}

// pulled is one line of `paw pull --json`.
type pulled struct {
	Ref  string `json:"ref"`
	Path string `json:"path"`
}

func newPullCmd(cfg *config.Config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pull REF...",
		Short: "Download programs (ids, user/name[@vN] slugs) or runtime base models into the cache",
		Long: "Download programs or base models into the cache (PAW_CACHE_DIR).\n\n" +
			"REF is a program id, a slug (user/name, name = programasweights/name, optional @vN),\n" +
			"or a runtime id (" + program.DefaultRuntimeQwen3 + ", " + program.DefaultRuntimeGPT2 + ", or runtime:ID for any other),\n" +
			"or a PAW fast compiler (paw-4b-qwen3-0.6b, paw-4b-gpt2) for paw compile --local --compiler,\n" +
			"or "+hub.PseudoWriter.Name+", the model that writes its pseudo-programs (about 8 GB).\n" +
			"Each installed path is printed on stdout.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newHubClient(cmd, cfg)
			for _, ref := range args {
				p, err := c.Pull(cmd.Context(), ref)
				if err != nil {
					return err
				}
				if asJSON {
					err = writeJSON(cmd.OutOrStdout(), pulled{ref, p})
				} else {
					_, err = fmt.Fprintln(cmd.OutOrStdout(), p)
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line {ref, path} per item, as each is installed")
	return cmd
}

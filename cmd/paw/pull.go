package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/basemodel"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/program"
)

// newHubClient configures a hub.Client from the environment; progress goes
// to stderr unless PAW_QUIET is set.
func newHubClient(cmd *cobra.Command, cfg *config.Config) *hub.Client {
	p := newProgress(cmd.ErrOrStderr(), cfg.Quiet)
	return &hub.Client{Dir: cfg.CacheDir, BaseURL: cfg.APIURL, HFBaseURL: cfg.HFURL, APIKey: cfg.APIKey,
		Offline: cfg.Offline, Trace: p.trace, Store: newStore(cfg),
		Quantize: func(ctx context.Context, src, dst, typ string) error {
			return basemodel.Quantize(ctx, src, dst, typ, cfg.Threads)
		}}
}

// pulled is one line of `paw pull --json`.
type pulled struct {
	Ref  string `json:"ref"`
	Path string `json:"path"`
}

func newPullCmd(cfg *config.Config) *cobra.Command {
	var (
		asJSON  bool
		requant string
	)
	cmd := &cobra.Command{
		Use:   "pull REF...",
		Short: "Download programs (ids, user/name[@vN] slugs) or runtime base models into the cache",
		Long: "Download programs or base models into the cache (PAW_CACHE_DIR).\n\n" +
			"REF is a program id, a slug (user/name, name = programasweights/name, optional @vN),\n" +
			"or a runtime id (" + program.DefaultRuntimeQwen3 + ", " + program.DefaultRuntimeGPT2 + ", or runtime:ID for any other),\n" +
			"or a PAW fast compiler (paw-4b-qwen3-0.6b, paw-4b-gpt2) for paw compile --local --compiler,\n" +
			"or " + hub.PseudoWriter.Name + ", the model that writes its pseudo-programs (about 8 GB).\n" +
			"Each installed path is printed on stdout.\n\n" +
			"--requant TYPE (runtimes only) also writes the base model's weights as TYPE next to it,\n" +
			"with llama.cpp's quantizer; every later run of that runtime loads the copy (remade when the\n" +
			"runtime's base model changes) until --requant none. q8_0 of the Q6_K Qwen3 base runs label\n" +
			"calls faster for more memory (README, Performance: \"Q6_K: requantize the base at pull time\").",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if requant != "" && requant != hub.RequantNone && !slices.Contains(basemodel.QuantizeTypes(), strings.ToLower(requant)) {
				return usagef("--requant %q: want one of %s, or none", requant, strings.Join(basemodel.QuantizeTypes(), ", "))
			}
			c := newHubClient(cmd, cfg)
			for _, ref := range args {
				p, err := pullOne(cmd.Context(), c, ref, requant)
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
	cmd.Flags().StringVar(&requant, "requant", "", "runtimes: run a copy of the base model requantized to this type ("+
		strings.Join(basemodel.QuantizeTypes(), ", ")+"), or none to go back")
	return cmd
}

// pullOne pulls ref; with requant, ref must be a runtime, requantized too.
func pullOne(ctx context.Context, c *hub.Client, ref, requant string) (string, error) {
	if requant == "" {
		return c.Pull(ctx, ref)
	}
	return c.RequantRuntime(ctx, ref, requant)
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/store"
)

// lazyStore opens PAW_STORE on first use, so that commands that never
// touch the cache neither load the S3 configuration nor fail on it.
type lazyStore struct {
	url  string
	once sync.Once
	s    *store.Store
	err  error
}

var _ hub.Store = (*lazyStore)(nil)

// newStore is the hub's store for cfg: nil without PAW_STORE.
func newStore(cfg *config.Config) hub.Store {
	if cfg.Store == "" {
		return nil
	}
	return &lazyStore{url: cfg.Store}
}

func (l *lazyStore) open(ctx context.Context) (*store.Store, error) {
	l.once.Do(func() { l.s, l.err = store.Open(ctx, l.url) })
	return l.s, l.err
}

func (l *lazyStore) Fetch(ctx context.Context, name, dst string) (string, error) {
	s, err := l.open(ctx)
	if err != nil {
		return "", err
	}
	return s.Fetch(ctx, name, dst)
}

func (l *lazyStore) Publish(ctx context.Context, name, src string) (string, error) {
	s, err := l.open(ctx)
	if err != nil {
		return "", err
	}
	return s.Publish(ctx, name, src)
}

// publish adds a program paw just wrote to the cache and the store, when
// PAW_STORE is set: what one machine packs or compiles, every replica
// serves.
func publish(cmd *cobra.Command, cfg *config.Config, path string) error {
	if cfg.Store == "" {
		return nil
	}
	_, _, err := newHubClient(cmd, cfg).AddProgramFile(cmd.Context(), path)
	return err
}

// logPublishes is paw serve's hub trace: progress bars have no place among
// its JSON access logs, but a failed publish to the store must be seen.
func logPublishes(log *slog.Logger) func(hub.Event) {
	return func(e hub.Event) {
		if e.Kind != hub.EventPublish {
			return
		}
		if e.Err != nil {
			log.Error("publish to the store failed", "item", e.Item, "err", e.Err.Error())
		} else {
			log.Info("published to the store", "item", e.Item)
		}
	}
}

// pushed is one line of `paw push --json`.
type pushed struct {
	Kind      string `json:"kind"` // program or runtime
	ID        string `json:"id"`
	Path      string `json:"path"`
	Published bool   `json:"published"` // false without PAW_STORE
}

func newPushCmd(cfg *config.Config) *cobra.Command {
	var (
		runtimeID string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "push FILE.paw|DIR... | push --runtime ID FILE.gguf",
		Short: "Add programs or a base model to the cache and publish them to the store (PAW_STORE)",
		Long: "Install .paw programs (files or directories) into the cache under their program id, or a base model\n" +
			"GGUF under a runtime id of your choosing (--runtime; not an official one, which `paw pull` fetches), and\n" +
			"publish them to the shared store (PAW_STORE) so that every replica finds them: `paw pull ID` or a request\n" +
			"for the program on any `paw serve` then installs them from the store. Each cached path is printed.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runtimeID != "" && len(args) != 1 {
				return usagef("--runtime takes one base model file, got %d", len(args))
			}
			c := newHubClient(cmd, cfg)
			for _, a := range args {
				r := pushed{Kind: hub.KindProgram, ID: runtimeID, Published: c.Store != nil}
				var err error
				if runtimeID != "" {
					r.Kind = hub.KindRuntime
					r.Path, err = c.AddRuntime(cmd.Context(), runtimeID, a)
				} else {
					r.ID, r.Path, err = c.AddProgramFile(cmd.Context(), a)
				}
				if err != nil {
					return err
				}
				if asJSON {
					err = writeJSON(cmd.OutOrStdout(), r)
				} else {
					_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", r.ID, r.Path)
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&runtimeID, "runtime", "", "add one base model GGUF under this runtime id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line {kind, id, path, published} per item")
	return cmd
}

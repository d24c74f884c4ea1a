package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/registry"
)

// openRunRegistry opens the registry that `paw run` resolves function names
// through: dsn (--registry) if given, else PAW_REGISTRY. A SQLite file that
// does not exist means no registry, or an error when named by --registry:
// running a program never creates a registry. It returns nil, and a no-op
// close, when there is none.
func openRunRegistry(ctx context.Context, cfg *config.Config, dsn string) (*registry.Registry, func(), error) {
	explicit := dsn != ""
	if !explicit {
		dsn = cfg.Registry
	}
	isPostgres := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	if !isPostgres {
		if _, err := os.Stat(dsn); err != nil {
			if explicit {
				return nil, nil, fmt.Errorf("--registry: %w", err)
			}
			return nil, func() {}, nil
		}
	}
	r, err := registry.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	return r, func() { r.Close() }, nil
}

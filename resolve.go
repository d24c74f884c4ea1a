package paw

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/registry"
)

// registryProgram returns the program id a registry name stands for, and
// whether ref was one. Only a bare name or name@vN is asked of the
// registry, and only one it has a function of: paths, program ids and
// owner/name slugs, and names it does not know, go to the hub as before.
func (e *Engine) registryProgram(ctx context.Context, ref string) (string, bool, error) {
	reg := e.opts.Registry
	if reg == nil || strings.Contains(ref, "/") {
		return "", false, nil
	}
	if r, err := program.ParseRef(ref); err == nil && !r.IsSlug() {
		return "", false, nil // a path or a program id
	}
	name, _, err := registry.ParseRef(ref)
	if err != nil {
		return "", false, nil // not a registry ref; the hub says what is wrong with it
	}
	v, err := reg.Resolve(ctx, ref)
	if err == nil {
		return v.ProgramID, true, nil
	}
	if errors.Is(err, registry.ErrNotFound) {
		// Resolve says not found for an unknown function and for a missing
		// version of a known one; only the first is left to the hub.
		if _, serr := reg.Show(ctx, name); errors.Is(serr, registry.ErrNotFound) {
			return "", false, nil
		}
	}
	return "", true, fmt.Errorf("function %s: %w", ref, err)
}

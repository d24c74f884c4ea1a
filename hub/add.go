package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/paw-dev/paw/program"
)

// AddProgram installs p, built on this machine (a local compile), in the
// cache under its program id and returns its directory; a program already
// cached is kept.
func (c *Client) AddProgram(ctx context.Context, p *program.Program) (string, error) {
	id := p.Meta.ProgramID
	if !program.ValidID(id) {
		return "", fmt.Errorf("%w: program id %q", ErrInvalidBundle, id)
	}
	root, err := c.dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "programs", id)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := c.lock(ctx, root, "program-"+id, "program "+id)
	if err != nil {
		return "", fmt.Errorf("add %s: %w", id, err)
	}
	defer unlock()
	if fileExists(dir) {
		return dir, nil
	}
	if err := install(p, filepath.Dir(dir), dir, id); err != nil {
		return "", fmt.Errorf("add %s: %w", id, err)
	}
	return dir, nil
}

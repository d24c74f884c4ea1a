package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/paw-dev/paw/internal/fsutil"
)

// dirBackend keeps objects as files under a directory; a write goes to a
// temporary file renamed into place, so it is atomic on one file system.
type dirBackend string

func (d dirBackend) String() string { return "file://" + string(d) }

func (d dirBackend) path(key string) string { return filepath.Join(string(d), filepath.FromSlash(key)) }

func (d dirBackend) get(_ context.Context, key string) (io.ReadCloser, error) {
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

func (d dirBackend) put(_ context.Context, key string, body io.ReadSeeker, _ int64) error {
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return fsutil.WriteAtomic(p, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, body)
		return err
	})
}

func (d dirBackend) exists(_ context.Context, key string) (bool, error) {
	_, err := os.Stat(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/program"
)

// Store is a shared artifact store behind the cache (package store
// implements it): an item missing from the cache is fetched from it before
// the service is asked, and what the service delivers, or AddProgram and
// AddRuntime add, is published to it. Names are "programs/<id>.paw",
// "runtimes/<id>/manifest.json" and "runtimes/<id>/<file>".
type Store interface {
	// Fetch writes name's bytes to dst, verified, and returns their
	// sha256; a name the store lacks is an error matching fs.ErrNotExist.
	Fetch(ctx context.Context, name, dst string) (string, error)
	// Publish uploads the file at src under name, atomically.
	Publish(ctx context.Context, name, src string) (string, error)
}

func programName(id string) string { return "programs/" + id + ".paw" }

func runtimeName(id, file string) string { return "runtimes/" + id + "/" + file }

// programFromStore installs program id from the Store at dir; ok is false
// when there is no Store or it lacks the program.
func (c *Client) programFromStore(ctx context.Context, id, zipPath, parent, dir string) (ok bool, err error) {
	if c.Store == nil {
		return false, nil
	}
	if _, err := c.Store.Fetch(ctx, programName(id), zipPath); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	defer os.Remove(zipPath)
	p, err := openFetched(zipPath, id)
	if err != nil {
		return false, err
	}
	return true, install(p, parent, dir, id)
}

// publishPulled publishes what a pull installed, reporting the outcome as
// an EventPublish: the item is installed either way, and a store that is
// down must not fail a pull that succeeded.
func (c *Client) publishPulled(item, id string, publish func() error) {
	if c.Store != nil {
		c.trace(Event{Kind: EventPublish, Item: item, ID: id, Err: publish()})
	}
}

// publishProgram uploads program id to the Store as a .paw bundle.
func (c *Client) publishProgram(ctx context.Context, p *program.Program, id, parent string) error {
	tmp, err := os.CreateTemp(parent, "."+id+".publish-")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := p.WriteFile(tmp.Name()); err != nil {
		return err
	}
	if _, err = c.Store.Publish(ctx, programName(id), tmp.Name()); err != nil {
		return fmt.Errorf("publish program %s: %w", id, err)
	}
	return nil
}

// AddProgramFile installs the program at path (a .paw file or directory,
// as `paw pack` and `paw compile` write them); see AddProgram.
func (c *Client) AddProgramFile(ctx context.Context, path string) (id, dir string, err error) {
	p, err := program.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("add %s: %w", path, err)
	}
	id, dir, err = c.AddProgram(ctx, p)
	if err != nil {
		return "", "", fmt.Errorf("add %s: %w", path, err)
	}
	return id, dir, nil
}

// AddProgram installs p, built or packed on this machine, into the cache
// under its program id (a program already cached is kept), publishes it to
// the Store when there is one, and returns the id and the cached directory.
func (c *Client) AddProgram(ctx context.Context, p *program.Program) (id, dir string, err error) {
	id = strings.ToLower(p.ID())
	if !program.ValidID(id) {
		return "", "", fmt.Errorf("%w: program id %q", ErrInvalidBundle, p.ID())
	}
	root, err := c.dir()
	if err != nil {
		return "", "", err
	}
	parent := filepath.Join(root, "programs")
	dir = filepath.Join(parent, id)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", "", err
	}
	unlock, err := c.lock(ctx, root, "program-"+id, "program "+id)
	if err != nil {
		return "", "", fmt.Errorf("add program %s: %w", id, err)
	}
	defer unlock()
	if !fileExists(dir) {
		if err := install(p, parent, dir, id); err != nil {
			return "", "", fmt.Errorf("add program %s: %w", id, err)
		}
	}
	if c.Store != nil {
		if err := c.publishProgram(ctx, p, id, parent); err != nil {
			return "", "", fmt.Errorf("add program %s: %w", id, err)
		}
	}
	return id, dir, nil
}

// runtimeFromStore installs runtime id's base model from the Store, checked
// against its pin when it has one; ok is false when there is no Store or
// it lacks the runtime.
func (c *Client) runtimeFromStore(ctx context.Context, root, id string, pin Runtime) (path string, ok bool, err error) {
	if c.Store == nil {
		return "", false, nil
	}
	dir := filepath.Join(root, "models", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	unlock, err := c.lock(ctx, root, "runtime-"+id, "runtime "+id)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if p, err := c.runtimeSource(id); err == nil { // another process installed it while we waited
		return p, true, nil
	}
	mtmp := filepath.Join(dir, "."+manifestFile+".store")
	defer os.Remove(mtmp)
	if _, err := c.Store.Fetch(ctx, runtimeName(id, manifestFile), mtmp); errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	m, err := readManifest(mtmp)
	if err != nil {
		return "", false, err
	}
	rt := pin
	if rt.File == "" {
		if rt.File, err = modelFileName(m); err != nil {
			return "", false, err
		}
		rt.SHA256, rt.Size = strings.ToLower(m.LocalSDK.BaseModel.SHA256), m.LocalSDK.BaseModel.SizeBytes
	}
	dst := filepath.Join(dir, rt.File)
	sum, err := c.Store.Fetch(ctx, runtimeName(id, rt.File), dst)
	if err != nil {
		return "", false, err
	}
	if sum != rt.SHA256 {
		os.Remove(dst)
		return "", false, fmt.Errorf("%w: %s: the store's base model has sha256 %s, want %s", ErrPinMismatch, id, sum, rt.SHA256)
	}
	if err := os.Rename(mtmp, filepath.Join(dir, manifestFile)); err != nil {
		return "", false, err
	}
	return dst, true, nil
}

// publishRuntime uploads runtime rt's base model at path, then its manifest
// (written from rt when the service gave none), which readers look up first.
func (c *Client) publishRuntime(ctx context.Context, rt Runtime, m *api.RuntimeManifest, path string) error {
	if m == nil {
		m = &api.RuntimeManifest{RuntimeID: rt.ID, LocalSDK: api.LocalSDK{BaseModel: api.BaseModel{
			Name: rt.BaseModel, File: rt.File, Filename: rt.File, URL: rt.URL, SizeBytes: rt.Size, SHA256: rt.SHA256}}}
	}
	if _, err := c.Store.Publish(ctx, runtimeName(rt.ID, rt.File), path); err != nil {
		return fmt.Errorf("publish runtime %s: %w", rt.ID, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+manifestFile+".publish-")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := writeJSONAtomic(tmp.Name(), m); err != nil {
		return err
	}
	if _, err := c.Store.Publish(ctx, runtimeName(rt.ID, manifestFile), tmp.Name()); err != nil {
		return fmt.Errorf("publish runtime %s: %w", rt.ID, err)
	}
	return nil
}

// AddRuntime installs the base model file at path as runtime id (not a
// pinned one) into the cache, with a manifest, publishes both to the Store
// when there is one, and returns the cached path: how a base model that no
// service serves reaches every replica.
func (c *Client) AddRuntime(ctx context.Context, id, path string) (string, error) {
	root, pin, err := c.runtimeLayout(id)
	if err != nil {
		return "", err
	}
	if pin.File != "" {
		return "", fmt.Errorf("add runtime %s: %w: a pinned runtime comes from its pin (paw pull)", id, ErrBadRef)
	}
	name := filepath.Base(path)
	if !reFileName.MatchString(name) || name == manifestFile {
		return "", fmt.Errorf("add runtime %s: %w: file name %q", id, ErrBadRef, name)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return "", fmt.Errorf("add runtime %s: %w", id, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("add runtime %s: %w", id, err)
	}
	dir := filepath.Join(root, "models", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := c.lock(ctx, root, "runtime-"+id, "runtime "+id)
	if err != nil {
		return "", fmt.Errorf("add runtime %s: %w", id, err)
	}
	defer unlock()
	dst := filepath.Join(dir, name)
	if err := copyFileAtomic(path, dst); err != nil {
		return "", fmt.Errorf("add runtime %s: %w", id, err)
	}
	rt := Runtime{ID: id, File: name, Size: fi.Size(), SHA256: sum}
	m := &api.RuntimeManifest{RuntimeID: id, LocalSDK: api.LocalSDK{BaseModel: api.BaseModel{
		File: name, Filename: name, SizeBytes: rt.Size, SHA256: sum}}}
	if err := writeJSONAtomic(filepath.Join(dir, manifestFile), m); err != nil {
		return "", fmt.Errorf("add runtime %s: %w", id, err)
	}
	if c.Store != nil {
		if err := c.publishRuntime(ctx, rt, m, dst); err != nil {
			return "", fmt.Errorf("add runtime %s: %w", id, err)
		}
	}
	return dst, nil
}

// copyFileAtomic copies src to dst through a temporary file and a rename.
func copyFileAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return fsutil.WriteAtomic(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// installPulled installs a program the service delivered and publishes it.
func (c *Client) installPulled(ctx context.Context, p *program.Program, parent, dir, id string) error {
	if err := install(p, parent, dir, id); err != nil {
		return err
	}
	c.publishPulled("program "+id, id, func() error { return c.publishProgram(ctx, p, id, parent) })
	return nil
}

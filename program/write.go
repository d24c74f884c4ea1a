package program

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// modTime is the modification time of every member Write writes, so that the
// same Program always gives the same bytes.
var modTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate reports whether p can be written: a valid program_id and
// interpreter, a template whose parts hold no placeholder, a LoRA adapter
// for the interpreter's architecture, and Extra members with safe names
// that do not shadow the known ones.
func (p *Program) Validate() error {
	if err := p.Meta.check(); err != nil {
		return err
	}
	if _, err := ParseTemplate(p.Template.String()); err != nil {
		return fmt.Errorf("%w (in %s)", err, memberTemplate)
	}
	if _, err := checkAdapter(p.Adapter, memberAdapter, p.Meta.Interpreter); err != nil {
		return err
	}
	seen := map[string]string{}
	for _, name := range []string{memberAdapter, memberMeta, memberTemplate, memberPseudo} {
		seen[name] = name
	}
	for _, name := range slices.Sorted(maps.Keys(p.Extra)) {
		if knownMember(name) {
			return fmt.Errorf("%w: extra member %q shadows a known member", ErrUnsafeMember, name)
		}
		if err := checkName(name, seen); err != nil {
			return err
		}
		if filepath.Base(name) != name || name[0] == '.' {
			return fmt.Errorf("%w: extra member %q must be a plain top-level name", ErrUnsafeMember, name)
		}
	}
	return nil
}

// members returns the bundle's members, sorted by name.
func (p *Program) members() ([]member, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	meta, err := encodeMeta(p.Meta)
	if err != nil {
		return nil, err
	}
	ms := []member{
		{memberAdapter, p.Adapter},
		{memberMeta, meta},
		{memberTemplate, []byte(p.Template.String())},
	}
	if p.PseudoProgram != "" {
		ms = append(ms, member{memberPseudo, []byte(p.PseudoProgram)})
	}
	for name, b := range p.Extra {
		ms = append(ms, member{name, b})
	}
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
	return ms, nil
}

type member struct {
	name string
	data []byte
}

// Write validates p and writes it as a .paw ZIP archive. The output is
// deterministic: members sorted by name, fixed modification times, mode
// 0644; binary members are stored, text members deflated.
func (p *Program) Write(w io.Writer) error {
	ms, err := p.members()
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, m := range ms {
		fh := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: modTime}
		if filepath.Ext(m.name) == ".gguf" || filepath.Ext(m.name) == ".bin" {
			fh.Method = zip.Store
		}
		fh.SetMode(0o644)
		fw, err := zw.CreateHeader(fh)
		if err != nil {
			return fmt.Errorf("write %s: %w", m.name, err)
		}
		if _, err := fw.Write(m.data); err != nil {
			return fmt.Errorf("write %s: %w", m.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return nil
}

// WriteFile writes p as a .paw file at path, atomically: to a temporary
// file in the same directory, renamed over path once complete.
func (p *Program) WriteFile(path string) (err error) {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteDir writes p unpacked into the directory dir: it fills a temporary
// directory next to dir and renames it to dir. An existing dir is replaced
// (moved aside, then removed once the new one is in place).
func (p *Program) WriteDir(dir string) (err error) {
	ms, err := p.members()
	if err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, m := range ms {
		if err := writeSynced(filepath.Join(tmp, m.name), m.data); err != nil {
			return fmt.Errorf("write %s: %w", dir, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	if err := replaceDir(tmp, dir); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	return nil
}

// replaceDir renames the directory tmp to dir, replacing dir if it exists.
func replaceDir(tmp, dir string) error {
	err := os.Rename(tmp, dir)
	if err == nil {
		return nil
	}
	if _, serr := os.Lstat(dir); serr != nil {
		return err // dir does not exist: the rename failed for another reason
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if rerr := os.Rename(old, dir); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return os.RemoveAll(old)
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

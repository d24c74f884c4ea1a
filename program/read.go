package program

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/paw-dev/paw/gguf"
)

// Member names.
const (
	memberAdapter  = "adapter.gguf"
	memberTemplate = "prompt_template.txt"
	memberMeta     = "meta.json"
	memberPseudo   = "pseudo_program.txt"
)

// knownMember reports whether name is a member this package interprets.
func knownMember(name string) bool {
	switch name {
	case memberAdapter, memberTemplate, memberMeta, memberPseudo:
		return true
	}
	return false
}

// A Program is an opened bundle.
type Program struct {
	Meta          Meta
	Template      Template
	PseudoProgram string // pseudo_program.txt, optional
	Adapter       []byte // adapter.gguf
	AdapterSHA256 string // hex SHA-256 of Adapter, set by Open and NewReader
	LoRA          gguf.LoRA
	// Extra holds the other top-level members by name (adapter_config.json,
	// prefix_cache.bin, prefix_tokens.json, ...); Write keeps them.
	Extra map[string][]byte
}

// Default limits, at least as strict as the official SDK's.
const (
	DefaultMaxArchive  = 256 << 20 // bytes of a .paw file
	DefaultMaxMembers  = 256
	DefaultMaxExpanded = 512 << 20 // bytes of all members, uncompressed
	DefaultMaxText     = 4 << 20   // bytes of meta.json, prompt_template.txt or pseudo_program.txt
)

// Limits bounds what Open and NewReader accept. Zero fields take the
// defaults, so Limits{} is DefaultLimits.
type Limits struct {
	MaxArchive  int64 // archive size in bytes (ZIP only)
	MaxMembers  int   // number of members, directory entries included
	MaxExpanded int64 // total uncompressed bytes of the members
	MaxText     int64 // bytes of each text member
}

// DefaultLimits are the limits of [Open] and [NewReader].
var DefaultLimits = Limits{}

func (l Limits) withDefaults() Limits {
	if l.MaxArchive <= 0 {
		l.MaxArchive = DefaultMaxArchive
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = DefaultMaxMembers
	}
	if l.MaxExpanded <= 0 {
		l.MaxExpanded = DefaultMaxExpanded
	}
	if l.MaxText <= 0 {
		l.MaxText = DefaultMaxText
	}
	return l
}

// Open opens the bundle at path, a .paw ZIP file or a directory holding
// its members, with [DefaultLimits].
func Open(path string) (*Program, error) { return Limits{}.Open(path) }

// NewReader reads a .paw ZIP bundle of the given size from r with
// [DefaultLimits].
func NewReader(r io.ReaderAt, size int64) (*Program, error) { return Limits{}.NewReader(r, size) }

// Open opens the bundle at path, a .paw ZIP file or a directory, within l.
func (l Limits) Open(path string) (*Program, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open program: %w", err)
	}
	if fi.IsDir() {
		p, err := l.openDir(path)
		if err != nil {
			return nil, fmt.Errorf("open program %s: %w", path, err)
		}
		return p, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open program: %w", err)
	}
	defer f.Close()
	p, err := l.NewReader(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("open program %s: %w", path, err)
	}
	return p, nil
}

// NewReader reads a .paw ZIP bundle of the given size from r within l. It
// checks every member name and type, reads at most l.MaxExpanded bytes
// whatever the headers declare, and validates the result (see [Program]).
// Directory entries, dot files and unknown members inside directories (such
// as __MACOSX/) are skipped; a known member inside a directory is rejected.
func (l Limits) NewReader(r io.ReaderAt, size int64) (*Program, error) {
	l = l.withDefaults()
	if size > l.MaxArchive {
		return nil, fmt.Errorf("%w: archive is %d bytes, limit %d", ErrTooLarge, size, l.MaxArchive)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if len(zr.File) > l.MaxMembers {
		return nil, fmt.Errorf("%w: %d members, limit %d", ErrTooLarge, len(zr.File), l.MaxMembers)
	}
	seen := make(map[string]string, len(zr.File))
	members := make(map[string][]byte)
	budget := l.MaxExpanded
	for _, f := range zr.File {
		name, dir := strings.CutSuffix(f.Name, "/")
		if err := checkName(name, seen); err != nil {
			return nil, err
		}
		mode := f.Mode()
		if dir || mode.IsDir() {
			if !mode.IsDir() && mode.Type() != 0 {
				return nil, fmt.Errorf("%w: %q is a %v", ErrUnsafeMember, f.Name, mode.Type())
			}
			continue
		}
		if !mode.IsRegular() {
			return nil, fmt.Errorf("%w: %q is not a regular file (%v)", ErrUnsafeMember, f.Name, mode.Type())
		}
		if strings.Contains(name, "/") {
			if knownMember(path.Base(name)) {
				return nil, fmt.Errorf("%w: %q: %s must be at the top level", ErrUnsafeMember, name, path.Base(name))
			}
			continue
		}
		if strings.HasPrefix(name, ".") { // as in directories: dot files are not members
			continue
		}
		if f.Flags&0x1 != 0 {
			return nil, fmt.Errorf("%w: %q is encrypted", ErrFormat, name)
		}
		b, err := readZipMember(f, l.limitFor(name, budget))
		if err != nil {
			return nil, err
		}
		budget -= int64(len(b))
		members[name] = b
	}
	return fromMembers(members)
}

// limitFor returns how many bytes member name may have.
func (l Limits) limitFor(name string, budget int64) int64 {
	if name == memberMeta || name == memberTemplate || name == memberPseudo {
		return min(budget, l.MaxText)
	}
	return budget
}

// readZipMember reads f, failing with ErrTooLarge if it declares or expands
// to more than limit bytes, or to more than it declares.
func readZipMember(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%w: %q declares %d bytes, %d allowed", ErrTooLarge, f.Name, f.UncompressedSize64, limit)
	}
	declared := int64(f.UncompressedSize64)
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrFormat, f.Name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, io.LimitReader(rc, declared)); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrFormat, f.Name, err)
	} else if n < declared {
		return nil, fmt.Errorf("%w: %q: %d of %d bytes", ErrFormat, f.Name, n, declared)
	}
	// Anything past the declared size is a lie (archive/zip reports it as
	// ErrFormat); io.EOF here also means the CRC matched.
	var one [1]byte
	switch _, err := io.ReadFull(rc, one[:]); {
	case err == nil || errors.Is(err, zip.ErrFormat):
		return nil, fmt.Errorf("%w: %q expands past its declared %d bytes", ErrTooLarge, f.Name, declared)
	case err != io.EOF:
		return nil, fmt.Errorf("%w: %q: %w", ErrFormat, f.Name, err)
	}
	return buf.Bytes(), nil
}

// checkName rejects member names that are unsafe to unpack or that repeat
// an earlier name (compared case-insensitively, as some file systems do).
func checkName(name string, seen map[string]string) error {
	bad := ""
	switch {
	case name == "":
		bad = "empty name"
	case strings.ContainsAny(name, "\\\x00"):
		bad = "backslash or NUL in name"
	case strings.HasPrefix(name, "/") || len(name) >= 2 && name[1] == ':':
		bad = "absolute path"
	case name != path.Clean(name) || name == "." || name == ".." || strings.HasPrefix(name, "../"):
		bad = "non-canonical path or .. element"
	}
	if bad != "" {
		return fmt.Errorf("%w: %q: %s", ErrUnsafeMember, name, bad)
	}
	key := strings.ToLower(name)
	if prev, dup := seen[key]; dup {
		return fmt.Errorf("%w: %q duplicates %q", ErrUnsafeMember, name, prev)
	}
	seen[key] = name
	return nil
}

// openDir reads a bundle unpacked in dir. Regular top-level files are
// members; subdirectories and dot files (temporary files) are skipped;
// symlinks and other special files are rejected.
func (l Limits) openDir(dir string) (*Program, error) {
	l = l.withDefaults()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	if len(entries) > l.MaxMembers {
		return nil, fmt.Errorf("%w: %d entries, limit %d", ErrTooLarge, len(entries), l.MaxMembers)
	}
	seen := make(map[string]string, len(entries))
	members := make(map[string][]byte)
	budget := l.MaxExpanded
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") && !knownMember(name) {
			continue
		}
		if err := checkName(name, seen); err != nil {
			return nil, err
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("%w: %q is not a regular file (%v)", ErrUnsafeMember, name, e.Type())
		}
		b, err := readFileLimited(filepath.Join(dir, name), name, l.limitFor(name, budget))
		if err != nil {
			return nil, err
		}
		budget -= int64(len(b))
		members[name] = b
	}
	return fromMembers(members)
}

// readFileLimited reads a regular file of at most limit bytes.
func readFileLimited(path, name string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() { // replaced by something else since ReadDir
		return nil, fmt.Errorf("%w: %q is not a regular file", ErrUnsafeMember, name)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w: %q has %d bytes, %d allowed", ErrTooLarge, name, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %q grew past %d bytes", ErrTooLarge, name, limit)
	}
	return b, nil
}

// fromMembers validates the members of a bundle and builds the Program.
func fromMembers(m map[string][]byte) (*Program, error) {
	for _, name := range []string{memberAdapter, memberMeta, memberTemplate} {
		if _, ok := m[name]; !ok {
			return nil, fmt.Errorf("%w: %s", ErrMissingMember, name)
		}
	}
	p := &Program{Adapter: m[memberAdapter]}
	var err error
	if p.Meta, err = parseMeta(m[memberMeta]); err != nil {
		return nil, err
	}
	if p.Template, err = ParseTemplate(string(m[memberTemplate])); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, memberTemplate)
	}
	if b, ok := m[memberPseudo]; ok {
		p.PseudoProgram = string(b)
	}
	if p.LoRA, err = checkAdapter(p.Adapter, memberAdapter, p.Meta.Interpreter); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(p.Adapter)
	p.AdapterSHA256 = hex.EncodeToString(sum[:])
	for name, b := range m {
		if !knownMember(name) {
			if p.Extra == nil {
				p.Extra = make(map[string][]byte)
			}
			p.Extra[name] = b
		}
	}
	return p, nil
}

// checkAdapter parses a LoRA GGUF adapter and, for a known interpreter,
// checks that it was made for that interpreter's architecture.
func checkAdapter(b []byte, name, interpreter string) (gguf.LoRA, error) {
	r, err := gguf.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return gguf.LoRA{}, fmt.Errorf("%w: %s: %w", ErrAdapter, name, err)
	}
	l, err := r.LoRA()
	if err != nil {
		return gguf.LoRA{}, fmt.Errorf("%w: %s: %w", ErrAdapter, name, err)
	}
	if want := Arch(interpreter); want != "" && l.Arch != want {
		return gguf.LoRA{}, fmt.Errorf("%w: %s is for %q, interpreter %s needs %q", ErrBaseMismatch, name, l.Arch, interpreter, want)
	}
	return l, nil
}

package library

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/schema"
)

// LockVersion is the paw.lock format version this package writes.
const LockVersion = 1

// Lock is paw.lock: what each function compiled to. It is JSON with sorted
// keys, two-space indentation and one field per line, ending in a newline,
// so the same lock is the same bytes and a rebuild diffs as the lines of
// the functions that changed. It is meant to be committed, like go.sum.
type Lock struct {
	Version   int                   `json:"version"`
	Functions map[string]*LockEntry `json:"functions"` // by function name
}

// LockEntry pins one function's compiled program.
type LockEntry struct {
	ProgramID     string `json:"program_id"`
	AdapterSHA256 string `json:"adapter_sha256"` // hex sha256 of the program's adapter.gguf
	Compiler      string `json:"compiler"`       // the compiler id asked for
	// CompilerSnapshot is the exact compiler version the service reports.
	CompilerSnapshot string `json:"compiler_snapshot,omitempty"`
	SpecHash         string `json:"spec_hash"` // SpecHash of the function built
	// Inputs are the InputHashes of the function built (absent when it has
	// no input files, or the lock predates them).
	Inputs  map[string]string `json:"inputs,omitempty"`
	BuiltAt time.Time         `json:"built_at"` // UTC, to the second
}

// NewLock returns an empty lock.
func NewLock() *Lock { return &Lock{Version: LockVersion, Functions: map[string]*LockEntry{}} }

// ReadLock reads a lock file; a missing file is an empty lock (nothing
// built yet).
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewLock(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	l, err := ParseLock(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// ParseLock decodes lock data.
func ParseLock(data []byte) (*Lock, error) {
	l := NewLock()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(l); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLock, err)
	}
	if l.Version != LockVersion {
		return nil, fmt.Errorf("%w: version %d (this paw reads %d)", ErrLock, l.Version, LockVersion)
	}
	if l.Functions == nil {
		l.Functions = map[string]*LockEntry{}
	}
	for name, e := range l.Functions {
		if e == nil || e.ProgramID == "" || e.SpecHash == "" {
			return nil, fmt.Errorf("%w: function %q: missing program_id or spec_hash", ErrLock, name)
		}
	}
	return l, nil
}

// Entry returns f's lock entry when it is built for f's current spec; else
// an error matching ErrNotBuilt that says to run paw build.
func (l *Lock) Entry(f *Function) (*LockEntry, error) {
	e := l.Functions[f.Name]
	switch {
	case e == nil:
		return nil, fmt.Errorf("%w: not in %s; run paw build", ErrNotBuilt, LockFile)
	case e.SpecHash != SpecHash(f):
		return nil, fmt.Errorf("%w: its spec changed since the lock; run paw build", ErrNotBuilt)
	}
	return e, nil
}

// InputHashes hashes the contents of f's compile input files, the small
// ones written by hand: "examples" and "pseudo_program" (by manifest key)
// to "sha256:<hex>", or to "unreadable: <error>" when the file cannot be
// read (the compile then says why). Model files (base, mapper,
// writer_model) are identified by name only: hashing gigabytes on every
// plan would cost more than it catches. nil when f has none.
func (m *Manifest) InputHashes(f *Function) map[string]string {
	var in map[string]string
	for _, k := range []struct{ key, file string }{{"examples", f.Examples}, {"pseudo_program", f.PseudoProgram}} {
		if k.file == "" {
			continue
		}
		if in == nil {
			in = map[string]string{}
		}
		sum, err := fileSHA256(filepath.Join(m.Dir, filepath.FromSlash(k.file)))
		if err != nil {
			in[k.key] = "unreadable: " + err.Error()
		} else {
			in[k.key] = "sha256:" + sum
		}
	}
	return in
}

// Marshal encodes the lock in its stable form.
func (l *Lock) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	out := *l
	out.Version = LockVersion
	if out.Functions == nil {
		out.Functions = map[string]*LockEntry{} // "{}", not null
	}
	if err := enc.Encode(out); err != nil { // map keys come out sorted
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLock writes l to path atomically.
func WriteLock(path string, l *Lock) error {
	data, err := l.Marshal()
	if err != nil {
		return fmt.Errorf("encode lock: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return nil
}

// SpecHash is the content hash that decides whether a function needs
// recompiling: "sha256:" and the hex sha256 of the compact JSON object
//
//	{"compiler":C,"contract":K,"interpreter":I,"spec":S,"v":1}
//
// where S is the spec exactly as written, C the compiler id, I the
// canonical interpreter name (program.InterpreterQwen3 or
// program.InterpreterGPT2, so "qwen3" and "Qwen/Qwen3-0.6B" agree), and K
// the contract: {"kind":"text"}, {"kind":"labels","labels":[...]} (in the
// manifest's order), {"kind":"regex","regex":R} or
// {"kind":"json","schema":J} with J the schema's canonical JSON as a
// string (keys sorted, numbers as written; the same for inline and file
// schemas); absent fields are left out. A local compiler's inputs join
// the object under their manifest keys (base, examples, mapper,
// pseudo_program, writer_model, writer_max_tokens: the values as written, not the files'
// contents, which the lock entry's Inputs track), so that pointing a
// function at another base or compiler rebuilds it; hosted functions have none, so their hashes are unchanged.
// Owner, scope, expiry, cases, gates, baseline and fallback are left out:
// changing them does not change the program.
func SpecHash(f *Function) string {
	type contract struct {
		Kind   schema.Kind `json:"kind"`
		Labels []string    `json:"labels,omitempty"`
		Regex  string      `json:"regex,omitempty"`
		Schema string      `json:"schema,omitempty"`
	}
	c := contract{Kind: f.Contract.Kind, Labels: f.Contract.Labels, Regex: f.Contract.Regex, Schema: string(f.Contract.Schema)}
	if c.Kind == "" {
		c.Kind = schema.KindText
	}
	doc := struct {
		Base          string   `json:"base,omitempty"`
		Compiler      string   `json:"compiler"`
		Contract      contract `json:"contract"`
		Examples      string   `json:"examples,omitempty"`
		Interpreter   string   `json:"interpreter"`
		Mapper        string   `json:"mapper,omitempty"`
		PseudoProgram string   `json:"pseudo_program,omitempty"`
		Spec          string   `json:"spec"`
		V             int      `json:"v"`
		WriterMax     int      `json:"writer_max_tokens,omitempty"`
		WriterModel   string   `json:"writer_model,omitempty"`
	}{f.Base, f.Compiler, c, f.Examples, f.Interpreter, f.Mapper, f.PseudoProgram, f.Spec, 1, f.WriterMaxTokens, f.WriterModel}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc) // strings and string slices always encode
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

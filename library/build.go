package library

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/program"
)

// Plan says which functions a build compiles. Build them with a Builder.
type Plan struct {
	Compile   []Step   // new or changed functions, by name
	Unchanged []string // functions whose lock entry matches their spec hash, by name
	Removed   []string // lock entries of functions no longer in the manifest (dropped), by name

	manifest *Manifest
	lock     *Lock
}

// Step is one function to compile.
type Step struct {
	Function *Function
	SpecHash string
	Inputs   map[string]string // InputHashes of the function when planned
	Reason   string            // "new", "changed", "inputs changed" or "forced"
}

// NewPlan compares the manifest with the lock: a function is compiled when
// it has no lock entry, its SpecHash differs from the entry's, or the
// contents of its input files differ from those the entry records (see
// InputHashes; an entry that records none is taken as matching).
func NewPlan(m *Manifest, l *Lock) *Plan {
	if l == nil {
		l = NewLock()
	}
	p := &Plan{manifest: m, lock: l}
	fns := slices.Clone(m.Functions)
	slices.SortFunc(fns, func(a, b *Function) int { return cmp.Compare(a.Name, b.Name) })
	for _, f := range fns {
		h, in := SpecHash(f), m.InputHashes(f)
		switch e := l.Functions[f.Name]; {
		case e == nil:
			p.Compile = append(p.Compile, Step{f, h, in, "new"})
		case e.SpecHash != h:
			p.Compile = append(p.Compile, Step{f, h, in, "changed"})
		case e.Inputs != nil && !maps.Equal(e.Inputs, in):
			p.Compile = append(p.Compile, Step{f, h, in, "inputs changed"})
		default:
			p.Unchanged = append(p.Unchanged, f.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.Functions)) {
		if m.Function(name) == nil {
			p.Removed = append(p.Removed, name)
		}
	}
	return p
}

// Force moves the named unchanged functions (every one when names is
// empty) into the plan's compiles, reason "forced". A name that is not a
// function of the manifest is an error; one already compiled stays as is.
func (p *Plan) Force(names ...string) error {
	if len(names) == 0 {
		names = slices.Clone(p.Unchanged)
	}
	for _, name := range names {
		f := p.manifest.Function(name)
		if f == nil {
			return fmt.Errorf("%w: no function %q in %s", ErrManifest, name, ManifestFile)
		}
		i := slices.Index(p.Unchanged, name)
		if i < 0 {
			continue
		}
		p.Unchanged = slices.Delete(p.Unchanged, i, i+1)
		p.Compile = append(p.Compile, Step{f, SpecHash(f), p.manifest.InputHashes(f), "forced"})
	}
	slices.SortFunc(p.Compile, func(a, b Step) int { return cmp.Compare(a.Function.Name, b.Function.Name) })
	return nil
}

// FetchFunc puts a program into the local cache and returns its directory;
// (*hub.Client).PullProgram is one, and with an offline client it only
// looks.
type FetchFunc func(ctx context.Context, programID string) (dir string, err error)

// Builder compiles a plan's functions. Programs are compiled private
// (unlisted on the service): a project's functions are its own.
type Builder struct {
	Compiler compile.Compiler // required
	// Local returns the compiler of a LocalCompiler or MapperCompiler
	// function (nil: such functions fail). It must leave the program in the
	// cache for Fetch. It may return a BatchCompiler.
	Local func(m *Manifest, f *Function) compile.Compiler
	Fetch FetchFunc // required: compiled programs are fetched to hash their adapters
	// Now stamps built_at; nil means time.Now.
	Now func() time.Time
	// Progress, when set, is told of each function before it is compiled
	// and after (err nil on success).
	Progress func(s Step, done bool, err error)
}

// BatchCompiler is the compiler of one function that can compile others
// with it, loading its models once: Build compiles the plan's functions
// whose compilers are BatchCompilers of the same Batch in one CompileBatch
// call on the first of them.
type BatchCompiler interface {
	compile.Compiler
	// Batch says which compiles can be joined (those loading the same
	// models).
	Batch() string
	// CompileBatch compiles the function of each of batch (the receiver
	// among them; all of its Batch) and returns, in batch's order, each
	// one's result or its error.
	CompileBatch(ctx context.Context, batch []BatchCompiler) ([]*compile.Result, []error)
}

// Outcome is one compiled function: its new entry, or why it failed.
type Outcome struct {
	Name  string
	Entry *LockEntry // nil on failure
	Err   error
}

// Build compiles each function of the plan in turn, continuing past
// failures, and returns the new lock: unchanged functions keep their
// entries, compiled ones get new entries, a function whose compile failed
// keeps its previous entry (if any), and removed functions are dropped.
// Unchanged functions' programs are fetched too (into the cache, after a
// fresh clone) and checked against their entries.
// The error joins every failure, each naming its function; the lock is
// still valid to write then (it holds the successes).
func (b *Builder) Build(ctx context.Context, p *Plan) (*Lock, []Outcome, error) {
	next := NewLock()
	for name, e := range p.lock.Functions {
		if !slices.Contains(p.Removed, name) {
			next.Functions[name] = e
		}
	}
	var outs []Outcome
	var errs []error
	batched := map[int]compiled{} // by step: results of a batch compile that ran ahead
	for i, s := range p.Compile {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		r, ok := batched[i]
		if !ok {
			if b.Progress != nil {
				b.Progress(s, false, nil)
			}
			r = b.compile(ctx, p, i, batched)
		}
		e, err := b.check(ctx, s, r)
		if b.Progress != nil {
			b.Progress(s, true, err)
		}
		if err != nil {
			err = fmt.Errorf("build %s: %w", s.Function.Name, err)
			errs = append(errs, err)
		} else {
			next.Functions[s.Function.Name] = e
		}
		outs = append(outs, Outcome{Name: s.Function.Name, Entry: e, Err: err})
	}
	for _, name := range p.Unchanged {
		if ctx.Err() != nil {
			break
		}
		if err := checkEntry(ctx, p.manifest.Function(name), p.lock.Functions[name], b.Fetch); err != nil {
			errs = append(errs, fmt.Errorf("build %s: %w", name, err))
		}
	}
	return next, outs, errors.Join(errs...)
}

// compiled is one function's compile result or error.
type compiled struct {
	res *compile.Result
	err error
}

// compile compiles step i of p. When its compiler is a BatchCompiler, the
// later steps of its batch are compiled with it, their results left in
// batched.
func (b *Builder) compile(ctx context.Context, p *Plan, i int, batched map[int]compiled) compiled {
	c, err := b.compilerOf(p, i)
	if err != nil {
		return compiled{err: err}
	}
	bc, ok := c.(BatchCompiler)
	if !ok {
		f := p.Compile[i].Function
		res, err := c.Compile(ctx, compile.Request{Spec: f.Spec, Compiler: f.Compiler, Private: true})
		return compiled{res, err}
	}
	batch, steps := []BatchCompiler{bc}, []int{i}
	for j := i + 1; j < len(p.Compile); j++ {
		if o, err := b.compilerOf(p, j); err == nil {
			if obc, ok := o.(BatchCompiler); ok && obc.Batch() == bc.Batch() {
				batch, steps = append(batch, obc), append(steps, j)
				if b.Progress != nil {
					b.Progress(p.Compile[j], false, nil)
				}
			}
		}
	}
	res, errs := bc.CompileBatch(ctx, batch)
	for k, j := range steps[1:] {
		batched[j] = compiled{res[k+1], errs[k+1]}
	}
	return compiled{res[0], errs[0]}
}

// compilerOf is step i's compiler.
func (b *Builder) compilerOf(p *Plan, i int) (compile.Compiler, error) {
	f := p.Compile[i].Function
	if f.Compiler != LocalCompiler && f.Compiler != MapperCompiler {
		return b.Compiler, nil
	}
	if b.Local == nil {
		return nil, fmt.Errorf("%w: compiler %s is not available here", compile.ErrFailed, f.Compiler)
	}
	return b.Local(p.manifest, f), nil
}

// check fetches and checks a compiled function's program and returns its
// lock entry.
func (b *Builder) check(ctx context.Context, s Step, r compiled) (*LockEntry, error) {
	res, err := r.res, r.err
	if err != nil {
		return nil, err
	}
	f := s.Function
	if !program.ValidID(res.ProgramID) {
		return nil, fmt.Errorf("%w: the compiler returned program id %q", compile.ErrFailed, res.ProgramID)
	}
	dir, err := b.Fetch(ctx, res.ProgramID)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", res.ProgramID, err)
	}
	sum, err := checkProgram(dir, f)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", res.ProgramID, err)
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	return &LockEntry{ProgramID: res.ProgramID, AdapterSHA256: sum, Compiler: f.Compiler,
		CompilerSnapshot: res.CompilerSnapshot, SpecHash: s.SpecHash, Inputs: s.Inputs, BuiltAt: now().UTC().Truncate(time.Second)}, nil
}

// checkProgram opens a cached program, checks that it runs on f's
// interpreter, and returns its adapter's sha256.
func checkProgram(dir string, f *Function) (string, error) {
	p, err := program.Open(dir)
	if err != nil {
		return "", err
	}
	// A LocalCompiler function without an interpreter runs on its base's own.
	if got, err := program.ParseInterpreter(p.Meta.Interpreter); f.Interpreter != "" && (err != nil || got != f.Interpreter) {
		return "", fmt.Errorf("%w: it runs on interpreter %q, the manifest says %q (set the function's compiler)",
			ErrMismatch, p.Meta.Interpreter, f.Interpreter)
	}
	return fileSHA256(filepath.Join(dir, "adapter.gguf"))
}

func fileSHA256(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Verify checks, without compiling, that every function of m is built for
// its current spec and that its locked program is in the cache (fetch, with
// an offline hub client, only looks) with the locked adapter. The error
// joins every problem, each naming its function: ErrNotBuilt, ErrMismatch
// or fetch's error.
func Verify(ctx context.Context, m *Manifest, l *Lock, fetch FetchFunc) error {
	var errs []error
	for _, f := range m.Functions {
		e, err := l.Entry(f)
		if err == nil && e.Inputs != nil && !maps.Equal(e.Inputs, m.InputHashes(f)) {
			err = fmt.Errorf("%w: its input files changed since the lock; run paw build", ErrNotBuilt)
		}
		if err == nil {
			err = checkEntry(ctx, f, e, fetch)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
		}
	}
	return errors.Join(errs...)
}

// checkEntry fetches e's program and checks it against e and f.
func checkEntry(ctx context.Context, f *Function, e *LockEntry, fetch FetchFunc) error {
	dir, err := fetch(ctx, e.ProgramID)
	if err != nil {
		return err
	}
	sum, err := checkProgram(dir, f)
	switch {
	case err != nil:
		return fmt.Errorf("program %s: %w", e.ProgramID, err)
	case sum != e.AdapterSHA256:
		return fmt.Errorf("%w: adapter sha256 %s, locked %s", ErrMismatch, sum, e.AdapterSHA256)
	}
	return nil
}

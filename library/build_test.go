package library

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/program"
)

// fakeHub compiles specs into tiny fixture programs and serves them from a
// cache directory, counting compiles per spec.
type fakeHub struct {
	t        *testing.T
	dir      string
	mu       sync.Mutex
	compiled []string         // specs, in order
	fail     map[string]error // spec → compile error
	seed     uint64
}

func newFakeHub(t *testing.T) *fakeHub {
	return &fakeHub{t: t, dir: t.TempDir(), fail: map[string]error{}}
}

func (h *fakeHub) Compile(_ context.Context, req compile.Request) (*compile.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.compiled = append(h.compiled, req.Spec)
	if err := h.fail[req.Spec]; err != nil {
		return nil, err
	}
	h.seed++
	cfg, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		h.t.Fatal(err)
	}
	adapter := filepath.Join(h.t.TempDir(), "adapter.gguf")
	if err := fixture.WriteAdapter(adapter, cfg, fixture.Adapter{Rank: 2, Alpha: 4, Seed: h.seed}); err != nil {
		h.t.Fatal(err)
	}
	p, err := program.Pack(program.PackOptions{Spec: req.Spec, Interpreter: "qwen3", AdapterPath: adapter})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := p.WriteDir(filepath.Join(h.dir, p.Meta.ProgramID)); err != nil {
		h.t.Fatal(err)
	}
	return &compile.Result{ProgramID: p.Meta.ProgramID, CompilerSnapshot: req.Compiler + "@2026-11-01"}, nil
}

func (h *fakeHub) Fetch(_ context.Context, id string) (string, error) {
	dir := filepath.Join(h.dir, id)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("program %s is not cached", id)
	}
	return dir, nil
}

func (h *fakeHub) builder(now time.Time) *Builder {
	return &Builder{Compiler: h, Fetch: h.Fetch, Now: func() time.Time { return now }}
}

// project writes a manifest with the given specs (name → spec) to a
// temporary directory and loads it.
func project(t *testing.T, dir string, specs ...[2]string) *Manifest {
	t.Helper()
	var b strings.Builder
	b.WriteString("functions:\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "  - name: %s\n    spec: %q\n    owner: me\n    labels: [yes, no]\n", s[0], s[1])
	}
	path := filepath.Join(dir, ManifestFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// build plans and builds m against the lock file in its directory, writes
// the new lock and returns it with the build's error.
func build(t *testing.T, m *Manifest, b *Builder) (*Plan, *Lock, error) {
	t.Helper()
	path := filepath.Join(m.Dir, LockFile)
	old, err := ReadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	plan := NewPlan(m, old)
	l, _, err := b.Build(context.Background(), plan)
	if werr := WriteLock(path, l); werr != nil {
		t.Fatal(werr)
	}
	return plan, l, err
}

func planNames(p *Plan) []string {
	var out []string
	for _, s := range p.Compile {
		out = append(out, s.Function.Name+":"+s.Reason)
	}
	return out
}

// TestBuildRebuildsOnlyChanged: a spec change recompiles exactly that
// function; the others keep their entries byte for byte.
func TestBuildRebuildsOnlyChanged(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHub(t)
	day1 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	m := project(t, dir, [2]string{"alpha", "Is it alpha?"}, [2]string{"beta", "Is it beta?"}, [2]string{"gamma", "Is it gamma?"})
	plan, first, err := build(t, m, h.builder(day1))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alpha:new", "beta:new", "gamma:new"}, planNames(plan)); diff != "" {
		t.Fatalf("first plan (-want +got):\n%s", diff)
	}
	for name, e := range first.Functions {
		if len(e.AdapterSHA256) != 64 || !program.ValidID(e.ProgramID) || e.Compiler != DefaultCompiler ||
			e.CompilerSnapshot != DefaultCompiler+"@2026-11-01" || !e.BuiltAt.Equal(day1) {
			t.Errorf("%s: entry %+v", name, e)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, LockFile))

	// Nothing changed: nothing is compiled and the lock keeps its bytes;
	// the programs are fetched, and one missing from the cache is an error.
	gamma := filepath.Join(h.dir, first.Functions["gamma"].ProgramID)
	if err := os.Rename(gamma, gamma+".away"); err != nil {
		t.Fatal(err)
	}
	plan, _, err = build(t, m, h.builder(day1.Add(time.Hour)))
	if err := os.Rename(gamma+".away", gamma); err != nil {
		t.Fatal(err)
	}
	if len(plan.Compile) != 0 || len(plan.Unchanged) != 3 || err == nil || !strings.Contains(err.Error(), "build gamma: program "+first.Functions["gamma"].ProgramID+" is not cached") {
		t.Fatalf("unchanged project: plan %v, err %v", planNames(plan), err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, LockFile)); string(again) != string(before) {
		t.Errorf("an empty build changed the lock:\n%s\n---\n%s", before, again)
	}

	// Owner changes do not rebuild; a spec change rebuilds that function.
	m = project(t, dir, [2]string{"alpha", "Is it alpha?"}, [2]string{"beta", "Is it really beta?"}, [2]string{"gamma", "Is it gamma?"})
	day2 := day1.Add(24 * time.Hour)
	n := len(h.compiled)
	plan, second, err := build(t, m, h.builder(day2))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"beta:changed"}, planNames(plan)); diff != "" {
		t.Errorf("plan after a spec change (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Is it really beta?"}, h.compiled[n:]); diff != "" {
		t.Errorf("compiled (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(first.Functions["alpha"], second.Functions["alpha"]); diff != "" {
		t.Errorf("alpha changed (-old +new):\n%s", diff)
	}
	if b := second.Functions["beta"]; b.ProgramID == first.Functions["beta"].ProgramID || !b.BuiltAt.Equal(day2) {
		t.Errorf("beta not rebuilt: %+v", b)
	}
}

// TestBuildFailureKeepsLock: a function whose compile fails keeps its
// previous entry, the others are built, and the error names the function.
func TestBuildFailureKeepsLock(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHub(t)
	m := project(t, dir, [2]string{"alpha", "A?"}, [2]string{"beta", "B?"})
	if _, _, err := build(t, m, h.builder(time.Unix(0, 0))); err != nil {
		t.Fatal(err)
	}
	old, err := ReadLock(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	h.fail["A, changed?"] = fmt.Errorf("%w: the service rejected it", compile.ErrFailed)
	h.fail["C?"] = fmt.Errorf("%w: no", compile.ErrFailed)
	m = project(t, dir, [2]string{"alpha", "A, changed?"}, [2]string{"beta", "B, changed?"}, [2]string{"gamma", "C?"})
	_, next, err := build(t, m, h.builder(time.Unix(0, 0)))
	if !errors.Is(err, compile.ErrFailed) || !strings.Contains(err.Error(), "build alpha:") || !strings.Contains(err.Error(), "build gamma:") {
		t.Fatalf("error = %v, want compile.ErrFailed naming alpha and gamma", err)
	}
	onDisk, err := ReadLock(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, onDisk); diff != "" {
		t.Errorf("lock on disk differs from the build's (-built +disk):\n%s", diff)
	}
	if diff := cmp.Diff(old.Functions["alpha"], onDisk.Functions["alpha"]); diff != "" {
		t.Errorf("failed alpha's entry changed (-old +new):\n%s", diff)
	}
	if onDisk.Functions["beta"].SpecHash != SpecHash(m.Function("beta")) {
		t.Error("beta was not rebuilt past alpha's failure")
	}
	if onDisk.Functions["gamma"] != nil {
		t.Error("gamma failed but has an entry")
	}
	// The next build retries exactly the failures.
	if got := planNames(NewPlan(m, onDisk)); !cmp.Equal(got, []string{"alpha:changed", "gamma:new"}) {
		t.Errorf("plan after the failure = %v", got)
	}
}

// TestPlanRemoved: a function deleted from the manifest leaves the lock.
func TestPlanRemoved(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHub(t)
	if _, _, err := build(t, project(t, dir, [2]string{"alpha", "A?"}, [2]string{"beta", "B?"}), h.builder(time.Unix(0, 0))); err != nil {
		t.Fatal(err)
	}
	plan, l, err := build(t, project(t, dir, [2]string{"beta", "B?"}), h.builder(time.Unix(0, 0)))
	if err != nil || !cmp.Equal(plan.Removed, []string{"alpha"}) || l.Functions["alpha"] != nil || l.Functions["beta"] == nil {
		t.Errorf("removed %v, lock %v, err %v", plan.Removed, l.Functions, err)
	}
}

// TestVerify: the offline check finds unbuilt functions, programs missing
// from the cache and adapters that differ from the lock.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHub(t)
	m := project(t, dir, [2]string{"alpha", "A?"}, [2]string{"beta", "B?"})
	_, l, err := build(t, m, h.builder(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := Verify(ctx, m, l, h.Fetch); err != nil {
		t.Fatalf("Verify after a build: %v", err)
	}
	adapter := filepath.Join(h.dir, l.Functions["alpha"].ProgramID, "adapter.gguf")
	data, _ := os.ReadFile(adapter)
	data[len(data)-1] ^= 1
	if err := os.WriteFile(adapter, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(h.dir, l.Functions["beta"].ProgramID)); err != nil {
		t.Fatal(err)
	}
	err = Verify(ctx, m, l, h.Fetch)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "alpha: library: program does not match the lock: adapter sha256") ||
		!strings.Contains(err.Error(), "beta: program "+l.Functions["beta"].ProgramID+" is not cached") {
		t.Errorf("Verify = %v", err)
	}
	m = project(t, dir, [2]string{"alpha", "A?"}, [2]string{"beta", "B?"}, [2]string{"gamma", "C?"})
	if err := Verify(ctx, m, l, h.Fetch); !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "gamma:") {
		t.Errorf("Verify with an unbuilt function = %v", err)
	}
}

// TestBuildInterpreterMismatch: a compiler that produces a program for
// another interpreter than the manifest's fails that function.
func TestBuildInterpreterMismatch(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHub(t)
	m := project(t, dir, [2]string{"alpha", "A?"})
	m.Functions[0].Interpreter = program.InterpreterGPT2
	_, l, err := build(t, m, h.builder(time.Unix(0, 0)))
	if !errors.Is(err, ErrMismatch) || l.Functions["alpha"] != nil {
		t.Errorf("build = %v, lock %v; want ErrMismatch and no entry", err, l.Functions)
	}
}

// fakeBatch is a BatchCompiler of one function over a fakeHub, counting
// CompileBatch calls.
type fakeBatch struct {
	h     *fakeHub
	batch string
	spec  string
	calls *int
}

func (c *fakeBatch) Compile(ctx context.Context, req compile.Request) (*compile.Result, error) {
	return c.h.Compile(ctx, req)
}

func (c *fakeBatch) Batch() string { return c.batch }

func (c *fakeBatch) CompileBatch(ctx context.Context, batch []BatchCompiler) ([]*compile.Result, []error) {
	*c.calls++
	res, errs := make([]*compile.Result, len(batch)), make([]error, len(batch))
	for i, o := range batch {
		res[i], errs[i] = c.h.Compile(ctx, compile.Request{Spec: o.(*fakeBatch).spec})
	}
	return res, errs
}

// TestBuildBatch: the local-mapper functions of one batch are compiled in
// one call, another batch's in another, hosted ones alone; a failure in a
// batch is its function's only.
func TestBuildBatch(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHub(t)
	var yaml strings.Builder
	yaml.WriteString("functions:\n")
	for _, f := range [][2]string{{"a", "paw-4b-qwen3-0.6b"}, {"b", "other"}, {"c", "paw-4b-qwen3-0.6b"}, {"d", ""}, {"e", "paw-4b-qwen3-0.6b"}} {
		fmt.Fprintf(&yaml, "  - name: %s\n    spec: %s?\n    owner: me\n", f[0], f[0])
		if f[1] != "" {
			fmt.Fprintf(&yaml, "    compiler: local-mapper\n    mapper: %s\n", f[1])
		}
	}
	os.WriteFile(filepath.Join(dir, ManifestFile), []byte(yaml.String()), 0o644)
	os.Mkdir(filepath.Join(dir, "other"), 0o755) // a compiler's directory
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h.fail["e?"] = fmt.Errorf("%w: no", compile.ErrFailed)
	calls := 0
	b := h.builder(time.Unix(0, 0))
	b.Local = func(_ *Manifest, f *Function) compile.Compiler {
		return &fakeBatch{h: h, batch: f.Mapper, spec: f.Spec, calls: &calls}
	}
	var started []string
	b.Progress = func(s Step, done bool, _ error) {
		if !done {
			started = append(started, s.Function.Name)
		}
	}
	_, l, err := build(t, m, b)
	if err == nil || !strings.Contains(err.Error(), "build e:") || strings.Count(err.Error(), "build ") != 1 {
		t.Errorf("error %v, want e's failure only", err)
	}
	if calls != 2 || !cmp.Equal(h.compiled, []string{"a?", "c?", "e?", "b?", "d?"}) {
		t.Errorf("%d batch calls compiling %v, want 2 compiling a, c, e then b, then d alone", calls, h.compiled)
	}
	if len(l.Functions) != 4 || l.Functions["e"] != nil {
		t.Errorf("locked %v, want all but e", slices.Sorted(maps.Keys(l.Functions)))
	}
	if !cmp.Equal(started, []string{"a", "c", "e", "b", "d"}) {
		t.Errorf("progress started %v", started)
	}
}

// TestBuildInputsChanged: editing the contents of a function's
// pseudo-program file rebuilds that function (and only it), the offline
// check calls its lock stale, a lock entry from before input hashes is left
// alone, and Force rebuilds what the plan would keep.
func TestBuildInputsChanged(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHub(t)
	yaml := "functions:\n" +
		"  - {name: a, spec: a?, owner: me, compiler: local-mapper, pseudo_program: a.txt}\n" +
		"  - {name: b, spec: b?, owner: me, compiler: local-mapper, pseudo_program: b.txt}\n"
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ManifestFile, yaml)
	write("a.txt", "[PSEUDO_PROGRAM]\nTask: a\n[END_PSEUDO_PROGRAM]")
	write("b.txt", "[PSEUDO_PROGRAM]\nTask: b\n[END_PSEUDO_PROGRAM]")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	b := h.builder(time.Unix(0, 0))
	b.Local = func(_ *Manifest, f *Function) compile.Compiler {
		return &fakeBatch{h: h, batch: "one", spec: f.Spec, calls: &calls}
	}
	if _, _, err := build(t, m, b); err != nil {
		t.Fatal(err)
	}
	l, _ := ReadLock(filepath.Join(dir, LockFile))
	if got := l.Functions["a"].Inputs["pseudo_program"]; !strings.HasPrefix(got, "sha256:") {
		t.Fatalf("a's lock entry records pseudo_program %q", got)
	}
	if plan := NewPlan(m, l); len(plan.Compile) != 0 {
		t.Fatalf("unchanged project plans %v", planNames(plan))
	}

	write("a.txt", "[PSEUDO_PROGRAM]\nTask: a, with an edge case\n[END_PSEUDO_PROGRAM]")
	if err := Verify(context.Background(), m, l, h.Fetch); !errors.Is(err, ErrNotBuilt) ||
		!strings.Contains(err.Error(), "a: library: function not built: its input files changed") || strings.Contains(err.Error(), "b:") {
		t.Errorf("Verify after an edit = %v", err)
	}
	plan, l2, err := build(t, m, b)
	if err != nil || !cmp.Equal(planNames(plan), []string{"a:inputs changed"}) {
		t.Fatalf("plan after editing a.txt: %v (err %v)", planNames(plan), err)
	}
	if l2.Functions["a"].Inputs["pseudo_program"] == l.Functions["a"].Inputs["pseudo_program"] ||
		!cmp.Equal(l2.Functions["b"], l.Functions["b"]) {
		t.Errorf("lock after the rebuild: a %v (was %v), b changed: %v", l2.Functions["a"].Inputs, l.Functions["a"].Inputs, !cmp.Equal(l2.Functions["b"], l.Functions["b"]))
	}

	l2.Functions["b"].Inputs = nil // a lock written before input hashes
	write("b.txt", "edited")
	plan = NewPlan(m, l2)
	if len(plan.Compile) != 0 {
		t.Errorf("an entry without input hashes planned %v", planNames(plan))
	}
	if err := plan.Force("b"); err != nil || !cmp.Equal(planNames(plan), []string{"b:forced"}) || !cmp.Equal(plan.Unchanged, []string{"a"}) {
		t.Errorf("Force(b): %v, plan %v, unchanged %v", err, planNames(plan), plan.Unchanged)
	}
	if err := plan.Force(); err != nil || !cmp.Equal(planNames(plan), []string{"a:forced", "b:forced"}) || len(plan.Unchanged) != 0 {
		t.Errorf("Force(): %v, plan %v", err, planNames(plan))
	}
	if err := plan.Force("nope"); !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), `no function "nope"`) {
		t.Errorf("Force(nope) = %v", err)
	}
}

package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/eval/report"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/library"
	"github.com/paw-dev/paw/registry"
	"github.com/paw-dev/paw/schema"
)

// ReportDir is the folder, beside paw.yaml, where paw test writes a
// project's benchmarks.
const ReportDir = "paw-report"

// IndexFile is the report folder's page linking every function's report.
const IndexFile = "index.html"

// libFlags are paw test's flags for a project's functions (no program
// given); fnFlags open the registry for --record.
type libFlags struct {
	fnFlags
	dir, reportDir       string
	functions            []string
	allowExpired, record bool
}

// libraryFlags are the flags that only apply without a program.
var libraryFlags = []string{"dir", "report-dir", "function", "allow-expired", "record", "registry", "actor"}

// programFlags are paw test's flags that only apply to one program: a
// manifest gives each function's cases, contract, gates and baseline.
var programFlags = []string{"cases", "from-spec", "input-col", "expected-col", "tags-col", "spec-col", "labels", "schema", "regex",
	"html", "min-accuracy", "min-accuracy-normalized", "max-invalid", "max-p95-ms",
	"baseline", "baseline-model", "baseline-key-env", "price-prompt", "price-output"}

func (l *libFlags) register(f *pflag.FlagSet, cfg *config.Config) {
	l.cfg = cfg
	f.StringVar(&l.dir, "dir", ".", "without a program: the project directory (holding paw.yaml and paw.lock)")
	f.StringVar(&l.reportDir, "report-dir", "", "without a program: the folder the reports go to (default DIR/"+ReportDir+")")
	f.StringArrayVar(&l.functions, "function", nil, "without a program: test only this function of paw.yaml (repeatable)")
	f.BoolVar(&l.allowExpired, "allow-expired", false, "without a program: functions past their expires date do not fail the run")
	f.BoolVar(&l.record, "record", false, "without a program: record each result in the registry, on the version paw.lock pins (for paw fn promote)")
	f.StringVar(&l.registry, "registry", "", "with --record: registry file or postgres:// DSN (default PAW_REGISTRY)")
	f.StringVar(&l.actor, "actor", defaultActor(), "with --record: who records, for the audit log")
}

// funcOutput is one function's test: what REPORT_DIR/NAME.json holds and
// `paw test --json` prints, one line per function. It is the harness's
// report (testOutput) plus the lock entry tested and the function's
// governance.
type funcOutput struct {
	Function string `json:"function"`
	Owner    string `json:"owner"`
	Expires  string `json:"expires,omitempty"` // YYYY-MM-DD
	Expired  bool   `json:"expired"`
	Passed   bool   `json:"passed"` // every gate passed
	*library.LockEntry
	testOutput
	// Recorded is the registry version the result was recorded on
	// (--record); not in the file, which is written before.
	Recorded string `json:"recorded,omitempty"`

	gateErr error // the gates' verdict, for the exit status
}

// checkLibrary validates the command line of a run without a program.
func (t *testFlags) checkLibrary(cmd *cobra.Command) error {
	fl := cmd.Flags()
	for _, name := range programFlags {
		if fl.Changed(name) {
			return usagef("--%s tests one program: name a program (--program REF); without one, paw test runs the functions of %s with their own cases, contract, gates and baseline",
				name, library.ManifestFile)
		}
	}
	if !t.lib.record && (fl.Changed("registry") || fl.Changed("actor")) {
		return usagef("--registry and --actor are for --record")
	}
	if err := t.checkRun(cmd); err != nil {
		return err
	}
	_, err := t.harnessFlags.check()
	return err
}

// runLibrary tests the functions of the manifest in --dir, each on the
// program its lock entry pins, and writes the report folder.
func (t *testFlags) runLibrary(cmd *cobra.Command, cfg *config.Config) error {
	l := &t.lib
	if err := t.checkLibrary(cmd); err != nil {
		return err
	}
	m, err := library.Load(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (name a program to test with --program REF, or start a project with paw init)", err)
	}
	if err != nil {
		return err
	}
	fns, err := l.selected(m)
	if err != nil {
		return err
	}
	lockPath := filepath.Join(m.Dir, library.LockFile)
	lock, err := library.ReadLock(lockPath)
	if err != nil {
		return err
	}
	entries := make([]*library.LockEntry, len(fns))
	var errs []error
	for i, f := range fns {
		if entries[i], err = lock.Entry(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	dir := cmp.Or(l.reportDir, filepath.Join(m.Dir, ReportDir))
	eng, err := t.open(cmd, cfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	now := time.Now()
	var outs []*funcOutput
	for i, f := range fns {
		o, err := t.testFunction(cmd, cfg, eng, m, f, entries[i], dir, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
			continue
		}
		outs = append(outs, o)
		if o.gateErr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, o.gateErr))
		}
	}
	if err := writeIndex(dir, m, outs, now); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, f := range fns {
		if f.Expired(now) && !l.allowExpired {
			errs = append(errs, fmt.Errorf("%s (owner %s) expired on %s: renew or retire it (--allow-expired tests it anyway)",
				f.Name, f.Owner, f.Expires.Format(time.DateOnly)))
		}
	}
	if l.record && len(outs) > 0 {
		errs = append(errs, l.recordAll(cmd, outs, lockPath))
	}
	w := cmd.OutOrStdout()
	if t.asJSON {
		for _, o := range outs {
			if err := writeJSON(w, o); err != nil {
				return err
			}
		}
	} else if err := writeLibraryTable(w, outs, filepath.Join(dir, IndexFile)); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// selected is the functions --function names (all when none), in manifest
// order.
func (l *libFlags) selected(m *library.Manifest) ([]*library.Function, error) {
	if len(l.functions) == 0 {
		return m.Functions, nil
	}
	for _, name := range l.functions {
		if m.Function(name) == nil {
			return nil, usagef("--function %s: %s has no such function", name, m.Path)
		}
	}
	var fns []*library.Function
	for _, f := range m.Functions {
		if slices.Contains(l.functions, f.Name) {
			fns = append(fns, f)
		}
	}
	return fns, nil
}

// testFunction scores f on the program of its lock entry e with its cases
// (else its program's examples), contract and baseline, checks its gates
// and writes NAME.json and NAME.html into dir.
func (t *testFlags) testFunction(cmd *cobra.Command, cfg *config.Config, eng *paw.Engine, m *library.Manifest,
	f *library.Function, e *library.LockEntry, dir string, now time.Time) (*funcOutput, error) {
	fn, err := loadFunction(cmd, eng, e.ProgramID)
	if err != nil {
		return nil, err
	}
	defer fn.Close()
	var cases []eval.Case
	if path := m.CasesPath(f); path != "" {
		cases, err = eval.OpenCases(path, eval.Columns{})
	} else {
		cases, err = specCases(fn.Program())
	}
	if err != nil {
		return nil, err
	}
	// The manifest's contract is the function's; free text leaves calls
	// unconstrained, as the program's own contract would.
	var given *schema.Contract
	if f.Contract.Kind != "" && f.Contract.Kind != schema.KindText {
		given = &f.Contract
	}
	var b *baselineFlags
	if f.Baseline != nil {
		b = &baselineFlags{url: f.Baseline.URL, model: f.Baseline.Model, keyEnv: f.Baseline.APIKeyEnv}
	}
	out, page, err := t.score(cmd, cfg, fn, cases, given, b)
	if err != nil {
		return nil, err
	}
	gateErr := f.Gates.Check(out.Report)
	out.FailedGates = gateList(gateErr)
	o := &funcOutput{Function: f.Name, Owner: f.Owner, Expired: f.Expired(now), Passed: gateErr == nil, LockEntry: e, testOutput: out,
		gateErr: gateErr}
	if !f.Expires.IsZero() {
		o.Expires = f.Expires.Format(time.DateOnly)
	}
	data, err := marshalIndent(o)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, f.Name+".json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	page.Title, page.Name, page.Generated = "paw test: "+f.Name, f.Name+" ("+e.ProgramID+")", now
	if err := report.WriteFile(filepath.Join(dir, f.Name+".html"), page); err != nil {
		return nil, err
	}
	return o, nil
}

// marshalIndent encodes v as the report files hold it: indented, with
// <, > and & as they are.
func marshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return buf.Bytes(), nil
}

// writeIndex writes dir's index.html: a row for every function of m, with
// this run's results, else a previous run's NAME.json, else none.
func writeIndex(dir string, m *library.Manifest, outs []*funcOutput, now time.Time) error {
	x := report.Index{Title: "paw test: " + filepath.Base(m.Dir), Generated: now}
	for _, f := range m.Functions {
		row := report.IndexRow{Name: f.Name, Owner: f.Owner, Expires: f.Expires, Expired: f.Expired(now)}
		i := slices.IndexFunc(outs, func(o *funcOutput) bool { return o.Function == f.Name })
		var o *funcOutput
		if i >= 0 {
			o = outs[i]
		} else {
			o = readFuncOutput(filepath.Join(dir, f.Name+".json"))
		}
		if o != nil {
			row.Href, row.Report, row.FailedGates = f.Name+".html", o.Report, o.FailedGates
			if o.LockEntry != nil {
				row.ProgramID = o.ProgramID
			}
		}
		x.Rows = append(x.Rows, row)
	}
	return report.WriteIndexFile(filepath.Join(dir, IndexFile), x)
}

// readFuncOutput reads a previous run's report; nil when there is none
// usable (the index then shows the function untested).
func readFuncOutput(path string) *funcOutput {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var o funcOutput
	if json.Unmarshal(data, &o) != nil || o.Report == nil {
		return nil
	}
	return &o
}

// recordAll records each result in the registry on the version whose
// program is the one tested.
func (l *libFlags) recordAll(cmd *cobra.Command, outs []*funcOutput, lockPath string) error {
	return l.with(cmd, func(r *registry.Registry) error {
		var errs []error
		for _, o := range outs {
			if err := recordTest(cmd.Context(), r, o, l.actor); err != nil {
				errs = append(errs, fmt.Errorf("--record %s: %w (register paw.lock's builds with `paw fn import %s`, then test again)",
					o.Function, err, lockPath))
			}
		}
		return errors.Join(errs...)
	})
}

// errNoVersion: the registry has no version of the program tested.
var errNoVersion = errors.New("the registry has no version of this program")

func recordTest(ctx context.Context, r *registry.Registry, o *funcOutput, actor string) error {
	d, err := r.Show(ctx, o.Function)
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("%w: the function is not registered", errNoVersion)
	}
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.Versions, func(v registry.Version) bool { return v.ProgramID == o.ProgramID })
	if i < 0 {
		return fmt.Errorf("%w: %s", errNoVersion, o.ProgramID)
	}
	result, err := json.Marshal(o)
	if err != nil {
		return err
	}
	v := d.Versions[i]
	if err := r.RecordTest(ctx, o.Function, v.Number, result, o.Passed, actor); err != nil {
		return err
	}
	o.Recorded = v.Ref()
	return nil
}

// writeLibraryTable prints one row per function tested, for people.
func writeLibraryTable(w io.Writer, outs []*funcOutput, index string) error {
	rows := []string{"function\towner\texpires\tprogram\tcases\taccuracy\tinvalid\tp95\tgates"}
	for _, o := range outs {
		expires := cmp.Or(o.Expires, "never")
		if o.Expired {
			expires += " EXPIRED"
		}
		gates := "pass"
		if !o.Passed {
			gates = "FAILED: " + strings.Join(o.FailedGates, "; ")
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s\t%s\t%.1f ms\t%s", o.Function, o.Owner, expires, o.ProgramID,
			o.N, pct(o.Accuracy), pct(o.InvalidRate), o.LatencyMSP95, gates))
	}
	if err := table(w, rows...); err != nil {
		return err
	}
	for _, o := range outs {
		if o.Recorded != "" {
			fmt.Fprintf(w, "recorded on %s (passed: %t)\n", o.Recorded, o.Passed)
		}
	}
	_, err := fmt.Fprintf(w, "reports: %s\n", index)
	return err
}

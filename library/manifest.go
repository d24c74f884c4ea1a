package library

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

// File names at a project's root.
const (
	ManifestFile = "paw.yaml"
	LockFile     = "paw.lock"
)

// Defaults for omitted manifest fields.
const (
	// DefaultCompiler is the hosted service's default compiler; naming it
	// (rather than leaving the choice to the service) keeps the spec hash
	// meaningful when the service's default changes.
	DefaultCompiler    = "paw-4b-qwen3-0.6b"
	DefaultInterpreter = "qwen3"
	// LocalCompiler is the offline compiler (package compile/lora): it
	// trains on this machine, so paw build needs no network for it.
	LocalCompiler = "local-lora"
	// MapperCompiler is PAW's fast compiler run on this machine (package
	// compile/mapper): the offline twin of the hosted compilers.
	MapperCompiler = "local-mapper"
	// DefaultMapper is MapperCompiler's compiler when a function names none.
	DefaultMapper = "paw-4b-qwen3-0.6b"
)

// mapperInterpreters are the official fast compilers' interpreters: a
// MapperCompiler function's interpreter follows its mapper.
var mapperInterpreters = map[string]string{
	"paw-4b-qwen3-0.6b": "qwen3",
	"paw-4b-gpt2":       "gpt2",
}

// Manifest is a parsed paw.yaml.
type Manifest struct {
	Path      string      // the file read ("paw.yaml" when parsed from bytes)
	Dir       string      // the project root: cases and schema files are relative to it
	Functions []*Function // in file order; names are unique
}

// Function is one fuzzy function of the manifest.
type Function struct {
	Name string // lower-case Go-identifier-friendly: ^[a-z][a-z0-9]*(_[a-z0-9]+)*$
	Spec string // what the function does, in words: what is compiled
	// Contract is the output contract: labels, a JSON Schema (inline or
	// from SchemaFile), a regex, or free text when none is given.
	Contract   schema.Contract
	SchemaFile string // the schema's file, relative to Dir, when not inline
	Owner      string // who answers for it (required)
	Scope      Scope
	Expires    time.Time // the day it expires (UTC midnight); zero: never
	RetireWhen string    // when to delete it, in words
	Cases      string    // the test set, relative to Dir; "" for none
	Gates      eval.Gates
	// Compiler is the hosted compiler id (DefaultCompiler when omitted), or
	// LocalCompiler.
	Compiler string
	// Base and Examples are LocalCompiler's: the base model to train on (a
	// GGUF file relative to Dir, or a runtime id) and a JSONL file of
	// {"input", "output"} examples relative to Dir, added to the spec's own
	// and the cases'.
	Base, Examples string
	// Mapper, PseudoProgram and WriterModel are MapperCompiler's: an
	// official fast compiler's name (DefaultMapper when omitted) or its
	// directory relative to Dir, a file holding the pseudo-program (relative
	// to Dir; "" lets the writer model write it), and the instruct GGUF that
	// writes pseudo-programs (relative to Dir; "" for the compiler's own).
	Mapper, PseudoProgram, WriterModel string
	// WriterMaxTokens bounds a pseudo-program the writer writes
	// (MapperCompiler; 0 = the compiler's default).
	WriterMaxTokens int
	// Interpreter is the canonical interpreter name (program.InterpreterQwen3
	// or program.InterpreterGPT2); the manifest says qwen3 or gpt2. It is
	// "" (the base's own) for a LocalCompiler function that names none.
	Interpreter string
	Baseline    *Baseline // the hosted-model call it replaces; nil for none
	Fallback    *Fallback // when to route to the baseline; nil for never
	Line        int       // where the function starts in the manifest
}

// Scope is what a function is for, and what it must not be used for.
type Scope struct {
	Use    string
	NotFor string
}

// Baseline is an OpenAI-compatible chat endpoint and model.
type Baseline struct {
	URL       string
	Model     string
	APIKeyEnv string // the environment variable holding its API key
}

// Fallback is the confidence below which a call goes to the baseline:
// Threshold, or the threshold calibration finds when Calibrate is set.
type Fallback struct {
	Calibrate bool
	Threshold float64
}

// Function returns the function called name, or nil.
func (m *Manifest) Function(name string) *Function {
	for _, f := range m.Functions {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Expired reports whether f is past its expiry date at now.
func (f *Function) Expired(now time.Time) bool {
	return !f.Expires.IsZero() && !now.Before(f.Expires.AddDate(0, 0, 1))
}

// CasesPath is the test set's path, or "" when there is none.
func (m *Manifest) CasesPath(f *Function) string {
	if f.Cases == "" {
		return ""
	}
	return filepath.Join(m.Dir, f.Cases)
}

// Error is a manifest error at a line and column (1-based). A YAML syntax
// error has the line the parser names and column 1 (the parser gives no
// column).
type Error struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg) }

// Unwrap makes every *Error match ErrManifest.
func (e *Error) Unwrap() error { return ErrManifest }

// Load reads and checks the manifest at path (a paw.yaml, or a directory
// holding one). Every problem found is reported, each an *Error naming its
// line and column, joined into one error.
func Load(path string) (*Manifest, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, ManifestFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return Parse(data, path)
}

// Parse checks manifest data read from path; files it names (cases,
// schemas) are relative to path's directory.
func Parse(data []byte, path string) (*Manifest, error) {
	d := &decoder{file: path, dir: filepath.Dir(path)}
	m := d.manifest(data)
	if err := d.err(); err != nil {
		return nil, err
	}
	m.Path, m.Dir = path, d.dir
	return m, nil
}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// maxName bounds a function name (it becomes part of Go identifiers).
const maxName = 64

// Keys of each mapping, in the order the errors list them.
var (
	topKeys      = []string{"version", "functions"}
	functionKeys = []string{"name", "spec", "labels", "schema", "regex", "owner", "scope", "expires",
		"retire_when", "cases", "gates", "compiler", "interpreter", "baseline", "fallback", "base", "examples",
		"mapper", "pseudo_program", "writer_model", "writer_max_tokens"}
	scopeKeys    = []string{"use", "not_for"}
	gateKeys     = []string{"min_accuracy", "min_accuracy_normalized", "max_invalid", "max_p95_ms"}
	baselineKeys = []string{"url", "model", "api_key_env"}
)

func (d *decoder) function(n *node) *Function {
	keys := d.mapping(n, "a function", functionKeys)
	if keys == nil {
		return nil
	}
	f := &Function{Line: n.Line, Compiler: DefaultCompiler}
	if v := d.required(n, keys, "name", "the function"); v != nil {
		f.Name = d.str(v)
		switch {
		case len(f.Name) > maxName:
			d.errorf(v, "function name %q is longer than %d characters", f.Name, maxName)
		case !nameRE.MatchString(f.Name):
			d.errorf(v, "function name %q: use lower-case letters, digits and single underscores, starting with a letter (like pager_worthy)", f.Name)
		}
	}
	what := "function " + f.Name
	if v := d.required(n, keys, "spec", what); v != nil {
		if f.Spec = d.str(v); f.Spec == "" {
			d.errorf(v, "%s: empty spec", what)
		}
	}
	if v := d.required(n, keys, "owner", what); v != nil {
		f.Owner = d.str(v)
	}
	f.Contract, f.SchemaFile = d.contract(n, keys, what)
	if v := keys["scope"]; v != nil {
		sk := d.mapping(v, "scope", scopeKeys)
		f.Scope = Scope{Use: d.optStr(sk["use"]), NotFor: d.optStr(sk["not_for"])}
	}
	if v := keys["expires"]; v != nil {
		s := d.scalar(v)
		t, err := time.Parse(time.DateOnly, s)
		if !dateRE.MatchString(s) || err != nil {
			d.errorf(v, "expires %q: want a date YYYY-MM-DD", s)
		}
		f.Expires = t
	}
	f.RetireWhen = d.optStr(keys["retire_when"])
	if v := keys["cases"]; v != nil {
		f.Cases = d.relFile(v, "cases")
	}
	if v := keys["gates"]; v != nil {
		f.Gates = d.gates(v)
	}
	if v := keys["compiler"]; v != nil {
		if f.Compiler = d.str(v); f.Compiler == "" {
			d.errorf(v, "empty compiler (leave the key out for %s)", DefaultCompiler)
		}
	}
	interp := DefaultInterpreter
	if v := keys["interpreter"]; v != nil {
		interp = d.str(v)
	}
	canon, err := program.ParseInterpreter(interp)
	if err != nil {
		d.errorf(keys["interpreter"], "interpreter %q: want qwen3 or gpt2", interp)
	}
	f.Interpreter = canon
	d.local(f, keys, what)
	d.mapper(f, keys, what)
	if v := keys["baseline"]; v != nil {
		f.Baseline = d.baseline(v)
	}
	if v := keys["fallback"]; v != nil {
		f.Fallback = d.fallback(v)
		if f.Baseline == nil {
			d.errorf(v, "%s: a fallback needs a baseline to fall back to", what)
		}
	}
	return f
}

// local reads the LocalCompiler keys: base (required) and examples, which
// only it takes.
func (d *decoder) local(f *Function, keys map[string]*node, what string) {
	if f.Compiler != LocalCompiler {
		for _, k := range []string{"base", "examples"} {
			if keys[k] != nil {
				d.errorf(keys[k], "%s: %s is for compiler %s only", what, k, LocalCompiler)
			}
		}
		return
	}
	if keys["interpreter"] == nil {
		f.Interpreter = "" // the base model's own
	}
	if v := d.required(keys["compiler"], keys, "base", what+" (compiler "+LocalCompiler+")"); v != nil {
		if f.Base = d.str(v); strings.HasSuffix(strings.ToLower(f.Base), ".gguf") {
			f.Base = d.relFile(v, "base")
		}
	}
	if v := keys["examples"]; v != nil {
		f.Examples = d.relFile(v, "examples")
	}
}

// mapper reads the MapperCompiler keys: mapper, pseudo_program,
// writer_model and writer_max_tokens, which only it takes. An official mapper fixes the
// interpreter; a directory's is its meta.json's (unchecked here).
func (d *decoder) mapper(f *Function, keys map[string]*node, what string) {
	own := []string{"mapper", "pseudo_program", "writer_model", "writer_max_tokens"}
	if f.Compiler != MapperCompiler {
		for _, k := range own {
			if keys[k] != nil {
				d.errorf(keys[k], "%s: %s is for compiler %s only", what, k, MapperCompiler)
			}
		}
		return
	}
	f.Mapper = DefaultMapper
	if v := keys["mapper"]; v != nil {
		f.Mapper = d.str(v)
		if _, ok := mapperInterpreters[f.Mapper]; !ok {
			f.Mapper = d.relDir(v, "mapper")
		}
	}
	if want, ok := mapperInterpreters[f.Mapper]; ok {
		canon, _ := program.ParseInterpreter(want)
		if v := keys["interpreter"]; v != nil && f.Interpreter != canon {
			d.errorf(v, "%s: mapper %s compiles for interpreter %s, not %s", what, f.Mapper, want, d.str(v))
		}
		f.Interpreter = canon
	} else if keys["interpreter"] == nil {
		f.Interpreter = "" // the compiler directory's own
	}
	if v := keys["pseudo_program"]; v != nil {
		f.PseudoProgram = d.relFile(v, "pseudo_program")
	}
	if v := keys["writer_model"]; v != nil {
		f.WriterModel = d.relFile(v, "writer_model")
	}
	if v := keys["writer_max_tokens"]; v != nil {
		if x := d.float(v); x != float64(int(x)) || x < 1 || x > maxWriterTokens {
			d.errorf(v, "%s: writer_max_tokens: want a whole number of tokens from 1 to %d", what, maxWriterTokens)
		} else {
			f.WriterMaxTokens = int(x)
		}
	}
}

// maxWriterTokens bounds writer_max_tokens: a pseudo-program is read
// whole by the encoder in one micro-batch.
const maxWriterTokens = 4096

// contract reads the one output contract among labels, schema and regex.
func (d *decoder) contract(n *node, keys map[string]*node, what string) (schema.Contract, string) {
	var given []string
	for _, k := range []string{"labels", "schema", "regex"} {
		if keys[k] != nil {
			given = append(given, k)
		}
	}
	if len(given) > 1 {
		d.errorf(keys[given[1]], "%s: give one output contract, not both %s and %s", what, given[0], given[1])
		return schema.Text(), ""
	}
	switch {
	case keys["labels"] != nil:
		v := keys["labels"]
		labels := d.strings(v)
		if len(labels) < 2 {
			d.errorf(v, "%s: labels needs at least two labels", what)
			return schema.Text(), ""
		}
		c, err := schema.Labels(labels...)
		if err != nil {
			d.errorf(v, "%s: %v", what, err)
		}
		return c, ""
	case keys["regex"] != nil:
		v := keys["regex"]
		c, err := schema.Regex(d.str(v))
		if err != nil {
			d.errorf(v, "%s: %v", what, err)
		}
		return c, ""
	case keys["schema"] != nil:
		return d.schema(keys["schema"], what)
	}
	return schema.Text(), ""
}

// schema reads a JSON Schema: a file name, or the schema inline as YAML.
func (d *decoder) schema(v *node, what string) (schema.Contract, string) {
	var raw []byte
	file := ""
	if v.Kind == scalarNode {
		if file = d.relFile(v, "schema"); file == "" {
			return schema.Text(), ""
		}
		b, err := os.ReadFile(filepath.Join(d.dir, file))
		if err != nil {
			d.errorf(v, "schema: %v", err)
			return schema.Text(), file
		}
		raw = b
	} else {
		var doc any
		if err := v.Decode(&doc); err != nil {
			d.errorf(v, "schema: %v", err)
			return schema.Text(), ""
		}
		b, err := json.Marshal(doc)
		if err != nil {
			d.errorf(v, "schema: not representable as JSON: %v", err)
			return schema.Text(), ""
		}
		raw = b
	}
	canon, err := canonicalJSON(raw)
	if err != nil {
		d.errorf(v, "%s: schema is not JSON: %v", what, err)
		return schema.Text(), file
	}
	c, err := schema.JSON(canon)
	if err != nil {
		d.errorf(v, "%s: %v", what, err)
	}
	return c, file
}

func (d *decoder) gates(v *node) eval.Gates {
	keys := d.mapping(v, "gates", gateKeys)
	var g eval.Gates
	rate := func(k string) *float64 {
		n := keys[k]
		if n == nil {
			return nil
		}
		x := d.float(n)
		if x < 0 || x > 1 {
			d.errorf(n, "%s %v: want a rate between 0 and 1", k, x)
		}
		return &x
	}
	g.MinAccuracy = rate("min_accuracy")
	g.MinAccuracyNormalized = rate("min_accuracy_normalized")
	g.MaxInvalid = rate("max_invalid")
	if n := keys["max_p95_ms"]; n != nil {
		x := d.float(n)
		if x <= 0 {
			d.errorf(n, "max_p95_ms %v: want a positive number of milliseconds", x)
		}
		g.MaxP95MS = &x
	}
	return g
}

func (d *decoder) baseline(v *node) *Baseline {
	keys := d.mapping(v, "baseline", baselineKeys)
	if keys == nil {
		return nil
	}
	b := &Baseline{APIKeyEnv: d.optStr(keys["api_key_env"])}
	if u := d.required(v, keys, "url", "baseline"); u != nil {
		b.URL = d.str(u)
		if !httpURL(b.URL) {
			d.errorf(u, "baseline url %q: want an http or https URL", b.URL)
		}
	}
	if m := d.required(v, keys, "model", "baseline"); m != nil {
		b.Model = d.str(m)
	}
	return b
}

func (d *decoder) fallback(v *node) *Fallback {
	s := d.scalar(v)
	if s == "calibrate" {
		return &Fallback{Calibrate: true}
	}
	x, ok := parseFloat(v)
	if !ok || x <= 0 || x > 1 {
		d.errorf(v, "fallback %q: want \"calibrate\" or a confidence threshold in (0, 1]", s)
	}
	return &Fallback{Threshold: x}
}

// statFile is os.Stat for a regular file.
func statFile(name string) (os.FileInfo, error) {
	st, err := os.Stat(name)
	if err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	return st, err
}

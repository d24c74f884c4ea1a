package library

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"go/format"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/paw-dev/paw/schema"
)

// GenFile is the name of the file Generate writes.
const GenFile = "paw_library.go"

// DefaultPackage is the generated package's name when GenOptions leaves it out.
const DefaultPackage = "pawlib"

// GenOptions configures Generate.
type GenOptions struct {
	Package string // the Go package name (DefaultPackage)
}

// Generate writes typed Go code for the manifest's functions: a Library
// opened from a *paw.Engine and paw.lock, with one method per function
// that returns typed values — a label type with constants for labels
// (bool for labels true and false), generated structs for a JSON Schema,
// string for regex and free text. Each function must be built (in l with
// its current spec hash); the code checks at Open that paw.lock still
// matches. The output is gofmt-formatted and the same inputs give the same
// bytes. It returns file name → contents.
func Generate(m *Manifest, l *Lock, o GenOptions) (map[string][]byte, error) {
	pkg := o.Package
	if pkg == "" {
		pkg = DefaultPackage
	}
	if !token.IsIdentifier(pkg) || pkg == "_" {
		return nil, fmt.Errorf("generate: package name %q is not a Go identifier", pkg)
	}
	data := genData{Package: pkg, Manifest: filepath.Base(cmp.Or(m.Path, ManifestFile))}
	top := names{"Library": "the Library type", "Open": "func Open", "OpenFile": "func OpenFile"}
	methods := names{"Close": "method Close"}
	fns := slices.Clone(m.Functions)
	slices.SortFunc(fns, func(a, b *Function) int { return strings.Compare(a.Name, b.Name) })
	var errs []error
	for _, f := range fns {
		g, err := genFunction(f, l, top, methods)
		if err != nil {
			errs = append(errs, fmt.Errorf("generate %s: %w", f.Name, err))
			continue
		}
		data.Funcs = append(data.Funcs, g)
		data.Decls = append(data.Decls, g.decls...)
		data.NeedSchema = data.NeedSchema || g.Contract != ""
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := genTemplate.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	src, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("generate: the code does not parse (a bug in paw): %w", err)
	}
	return map[string][]byte{GenFile: src}, nil
}

type genData struct {
	Package, Manifest string
	Funcs             []*genFunc
	Decls             []string
	NeedSchema        bool
}

// genFunc is one function as the template sees it.
type genFunc struct {
	Name, SpecHash string // quoted
	Method, Field  string // PagerWorthy, PagerWorthy (fields are prefixed)
	Kind           string // "labels", "bool", "json", "regex" or "text"
	Type           string // the label or JSON type
	Labels         []genLabel
	True, False    string // quoted spellings of a bool function's labels
	Contract       string // quoted schema or regex for json and regex
	Doc            []string
	decls          []string
}

type genLabel struct{ Const, Value string }

func genFunction(f *Function, l *Lock, top, methods names) (*genFunc, error) {
	e, err := l.Entry(f)
	if err != nil {
		return nil, err
	}
	name := exportedName(f.Name)
	g := &genFunc{Name: strconv.Quote(f.Name), SpecHash: strconv.Quote(e.SpecHash), Method: name, Field: name,
		Kind: string(f.Contract.Kind), Doc: docLines(name, f)}
	if err := methods.take(name, "function "+f.Name); err != nil {
		return nil, err
	}
	c := f.Contract
	switch c.Kind {
	case schema.KindLabels:
		if t, fl, ok := boolLabels(c.Labels); ok {
			g.Kind, g.True, g.False = "bool", strconv.Quote(t), strconv.Quote(fl)
			return g, nil
		}
		g.Type = name
		if err := top.take(name, "the label type of "+f.Name); err != nil {
			return nil, err
		}
		for _, lb := range c.Labels {
			word := exportedName(lb)
			if word == "" {
				return nil, fmt.Errorf("label %q has no letter or digit to name a Go constant", lb)
			}
			if err := top.take(name+word, fmt.Sprintf("label %q", lb)); err != nil {
				return nil, err
			}
			g.Labels = append(g.Labels, genLabel{Const: name + word, Value: strconv.Quote(lb)})
		}
	case schema.KindJSON:
		g.Type, g.Contract = name, goString(string(c.Schema))
		types := goTypes{names: top}
		if err := types.named(name, "the output type of "+f.Name, c.Schema); err != nil {
			return nil, err
		}
		g.decls = types.decls
	case schema.KindRegex:
		g.Contract = goString(c.Regex)
	default:
		g.Kind = string(schema.KindText)
	}
	return g, nil
}

// boolLabels reports whether labels are true and false (in either order
// and any case), returning their spellings.
func boolLabels(labels []string) (t, f string, ok bool) {
	if len(labels) != 2 {
		return "", "", false
	}
	for _, l := range labels {
		switch strings.ToLower(l) {
		case "true":
			t = l
		case "false":
			f = l
		}
	}
	return t, f, t != "" && f != ""
}

// docLines is a method's doc comment: the spec, owner, scope and lifetime.
func docLines(method string, f *Function) []string {
	lines := []string{method + " is the fuzzy function " + f.Name + ":", ""}
	for line := range strings.Lines(strings.TrimSpace(f.Spec)) {
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	lines = append(lines, "", "Owner: "+oneLine(f.Owner)+".")
	if f.Scope.Use != "" {
		lines = append(lines, "Use: "+oneLine(f.Scope.Use))
	}
	if f.Scope.NotFor != "" {
		lines = append(lines, "Not for: "+oneLine(f.Scope.NotFor))
	}
	if !f.Expires.IsZero() {
		lines = append(lines, "Expires: "+f.Expires.Format("2006-01-02")+".")
	}
	if f.RetireWhen != "" {
		lines = append(lines, "Retire when: "+oneLine(f.RetireWhen))
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight("// "+l, " ")
	}
	return lines
}

// goString is s as a Go string literal: raw when it can be, for reading.
func goString(s string) string {
	if strconv.CanBackquote(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var genTemplate = template.Must(template.New("gen").Parse(`// Code generated by paw gen go from {{.Manifest}}. DO NOT EDIT.

// Package {{.Package}} is the typed library of fuzzy functions declared in
// {{.Manifest}}. Open it on a *paw.Engine with the project's paw.lock.
package {{.Package}}

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/paw-dev/paw"
{{- if .NeedSchema}}
	"github.com/paw-dev/paw/schema"
{{- end}}
)

// specHashes are the spec hashes (see paw.lock) this code was generated for.
var specHashes = map[string]string{
{{- range .Funcs}}
	{{.Name}}: {{.SpecHash}},
{{- end}}
}

// Library is the project's fuzzy functions, each loaded at the program
// paw.lock pins for it. It is safe for concurrent use; Close it when done.
type Library struct {
	all []*paw.Function
{{- range .Funcs}}
	fn{{.Field}} *paw.Function
{{- if eq .Kind "labels"}}
	labels{{.Field}} *paw.Classifier[{{.Type}}]
{{- else if eq .Kind "bool"}}
	labels{{.Field}} *paw.Classifier[string]
{{- else if .Contract}}
	contract{{.Field}} schema.Contract
{{- end}}
{{- end}}
}

// OpenFile is Open with the lock read from path (the project's paw.lock).
func OpenFile(ctx context.Context, eng *paw.Engine, path string) (*Library, error) {
	lock, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open library: %w", err)
	}
	return Open(ctx, eng, lock)
}

// Open loads every function on eng at the program lock (the contents of
// paw.lock) pins for it. The lock must be built from the specs this code
// was generated for: after changing paw.yaml, run paw build, then paw gen go.
func Open(ctx context.Context, eng *paw.Engine, lock []byte) (*Library, error) {
	ids, err := programIDs(lock)
	if err != nil {
		return nil, err
	}
	l := &Library{}
	load := func(name string) (*paw.Function, error) {
		fn, err := eng.Function(ctx, ids[name])
		if err != nil {
			return nil, fmt.Errorf("open library: function %s: %w", name, err)
		}
		l.all = append(l.all, fn)
		return fn, nil
	}
{{- range .Funcs}}
	if l.fn{{.Field}}, err = load({{.Name}}); err != nil {
		return nil, errors.Join(err, l.Close())
	}
{{- if eq .Kind "labels"}}
	if l.labels{{.Field}}, err = paw.Labels(l.fn{{.Field}}{{range .Labels}}, {{.Const}}{{end}}); err != nil {
		return nil, errors.Join(err, l.Close())
	}
{{- else if eq .Kind "bool"}}
	if l.labels{{.Field}}, err = paw.Labels(l.fn{{.Field}}, {{.True}}, {{.False}}); err != nil {
		return nil, errors.Join(err, l.Close())
	}
{{- else if eq .Kind "json"}}
	if l.contract{{.Field}}, err = schema.JSON([]byte({{.Contract}})); err != nil {
		return nil, errors.Join(err, l.Close())
	}
{{- else if eq .Kind "regex"}}
	if l.contract{{.Field}}, err = schema.Regex({{.Contract}}); err != nil {
		return nil, errors.Join(err, l.Close())
	}
{{- end}}
{{- end}}
	return l, nil
}

// programIDs checks the lock against specHashes and returns each
// function's program id.
func programIDs(lock []byte) (map[string]string, error) {
	var l struct {
		Functions map[string]struct {
			ProgramID string ` + "`json:\"program_id\"`" + `
			SpecHash  string ` + "`json:\"spec_hash\"`" + `
		} ` + "`json:\"functions\"`" + `
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		return nil, fmt.Errorf("open library: paw.lock: %w", err)
	}
	ids := make(map[string]string, len(specHashes))
	for name, hash := range specHashes {
		e, ok := l.Functions[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("open library: %s is not in paw.lock; run paw build", name)
		case e.SpecHash != hash:
			return nil, fmt.Errorf("open library: paw.lock pins %s for another spec than this code's; run paw build, then paw gen go", name)
		}
		ids[name] = e.ProgramID
	}
	return ids, nil
}

// Close releases every function.
func (l *Library) Close() error {
	var errs []error
	for _, fn := range l.all {
		errs = append(errs, fn.Close())
	}
	return errors.Join(errs...)
}
{{range .Funcs}}{{if eq .Kind "labels"}}
// {{.Type}} is an answer of Library.{{.Method}}.
type {{.Type}} string

// The labels of {{.Type}}.
const (
{{- $type := .Type}}
{{- range .Labels}}
	{{.Const}} {{$type}} = {{.Value}}
{{- end}}
)
{{end}}
{{range .Doc}}{{.}}
{{end}}
{{- if eq .Kind "labels"}}func (l *Library) {{.Method}}(ctx context.Context, input string, opts ...paw.Option) ({{.Type}}, map[{{.Type}}]float64, error) {
	return l.labels{{.Field}}.Call(ctx, input, opts...)
}
{{- else if eq .Kind "bool"}}func (l *Library) {{.Method}}(ctx context.Context, input string, opts ...paw.Option) (bool, map[bool]float64, error) {
	label, probs, err := l.labels{{.Field}}.Call(ctx, input, opts...)
	if err != nil {
		return false, nil, err
	}
	return label == {{.True}}, map[bool]float64{true: probs[{{.True}}], false: probs[{{.False}}]}, nil
}
{{- else if eq .Kind "json"}}func (l *Library) {{.Method}}(ctx context.Context, input string, opts ...paw.Option) ({{.Type}}, error) {
	var v {{.Type}}
	res, err := l.fn{{.Field}}.Call(ctx, input, append(opts[:len(opts):len(opts)], paw.WithContract(l.contract{{.Field}}))...)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(res.Output), &v); err != nil {
		return v, fmt.Errorf("%s: decode output: %w", {{.Name}}, err)
	}
	return v, nil
}
{{- else}}func (l *Library) {{.Method}}(ctx context.Context, input string, opts ...paw.Option) (string, error) {
	res, err := l.fn{{.Field}}.Call(ctx, input{{if .Contract}}, append(opts[:len(opts):len(opts)], paw.WithContract(l.contract{{.Field}}))...{{else}}, opts...{{end}})
	if err != nil {
		return "", err
	}
	return res.Output, nil
}
{{- end}}
{{end}}
{{range .Decls}}
{{.}}
{{end}}`))

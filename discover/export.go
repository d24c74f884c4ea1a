package discover

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/paw-dev/paw/library"
)

// Export defaults.
const (
	DefaultHoldOut     = 0.2
	DefaultBaselineURL = "https://api.openai.com/v1"
	DefaultAPIKeyEnv   = "OPENAI_API_KEY"
	// Placeholder marks what a human must fill in.
	Placeholder = "TODO"
)

// ExportOptions configure Export.
type ExportOptions struct {
	Name     string // the function's name (the template's suggested one when empty)
	Manifest string // the paw.yaml to append to; created when missing
	// HoldOut is the share of distinct inputs written as test cases
	// (DefaultHoldOut); the rest are training examples.
	HoldOut     float64
	BaselineURL string // the logged model's API (DefaultBaselineURL)
	APIKeyEnv   string // DefaultAPIKeyEnv
	Redact      bool   // redact PII (Redact) in everything written
}

// Exported says what Export wrote.
type Exported struct {
	Function          string
	Manifest          string
	Cases, Training   string // paths of the files written
	NCases, NTraining int
}

// Export appends t as a function to a manifest, with its test cases (a
// held-out split of the sampled inputs, the hosted answers as expected) in
// cases/NAME.jsonl and the rest as training examples ({"input", "output"},
// for paw compile --local --examples) in training/NAME.jsonl, both beside
// the manifest. The entry's spec is drafted from the prompt, and owner and
// scope are placeholders, all marked for a human to edit. The manifest as
// appended must pass library.Parse, else nothing is written. Existing
// cases or training files are never overwritten.
func Export(t *Template, opts ExportOptions) (*Exported, error) {
	opts.HoldOut = cmp.Or(opts.HoldOut, DefaultHoldOut)
	opts.BaselineURL = cmp.Or(opts.BaselineURL, DefaultBaselineURL)
	opts.APIKeyEnv = cmp.Or(opts.APIKeyEnv, DefaultAPIKeyEnv)
	name := cmp.Or(opts.Name, t.Name)
	red := func(s string) string { return s }
	if opts.Redact {
		red = Redact
	}
	if t.Output == OutputLabels {
		// A label redaction would merge or blank answers; labels are
		// the function's vocabulary, not a caller's data.
		for _, l := range t.Labels {
			if red(l.Label) != l.Label {
				return nil, fmt.Errorf("%w: label %q holds what redaction removes; export with redaction off and check it by hand", ErrExport, l.Label)
			}
		}
	}
	if len(t.Slots) == 0 {
		return nil, fmt.Errorf("%w: %s has no slot: every call sends the same message, so there is no input", ErrExport, name)
	}
	cases, train := split(t.Examples, opts.HoldOut, red)
	if len(cases) == 0 || len(train) == 0 {
		return nil, fmt.Errorf("%w: %s has %d distinct sampled inputs; need two or more for cases and training", ErrExport, name, len(cases)+len(train))
	}
	dir := filepath.Dir(opts.Manifest)
	out := &Exported{Function: name, Manifest: opts.Manifest, NCases: len(cases), NTraining: len(train),
		Cases: filepath.Join(dir, "cases", name+".jsonl"), Training: filepath.Join(dir, "training", name+".jsonl")}

	old, err := os.ReadFile(opts.Manifest)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("export: %w", err)
	}
	entry, err := manifestEntry(t, name, opts, red)
	if err != nil {
		return nil, err
	}
	if m, err := library.Parse(old, opts.Manifest); err == nil && m.Function(name) != nil {
		return nil, fmt.Errorf("%w: %s already has a function %s (choose another name)", ErrExport, opts.Manifest, name)
	}
	for _, p := range []string{out.Cases, out.Training} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%w: %s exists; not overwriting it", ErrExport, p)
		}
	}
	updated, err := appendFunction(old, entry)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v; add this entry by hand:\n%s", ErrExport, opts.Manifest, err, entry)
	}

	var written []string
	fail := func(err error) (*Exported, error) {
		for _, p := range written {
			os.Remove(p)
		}
		return nil, err
	}
	for _, f := range []struct {
		path string
		rows []any
	}{{out.Cases, cases}, {out.Training, train}} {
		if err := writeJSONL(f.path, f.rows); err != nil {
			return fail(fmt.Errorf("export: %w", err))
		}
		written = append(written, f.path)
	}
	m, err := library.Parse(updated, opts.Manifest)
	if err != nil {
		return fail(fmt.Errorf("%w: the manifest with %s added does not load: %w", ErrExport, name, err))
	}
	if m.Function(name) == nil {
		return fail(fmt.Errorf("%w: %s is not in the manifest once appended; add this entry by hand:\n%s", ErrExport, name, entry))
	}
	if err := os.WriteFile(opts.Manifest, updated, 0o644); err != nil {
		return fail(fmt.Errorf("export: %w", err))
	}
	return out, nil
}

// caseRow is one test case: expected is a string, or the JSON value of a
// JSON answer (compared canonically by paw test).
type caseRow struct {
	Input    string `json:"input"`
	Expected any    `json:"expected"`
}

type trainRow struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// split dedupes the examples by input (the answer given most often, the
// earliest on a tie) and splits them by a hash of the input, so an input
// always falls on the same side. Cases are caseRows, training trainRows.
func split(examples []Example, holdOut float64, red func(string) string) (cases, train []any) {
	type tally struct {
		input   string
		answers map[string]int
		order   []string
	}
	var inputs []*tally
	byInput := map[string]*tally{}
	for _, ex := range examples {
		in := red(ex.Input)
		tl := byInput[in]
		if tl == nil {
			tl = &tally{input: in, answers: map[string]int{}}
			byInput[in] = tl
			inputs = append(inputs, tl)
		}
		ans := red(strings.TrimSpace(ex.Output))
		if tl.answers[ans] == 0 {
			tl.order = append(tl.order, ans)
		}
		tl.answers[ans]++
	}
	for _, tl := range inputs {
		ans := slices.MaxFunc(tl.order, func(a, b string) int {
			return cmp.Or(cmp.Compare(tl.answers[a], tl.answers[b]), cmp.Compare(slices.Index(tl.order, b), slices.Index(tl.order, a)))
		})
		h := fnv.New64a()
		h.Write([]byte(tl.input))
		if float64(h.Sum64()%10000) < holdOut*10000 {
			var expected any = ans
			if _, ok := parseJSONAnswer(ans); ok {
				expected = json.RawMessage(ans)
			}
			cases = append(cases, caseRow{tl.input, expected})
		} else {
			train = append(train, trainRow{tl.input, ans})
		}
	}
	// Too few inputs for the hash to split them: one on the empty side.
	if len(cases) == 0 && len(train) > 1 {
		r := train[0].(trainRow)
		cases, train = []any{caseRow{r.Input, r.Output}}, train[1:]
	}
	if len(train) == 0 && len(cases) > 1 {
		c := cases[0].(caseRow)
		out, _ := c.Expected.(string)
		if raw, ok := c.Expected.(json.RawMessage); ok {
			out = string(raw)
		}
		cases, train = cases[1:], []any{trainRow{c.Input, out}}
	}
	return cases, train
}

// writeJSONL creates path (never overwriting) with one JSON line per row.
func writeJSONL(path string, rows []any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// manifestEntry is t's function entry: a one-item YAML sequence.
func manifestEntry(t *Template, name string, opts ExportOptions, red func(string) string) (string, error) {
	var fn yaml.Node
	type scope struct {
		Use    string `yaml:"use"`
		NotFor string `yaml:"not_for"`
	}
	type baseline struct {
		URL       string `yaml:"url"`
		Model     string `yaml:"model"`
		APIKeyEnv string `yaml:"api_key_env"`
	}
	type function struct {
		Name     string   `yaml:"name"`
		Spec     string   `yaml:"spec"`
		Labels   []string `yaml:"labels,omitempty,flow"`
		Schema   any      `yaml:"schema,omitempty,flow"`
		Owner    string   `yaml:"owner"`
		Scope    scope    `yaml:"scope"`
		Cases    string   `yaml:"cases"`
		Baseline baseline `yaml:"baseline,flow"`
	}
	f := function{Name: name, Spec: red(draftSpec(t)), Owner: Placeholder,
		Scope: scope{Use: Placeholder + ": what the function is for", NotFor: Placeholder + ": what it must not be used for"},
		Cases: "cases/" + name + ".jsonl", Baseline: baseline{URL: opts.BaselineURL, Model: t.Model, APIKeyEnv: opts.APIKeyEnv}}
	switch t.Output {
	case OutputLabels:
		for _, l := range t.Labels {
			f.Labels = append(f.Labels, l.Label)
		}
		slices.Sort(f.Labels)
	case OutputJSON:
		if err := json.Unmarshal(t.Schema, &f.Schema); err != nil {
			return "", fmt.Errorf("export: schema: %w", err)
		}
	}
	if err := fn.Encode(f); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	when := ""
	if !t.First.IsZero() {
		when = fmt.Sprintf(", %s to %s", t.First.Format("2006-01-02"), t.Last.Format("2006-01-02"))
	}
	fn.HeadComment = fmt.Sprintf("Found by paw discover: %d calls of %s%s, template %d.\n"+
		"EDIT before building: the spec is the logged prompt, owner and scope are placeholders.", t.Calls, t.Model, when, t.ID)
	for i := 0; i+1 < len(fn.Content); i += 2 {
		switch k := fn.Content[i]; k.Value {
		case "spec":
			k.LineComment = Placeholder + ": say what the function does; drafted from the prompt"
		case "labels", "schema":
			k.HeadComment = "the answers the logged model gave"
		case "cases":
			k.HeadComment = "held-out calls, the logged answers as expected; the rest in training/" + name + ".jsonl"
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode([]*yaml.Node{&fn}); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	return b.String(), nil
}

// draftSpec is the prompt as a spec draft: the system message, the user
// message with its slots named, and how a several-slot input is laid out.
func draftSpec(t *Template) string {
	var b strings.Builder
	if t.System != "" {
		b.WriteString(strings.TrimSpace(t.System) + "\n\n")
	}
	b.WriteString(strings.TrimSpace(t.Text))
	if len(t.Slots) > 1 {
		b.WriteString("\n\nThe input gives " + strings.Join(t.Slots, ", ") + ", each on its own line as \"name: value\".")
	}
	return b.String() + "\n"
}

// appendFunction appends entry (a one-item sequence at indent 0) to the
// manifest's functions list, indented as its items are; an empty manifest
// gets a new one. The functions list must be block style and the
// manifest's last key, so that appending text extends it.
func appendFunction(old []byte, entry string) ([]byte, error) {
	if len(bytes.TrimSpace(old)) == 0 {
		return []byte("version: 1\nfunctions:\n" + indent(entry, 2)), nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(old, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a mapping")
	}
	top := doc.Content[0]
	if n := len(top.Content); n < 2 || top.Content[n-2].Value != "functions" {
		return nil, errors.New("functions is not the last key")
	}
	fns := top.Content[len(top.Content)-1]
	dash := 2
	switch {
	case fns.Kind == yaml.SequenceNode && fns.Style&yaml.FlowStyle == 0 && len(fns.Content) > 0:
		dash = fns.Column - 1
	case fns.Kind == yaml.ScalarNode && fns.Tag == "!!null":
	default:
		return nil, errors.New("functions is not a block list")
	}
	out := slices.Clone(old)
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return append(out, indent(entry, dash)...), nil
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			b.WriteString(pad)
		}
		b.WriteString(line)
	}
	return b.String()
}

// PII patterns Redact replaces, in order.
var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`), "[EMAIL]"},
	{regexp.MustCompile(`(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}\b`), "[PHONE]"},
	{regexp.MustCompile(`\d{6,}`), "[NUMBER]"},
}

// Redact replaces email addresses, phone numbers and runs of six or more
// digits in s.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

package discover

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/library"
	"github.com/paw-dev/paw/schema"
)

// synthReport mines the standard synthetic log.
func synthReport(t *testing.T) *Report {
	t.Helper()
	path, _, _ := synthLog(t, 3000, false)
	d := New(Options{Sample: 5000})
	if err := d.ReadFiles(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	return d.Report(RankOptions{})
}

func byName(t *testing.T, r *Report, prefix string) *Template {
	t.Helper()
	for _, tm := range r.Templates {
		if strings.HasPrefix(tm.Text, prefix) {
			return tm
		}
	}
	t.Fatalf("no template starts with %q", prefix)
	return nil
}

func readLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r T
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestExport appends three templates (labels, several slots, JSON) to an
// existing manifest, whose items sit at column 0: the result passes the
// library's strict loader with the contract, cases and baseline expected,
// the cases and training files split the distinct inputs, and a second
// export of the same name writes nothing.
func TestExport(t *testing.T) {
	r := synthReport(t)
	dir := t.TempDir()
	manifest := filepath.Join(dir, library.ManifestFile)
	os.WriteFile(manifest, []byte("# mine\nversion: 1\nfunctions:\n- name: existing\n  spec: Something else.\n  owner: me\n"), 0o644)

	sentiment := byName(t, r, "Classify the sentiment")
	ticket := byName(t, r, "Customer: ")
	order := byName(t, r, "Extract the order")
	for _, tm := range []*Template{sentiment, ticket, order} {
		out, err := Export(tm, ExportOptions{Manifest: manifest, Redact: true})
		if err != nil {
			t.Fatalf("export %s: %v", tm.Name, err)
		}
		cases := readLines[map[string]any](t, out.Cases)
		train := readLines[trainRow](t, out.Training)
		if len(cases) != out.NCases || len(train) != out.NTraining || out.NCases == 0 ||
			out.NCases+out.NTraining > tm.Calls || out.NCases > out.NTraining {
			t.Errorf("%s: %d cases, %d training of %d calls", tm.Name, out.NCases, out.NTraining, tm.Calls)
		}
		seen := map[string]bool{}
		for _, c := range cases {
			seen[c["input"].(string)] = true
		}
		for _, tr := range train {
			if seen[tr.Input] {
				t.Errorf("%s: input %q both a case and a training example", tm.Name, tr.Input)
			}
		}
	}

	m, err := library.Load(manifest)
	if err != nil {
		t.Fatalf("the exported manifest does not load: %v\n%s", err, readFile(t, manifest))
	}
	if len(m.Functions) != 4 || m.Functions[0].Name != "existing" {
		t.Fatalf("functions: %d", len(m.Functions))
	}
	f := m.Function(sentiment.Name)
	if f == nil || f.Contract.Kind != schema.KindLabels || strings.Join(f.Contract.Labels, ",") != "negative,neutral,positive" ||
		f.Owner != Placeholder || f.Baseline == nil || f.Baseline.Model != "gpt-4o-mini" || f.Baseline.URL != DefaultBaselineURL ||
		!strings.Contains(f.Spec, "You are a sentiment classifier") || !strings.Contains(f.Spec, "Review: {review}") {
		t.Errorf("sentiment entry: %+v", f)
	}
	if g := m.Function(order.Name); g == nil || g.Contract.Kind != schema.KindJSON || !strings.Contains(string(g.Contract.Schema), `"quantity":{"type":"integer"}`) {
		t.Errorf("order entry: %+v", g)
	}
	if g := m.Function(ticket.Name); g == nil || !strings.Contains(g.Spec, "customer, subject, message") {
		t.Errorf("ticket entry: %+v", g)
	}
	text := readFile(t, manifest)
	if !strings.HasPrefix(text, "# mine\n") || strings.Count(text, "EDIT before building") != 3 {
		t.Errorf("manifest:\n%s", text)
	}
	cases := readLines[map[string]any](t, filepath.Join(dir, "cases", order.Name+".jsonl"))
	if _, ok := cases[0]["expected"].(map[string]any); !ok {
		t.Errorf("a JSON answer's expected is %T, want the JSON object", cases[0]["expected"])
	}
	tcases := readLines[map[string]any](t, filepath.Join(dir, "cases", ticket.Name+".jsonl"))
	if in := tcases[0]["input"].(string); !strings.HasPrefix(in, "customer: ") || !strings.Contains(in, "\nsubject: ") {
		t.Errorf("a several-slot input: %q", in)
	}

	before := readFile(t, manifest)
	if _, err := Export(sentiment, ExportOptions{Manifest: manifest}); !errors.Is(err, ErrExport) {
		t.Errorf("exporting %s twice: %v, want ErrExport", sentiment.Name, err)
	}
	if _, err := Export(sentiment, ExportOptions{Name: "again", Manifest: manifest}); err != nil {
		t.Errorf("under another name: %v", err)
	}
	if after := readFile(t, manifest); !strings.HasPrefix(after, before) || !strings.Contains(after, "name: again") {
		t.Errorf("manifest after a refused export and another name:\n%s", after)
	}

	// A manifest whose functions list is not last is left alone.
	other := filepath.Join(t.TempDir(), library.ManifestFile)
	os.WriteFile(other, []byte("functions:\n  - {name: a, spec: b, owner: c}\nversion: 1\n"), 0o644)
	if _, err := Export(sentiment, ExportOptions{Manifest: other}); !errors.Is(err, ErrExport) || !strings.Contains(err.Error(), "add this entry by hand") {
		t.Errorf("functions not last: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(other), "cases")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused export left files: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExportNewManifest creates a manifest, redacting what is written.
func TestExportNewManifest(t *testing.T) {
	tm := &Template{ID: 1, Name: "reply_kind", Model: "m", Text: "Mail from {input}", Segments: []string{"Mail from ", ""},
		Slots: []string{"input"}, Calls: 3, Output: OutputLabels, Labels: []LabelCount{{"a", 2}, {"b", 1}},
		Examples: []Example{
			{Input: "ann@example.com, call +1 (555) 123-4567", Output: "a"},
			{Input: "bob@example.org about order 12345678", Output: "b"},
			{Input: "carol", Output: "a"},
		}}
	manifest := filepath.Join(t.TempDir(), "proj", library.ManifestFile)
	os.MkdirAll(filepath.Dir(manifest), 0o755)
	out, err := Export(tm, ExportOptions{Manifest: manifest, Redact: true, HoldOut: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := library.Load(manifest); err != nil {
		t.Fatalf("%v\n%s", err, readFile(t, manifest))
	}
	all := readFile(t, out.Cases) + readFile(t, out.Training)
	for _, pii := range []string{"ann@", "bob@", "555", "12345678"} {
		if strings.Contains(all, pii) {
			t.Errorf("%q written:\n%s", pii, all)
		}
	}
	for _, want := range []string{"[EMAIL], call [PHONE]", "[EMAIL] about order [NUMBER]", "carol"} {
		if !strings.Contains(all, want) {
			t.Errorf("%q not written:\n%s", want, all)
		}
	}
}

func TestExportNoSlot(t *testing.T) {
	tm := &Template{Name: "joke", Text: "Tell me a joke", Segments: []string{"Tell me a joke"}, Calls: 9,
		Examples: []Example{{Output: "a"}, {Output: "b"}}}
	if _, err := Export(tm, ExportOptions{Manifest: filepath.Join(t.TempDir(), library.ManifestFile)}); !errors.Is(err, ErrExport) {
		t.Errorf("a template without slots: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"mail jo.doe+x@mail.example.co.uk now": "mail [EMAIL] now",
		"call 555-123-4567 or (030) 1234 5678": "call [PHONE] or [PHONE]",
		"+44 20 7946 0958":                     "[PHONE]",
		"card 4111111111111111":                "card [NUMBER]",
		"order 12345, 3 items at 10:30":        "order 12345, 3 items at 10:30",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

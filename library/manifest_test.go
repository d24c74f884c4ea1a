package library

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

func TestLoad(t *testing.T) {
	m, err := Load("testdata/project")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range m.Functions {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"pager_worthy", "intent", "repair_json", "order_id", "summary"}, names); diff != "" {
		t.Fatalf("functions (-want +got):\n%s", diff)
	}
	f := m.Function("pager_worthy")
	rate := func(x float64) *float64 { return &x }
	want := Function{
		Name:        "pager_worthy",
		Spec:        f.Spec,
		Owner:       "sre@example.com",
		Scope:       Scope{Use: "triaging production log lines before paging", NotFor: "security incidents (those go to the SOC pipeline)"},
		Expires:     time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
		RetireWhen:  "the logging pipeline tags user impact itself",
		Cases:       "cases/pager_worthy.jsonl",
		Gates:       eval.Gates{MinAccuracy: rate(0.9), MaxInvalid: rate(0), MaxP95MS: rate(250)},
		Compiler:    DefaultCompiler,
		Interpreter: program.InterpreterQwen3,
		Baseline:    &Baseline{URL: "https://api.openai.com/v1", Model: "gpt-4o-mini", APIKeyEnv: "OPENAI_API_KEY"},
		Fallback:    &Fallback{Calibrate: true},
		Line:        4,
	}
	got := *f
	got.Contract = schema.Contract{}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(schema.Contract{})); diff != "" {
		t.Errorf("pager_worthy (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(f.Spec, "Return true only when") || !strings.HasSuffix(f.Spec, "background jobs.\n") {
		t.Errorf("spec = %q", f.Spec)
	}
	if f.Contract.Kind != schema.KindLabels || !cmp.Equal(f.Contract.Labels, []string{"true", "false"}) {
		t.Errorf("contract = %+v, want labels true, false as written", f.Contract)
	}
	if c := m.Function("order_id").Contract; c.Kind != schema.KindRegex || c.Regex != "ORD-[0-9]{6}" {
		t.Errorf("order_id contract = %+v", c)
	}
	if f := m.Function("repair_json"); f.Contract.Kind != schema.KindJSON || f.SchemaFile != "schemas/ticket.json" {
		t.Errorf("repair_json contract = %+v from %q", f.Contract, f.SchemaFile)
	}
	if c := m.Function("summary").Contract; c.Kind != schema.KindJSON ||
		string(c.Schema) != `{"properties":{"severity":{"enum":["low","high"]},"summary":{"type":"string"}},"required":["summary"],"type":"object"}` {
		t.Errorf("inline schema = %s, want canonical JSON", c.Schema)
	}
	if got := m.CasesPath(f); got != filepath.Join("testdata", "project", "cases", "pager_worthy.jsonl") {
		t.Errorf("CasesPath = %q", got)
	}
	if f.Expired(time.Date(2027, 6, 30, 23, 0, 0, 0, time.UTC)) || !f.Expired(time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("a function expires at the end of its expires day")
	}
}

// TestManifestErrors: each bad manifest is an error naming the line and
// column of the problem, and what is wrong.
func TestManifestErrors(t *testing.T) {
	const head = "functions:\n  - name: f\n    owner: me\n    spec: do it\n"
	tests := []struct {
		name, yaml string
		at         string // "line:col"
		msg        string
	}{
		{"unknown top key", "functoins: []\n", "1:1", `unknown key "functoins" in the manifest (known keys: version, functions)`},
		{"unknown function key", head + "    owners: [a]\n", "5:5", `unknown key "owners" in a function (known keys: name, spec, labels,`},
		{"unknown gate", head + "    gates: {min_acc: 0.9}\n", "5:13", `unknown key "min_acc" in gates (known keys: min_accuracy,`},
		{"unknown scope key", head + "    scope:\n      use: x\n      avoid: y\n", "7:7", `unknown key "avoid" in scope (known keys: use, not_for)`},
		{"repeated key", head + "    owner: you\n", "5:5", `key "owner" repeated in a function`},
		{"syntax", "functions:\n  - name: [\n", "2:1", "YAML syntax"},
		{"empty", "", "1:1", "empty manifest"},
		{"functions not a list", "functions: {a: 1}\n", "1:12", "want a list of functions"},
		{"no functions", "version: 1\n", "1:1", `missing "functions"`},
		{"bad version", "version: 2\nfunctions: []\n", "1:10", "this paw reads version 1"},
		{"bad name", "functions:\n  - name: Pager-Worthy\n    owner: me\n    spec: x\n", "2:11", `function name "Pager-Worthy"`},
		{"no name", "functions:\n  - owner: me\n    spec: x\n", "2:5", `the function: missing "name"`},
		{"no spec", "functions:\n  - name: f\n    owner: me\n", "2:5", `function f: missing "spec"`},
		{"no owner", "functions:\n  - name: f\n    spec: x\n", "2:5", `function f: missing "owner"`},
		{"spec a number", "functions:\n  - name: f\n    owner: me\n    spec: 1.5\n", "4:11", `want text, got float "1.5" (quote it)`},
		{"two contracts", head + "    labels: [a, b]\n    regex: 'x+'\n", "6:12", "give one output contract, not both labels and regex"},
		{"one label", head + "    labels: [a]\n", "5:13", "labels needs at least two labels"},
		{"repeated label", head + "    labels: [a, a]\n", "5:13", "schema: invalid label"},
		{"labels not a list", head + "    labels: a\n", "5:13", "want a list"},
		{"bad regex", head + "    regex: '(a)\\1'\n", "5:12", "schema: unsupported regular expression"},
		{"schema file missing", head + "    schema: nope.json\n", "5:13", `schema "nope.json"`},
		{"schema outside", head + "    schema: ../x.json\n", "5:13", "want a path inside the project"},
		{"schema unsupported", head + "    schema: {type: object, properties: {a: {$ref: '#/x'}}}\n", "5:13", "function f: schema:"},
		{"cases missing", head + "    cases: cases/none.jsonl\n", "5:12", `cases "cases/none.jsonl"`},
		{"bad date", head + "    expires: 2027-02-30\n", "5:14", `expires "2027-02-30": want a date YYYY-MM-DD`},
		{"date not a date", head + "    expires: next year\n", "5:14", "want a date"},
		{"gate out of range", head + "    gates: {min_accuracy: 90}\n", "5:27", "min_accuracy 90: want a rate between 0 and 1"},
		{"gate not a number", head + "    gates: {max_invalid: none}\n", "5:26", `want a number, got "none"`},
		{"latency gate", head + "    gates: {max_p95_ms: -1}\n", "5:25", "max_p95_ms -1: want a positive number"},
		{"interpreter", head + "    interpreter: llama\n", "5:18", `interpreter "llama": want qwen3 or gpt2`},
		{"empty compiler", head + "    compiler: ''\n", "5:15", "empty compiler"},
		{"base without local-lora", head + "    base: m.gguf\n", "5:11", "base is for compiler local-lora only"},
		{"local-lora without base", head + "    compiler: local-lora\n", "5:15", `missing "base"`},
		{"local-lora base missing", head + "    compiler: local-lora\n    base: nope.gguf\n", "6:11", `base "nope.gguf"`},
		{"mapper without local-mapper", head + "    mapper: paw-4b-gpt2\n", "5:13", "mapper is for compiler local-mapper only"},
		{"pseudo_program without local-mapper", head + "    compiler: local-lora\n    base: q\n    pseudo_program: p.txt\n", "7:21", "pseudo_program is for compiler local-mapper only"},
		{"unknown mapper", head + "    compiler: local-mapper\n    mapper: paw-9b\n", "6:13", `mapper "paw-9b": want paw-4b-gpt2, paw-4b-qwen3-0.6b or a directory`},
		{"mapper outside", head + "    compiler: local-mapper\n    mapper: ../c\n", "6:13", `mapper "../c": want`},
		{"mapper interpreter", head + "    compiler: local-mapper\n    mapper: paw-4b-gpt2\n    interpreter: qwen3\n", "7:18", "mapper paw-4b-gpt2 compiles for interpreter gpt2, not qwen3"},
		{"pseudo_program missing", head + "    compiler: local-mapper\n    pseudo_program: p.txt\n", "6:21", `pseudo_program "p.txt"`},
		{"writer_model missing", head + "    compiler: local-mapper\n    writer_model: w.gguf\n", "6:19", `writer_model "w.gguf"`},
		{"writer_max_tokens zero", head + "    compiler: local-mapper\n    writer_max_tokens: 0\n", "6:24", "writer_max_tokens: want a whole number of tokens from 1 to 4096"},
		{"writer_max_tokens fraction", head + "    compiler: local-mapper\n    writer_max_tokens: 2.5\n", "6:24", "writer_max_tokens: want a whole number"},
		{"writer_max_tokens without local-mapper", head + "    writer_max_tokens: 300\n", "5:24", "writer_max_tokens is for compiler local-mapper only"},
		{"fallback without baseline", head + "    fallback: 0.8\n", "5:15", "a fallback needs a baseline"},
		{"bad fallback", head + "    baseline: {url: 'http://x', model: m}\n    fallback: always\n", "6:15", `fallback "always": want "calibrate" or a confidence threshold`},
		{"baseline url", head + "    baseline: {url: 'ftp://x', model: m}\n", "5:21", "want an http or https URL"},
		{"baseline model", head + "    baseline: {url: 'http://x'}\n", "5:15", `baseline: missing "model"`},
		{"scope a string", head + "    scope: internal\n", "5:12", "scope: want a mapping"},
		{"duplicate function", head + "  - name: f\n    owner: me\n    spec: again\n", "5:5", `function "f" is declared twice (first at line 2)`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "paw.yaml")
			_, err := Parse([]byte(tt.yaml), path)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrManifest) {
				t.Errorf("error %v does not match ErrManifest", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			want := path + ":" + tt.at + ": "
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error:\n%v\nwant it at %s saying %q", err, want, tt.msg)
			}
		})
	}
}

// TestManifestAllErrors: every problem is reported at once.
func TestManifestAllErrors(t *testing.T) {
	_, err := Parse([]byte("functions:\n  - name: a\n    spec: x\n    owner: me\n    colour: red\n  - name: B\n    spec: y\n    owner: me\n"), "paw.yaml")
	for _, want := range []string{"paw.yaml:5:5: unknown key", `paw.yaml:6:11: function name "B"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(t.TempDir())
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a directory without paw.yaml = %v, want ErrNotExist", err)
	}
}

// TestManifestMapper: local-mapper's keys, its default mapper, and the
// interpreter following the mapper.
func TestManifestMapper(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "compilers", "mine"), 0o755)
	os.WriteFile(filepath.Join(dir, "p.txt"), []byte("[PSEUDO_PROGRAM]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "w.gguf"), nil, 0o644)
	const fn = "  - name: %s\n    owner: me\n    spec: x\n    compiler: local-mapper\n"
	m, err := Parse([]byte("functions:\n"+fmt.Sprintf(fn, "a")+fmt.Sprintf(fn, "b")+"    mapper: paw-4b-gpt2\n    pseudo_program: p.txt\n"+
		fmt.Sprintf(fn, "c")+"    mapper: compilers/mine\n    writer_model: w.gguf\n    writer_max_tokens: 300\n"), filepath.Join(dir, "paw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Function{
		{Name: "a", Mapper: DefaultMapper, Interpreter: program.InterpreterQwen3},
		{Name: "b", Mapper: "paw-4b-gpt2", PseudoProgram: "p.txt", Interpreter: program.InterpreterGPT2},
		{Name: "c", Mapper: "compilers/mine", WriterModel: "w.gguf", WriterMaxTokens: 300},
	} {
		f := m.Function(want.Name)
		if f.Compiler != MapperCompiler || f.Mapper != want.Mapper || f.PseudoProgram != want.PseudoProgram ||
			f.WriterModel != want.WriterModel || f.WriterMaxTokens != want.WriterMaxTokens || f.Interpreter != want.Interpreter {
			t.Errorf("%s: %+v, want mapper %q pseudo %q writer %q interpreter %q", want.Name, f, want.Mapper,
				want.PseudoProgram, want.WriterModel, want.Interpreter)
		}
	}
}

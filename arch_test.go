package paw_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowed lists, for each package, the paw packages it may import (the
// import arrows of ../shared/docs/architecture.md); third-party and standard
// packages are not restricted here.
var allowed = map[string][]string{
	"":                 {"compile", "compile/hosted", "hub", "internal/fsutil", "interp", "program", "registry", "schema"},
	"gguf":             {},
	"program":          {"gguf", "internal/fsutil"},
	"schema":           {},
	"api":              {},
	"hub":              {"api", "program", "internal/fsutil", "internal/kvcache", "internal/retry"},
	"store":            {"internal/fsutil"}, // std and the S3 client besides
	"compile":          {"program"},
	"compile/hosted":   {"api", "compile", "internal/retry", "program"},
	"compile/lora":     {"compile", "eval", "gguf", "internal/fsutil", "internal/llama", "program"},
	"compile/mapper":   {"compile", "gguf", "internal/fixture", "internal/fsutil", "internal/llama", "program"}, // fixture: the HF converter's GGUF layout
	"eval":             {"program", "schema"},
	"eval/report":      {"eval", "internal/fsutil"},
	"library":          {"compile", "eval", "internal/fsutil", "program", "schema"},
	"discover":         {"library"},                                          // exports into a project's paw.yaml, checked by its loader
	"upstream":         {"api", "eval", "internal/fsutil", "internal/retry"}, // upstream.Runner returns eval.Answer
	"registry":         {"program"},                                          // std and the two database drivers besides
	"internal/llama":   {},
	"internal/config":  {"internal/fsutil"},
	"internal/fsutil":  {},
	"internal/kvcache": {},
	"internal/retry":   {},
	"internal/pgtest":  {}, // test and local-cluster helper: std and the pgx driver
	"internal/fixture": {"gguf", "internal/fsutil"},
	"interp":           {"gguf", "internal/basemodel", "internal/fsutil", "internal/kvcache", "internal/llama", "program", "schema"},
	"cmd/paw":          nil, // the CLI may import anything but is imported by nothing
	// The server runs programs through the root package's front door (the
	// engine, re-exported errors, options), not interp directly.
	// It routes through upstream and scores agreement and confidence as eval does.
	"server": {"", "api", "eval", "hub", "program", "registry", "schema", "upstream"},

	// The example project: a user's program and the package paw gen go wrote.
	"examples/triage":       {"", "examples/triage/fuzzy"},
	"examples/triage/fuzzy": {"", "schema"},

	// The raw-model tools (completion, engine speed), apart from interp's
	// program API; like interp, they run on internal/llama.
	"internal/basemodel": {"internal/llama"},
	// Test helpers, apart so that the binary does not link package testing.
	"internal/fixture/fixturetest": {"gguf", "internal/fixture", "program"},
	"internal/browsertest":         {"internal/fsutil"},
	"discover/discovertest":        {},
}

// TestImportArrows checks every package's imports of other paw packages.
func TestImportArrows(t *testing.T) {
	const mod = "github.com/paw-dev/paw"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		ok, known := allowed[pkg]
		if !known && !strings.HasPrefix(pkg, "bench") {
			t.Errorf("package %q is not in the architecture's list; add its arrows here", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, isPaw := strings.CutPrefix(imp, mod+"/")
			if !isPaw {
				continue
			}
			if dep == "cmd/paw" {
				t.Errorf("%s imports the CLI", fields[0])
			}
			if dep == "internal/llama" && pkg != "interp" && pkg != "internal/basemodel" && pkg != "compile/lora" && pkg != "compile/mapper" {
				t.Errorf("%s imports internal/llama: only interp, internal/basemodel, compile/lora and compile/mapper may (the one cgo seam)", fields[0])
			}
			if ok != nil && !slices.Contains(ok, dep) {
				t.Errorf("%s imports %s, outside its arrows %v", fields[0], dep, ok)
			}
		}
	}
}

// TestBinaryWithoutTesting: the shipped binary does not link package testing
// (or its subpackages): test helpers live apart from the code cmd/paw uses.
func TestBinaryWithoutTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./cmd/paw").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if imp == "testing" || strings.HasPrefix(imp, "testing/") {
				t.Errorf("cmd/paw links %s through %s", imp, fields[0])
			}
		}
	}
}

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
	"":                 {"hub", "interp", "program", "schema"},
	"gguf":             {},
	"program":          {"gguf", "internal/fsutil"},
	"schema":           {},
	"api":              {},
	"hub":              {"api", "program", "internal/fsutil"},
	"compile":          {"program"},
	"compile/hosted":   {"api", "compile", "program"},
	"eval":             {"program", "schema"},
	"eval/report":      {"eval", "internal/fsutil"},
	"upstream":         {"api", "eval", "internal/fsutil"}, // upstream.Runner returns eval.Answer
	"internal/llama":   {},
	"internal/config":  {"internal/fsutil"},
	"internal/fsutil":  {},
	"internal/fixture": {"gguf", "internal/fsutil"},
	"interp":           {"gguf", "internal/fsutil", "internal/llama", "program", "schema"},
	"cmd/paw":          nil, // the CLI may import anything but is imported by nothing
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
			if dep == "internal/llama" && pkg != "interp" {
				t.Errorf("%s imports internal/llama: only interp may (the one cgo seam)", fields[0])
			}
			if ok != nil && !slices.Contains(ok, dep) {
				t.Errorf("%s imports %s, outside its arrows %v", fields[0], dep, ok)
			}
		}
	}
}

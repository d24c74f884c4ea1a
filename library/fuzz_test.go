package library

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no manifest panics the parser, and an accepted one has
// functions with valid, distinct names whose spec hash is defined.
func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "project", ManifestFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("functions:\n  - name: f\n    owner: me\n    spec: s\n    labels: [a, b]\n    gates: {min_accuracy: 0.5}\n"))
	f.Add([]byte("functions:\n  - &x {name: f, owner: me, spec: s}\n  - *x\n"))
	f.Add([]byte("functions:\n  - name: f\n    owner: me\n    spec: s\n    schema: {type: object, properties: {a: {type: string}}}\n"))
	f.Add([]byte("functions:\n  - name: f\n    owner: me\n    spec: s\n    compiler: local-mapper\n    mapper: paw-4b-gpt2\n    interpreter: gpt2\n"))
	path := filepath.Join("testdata", "project", ManifestFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, path)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, fn := range m.Functions {
			if !nameRE.MatchString(fn.Name) || seen[fn.Name] || fn.Spec == "" || fn.Owner == "" {
				t.Fatalf("accepted function %+v", fn)
			}
			seen[fn.Name] = true
			if SpecHash(fn) == "" {
				t.Fatal("empty spec hash")
			}
		}
	})
}

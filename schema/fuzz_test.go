package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzJSONSchema: arbitrary bytes as a schema never panic; a schema that
// compiles has a non-empty grammar that parses, and whose strings validate.
func FuzzJSONSchema(f *testing.F) {
	for _, s := range []string{`{}`, `true`, `{"type":"integer","minimum":-5,"maximum":123}`, `{"enum":[1,"a",null]}`,
		`{"$defs":{"n":{"type":"object","properties":{"k":{"type":"array","items":{"$ref":"#/$defs/n"}}}}},"$ref":"#/$defs/n"}`,
		`{"type":"string","pattern":"^[a-z]{2,4}$"}`, `{"type":["string","null"],"maxLength":3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := JSON(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) && !errors.Is(err, ErrUnsupportedSchema) && !errors.Is(err, ErrUnsatisfiable) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		checkGrammarStrings(t, c, "schema "+string(data))
	})
}

// FuzzRegex: arbitrary patterns never panic; a pattern that converts gives
// a grammar whose strings match it.
func FuzzRegex(f *testing.F) {
	for _, s := range propertyRegexes {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, re string) {
		c, err := Regex(re)
		if err != nil {
			if !errors.Is(err, ErrRegex) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		checkGrammarStrings(t, c, fmt.Sprintf("regex %q", re))
	})
}

// checkGrammarStrings checks that c compiles to a GBNF grammar that parses and
// that strings generated from it pass c's own validation.
func checkGrammarStrings(t *testing.T, c Contract, what string) {
	t.Helper()
	g, err := c.Grammar()
	if err != nil || g == "" {
		t.Fatalf("%s: grammar %q, %v", what, g, err)
	}
	pg, err := parseGBNF(g)
	if err != nil {
		t.Fatalf("%s: grammar does not parse: %v\n%s", what, err, g)
	}
	for i := range 3 {
		s := pg.generate(newRand(uint64(i)), 20)
		if err := c.Validate(s); err != nil {
			t.Fatalf("%s: grammar string %q fails: %v\n%s", what, s, err, g)
		}
	}
}

// TestFuzzSeedsCommitted keeps the committed corpus directories in place.
func TestFuzzSeedsCommitted(t *testing.T) {
	for _, name := range []string{"FuzzJSONSchema", "FuzzRegex"} {
		entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", name))
		if err != nil || len(entries) == 0 {
			t.Errorf("no committed seeds for %s: %v", name, err)
		}
	}
}

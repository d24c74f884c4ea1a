package schema

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomContract builds a random contract of each kind.
func randomLabels(r *rand.Rand) []string {
	pool := []string{"pos", "positive", "positively", "neg", "negative", "neutral", "very positive",
		"not sure", "spam", "ham", "yes", "no", "y", "n", `say "hi"`, `back\slash`, "naïve", "東京", "a|b", "x [y]", "-", "new\nline"}
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return pool[:2+r.IntN(6)]
}

var propertyRegexes = []string{
	`[A-Z]{2}-\d{3,5}`, `(yes|no)`, `\d+(\.\d+)?`, `^[a-z]+(-[a-z]+)*$`, `(?i)hello|bye`,
	`[^,\n]{1,8}(,[^,\n]{1,8}){0,3}`, `.{0,5}x`, `(a|b)*c?`, `(a*)*b`, `(x?y?)+z`, `[\p{Greek}]{2}`,
	`\w+@\w+\.com`, `[-+]?[0-9]{1,3}`, `"quoted"\\`, `\[\]\^\-`, `(?s).{2}`, `[^a-c]`, `\x{1F600}|\t`,
	`(ab|a)(c|bcd)`, `\A(0|[1-9][0-9]*)\z`, `a{2}b{0,}c{1,2}`,
}

// randomSchema returns a random JSON Schema (as a Go value).
func randomSchema(r *rand.Rand, depth int, defs map[string]any) map[string]any {
	kinds := []string{"string", "integer", "number", "boolean", "null", "enum", "pattern", "format", "typearray"}
	if depth > 0 {
		kinds = append(kinds, "object", "object", "array", "array", "anyOf", "ref")
	}
	switch kinds[r.IntN(len(kinds))] {
	case "string":
		s := map[string]any{"type": "string"}
		if r.IntN(2) == 0 {
			lo := r.IntN(4)
			s["minLength"] = lo
			s["maxLength"] = lo + r.IntN(6)
		}
		return s
	case "integer":
		s := map[string]any{"type": "integer"}
		lo := r.IntN(2000) - 1000
		switch r.IntN(4) {
		case 0:
			s["minimum"] = lo
			s["maximum"] = lo + r.IntN(1500)
		case 1:
			s["exclusiveMinimum"] = lo
		case 2:
			s["maximum"] = lo
		}
		return s
	case "number":
		s := map[string]any{"type": "number"}
		if r.IntN(2) == 0 {
			lo := float64(r.IntN(200)-100) / 4
			s["minimum"] = lo
			s["exclusiveMaximum"] = lo + 1 + float64(r.IntN(40))/3
		}
		return s
	case "boolean", "null":
		return map[string]any{"type": []string{"boolean", "null"}[r.IntN(2)]}
	case "enum":
		vals := []any{"a", "b c", "pos", "positive", 1, 2.5, -3, true, nil, map[string]any{"k": []any{1, "x"}}, []any{}, `q"uote`}
		r.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
		return map[string]any{"enum": vals[:1+r.IntN(5)]}
	case "pattern":
		pats := []string{`^[A-Z]{2}-\d{3,5}$`, `(yes|no)`, `\d+(\.\d+)?`, `[a-z"\\]{1,4}`, `.{1,3}`}
		return map[string]any{"type": "string", "pattern": pats[r.IntN(len(pats))]}
	case "format":
		fs := []string{"date", "date-time", "uuid", "email"}
		return map[string]any{"type": "string", "format": fs[r.IntN(len(fs))]}
	case "typearray":
		return map[string]any{"type": []string{"string", "null"}, "maxLength": 3}
	case "object":
		props := map[string]any{}
		var order, req []string
		for i := range 1 + r.IntN(4) {
			name := []string{"id", "name", "tags", "score", "a b", `q"k`, "é"}[i]
			props[name] = randomSchema(r, depth-1, defs)
			order = append(order, name)
			if r.IntN(2) == 0 {
				req = append(req, name)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(req) > 0 {
			s["required"] = req
		}
		return s
	case "array":
		s := map[string]any{"type": "array", "items": randomSchema(r, depth-1, defs)}
		if r.IntN(2) == 0 {
			lo := r.IntN(3)
			s["minItems"] = lo
			s["maxItems"] = lo + r.IntN(3)
		}
		return s
	case "anyOf":
		// disjoint branches by type, so oneOf is also exact
		key := []string{"anyOf", "oneOf"}[r.IntN(2)]
		return map[string]any{key: []any{
			map[string]any{"type": "integer", "minimum": 0, "maximum": 9},
			map[string]any{"type": "string", "maxLength": 2},
			map[string]any{"type": "array", "items": randomSchema(r, depth-1, defs), "maxItems": 2},
		}}
	case "ref":
		if r.IntN(2) == 0 {
			defs["node"] = map[string]any{"type": "object", "properties": map[string]any{
				"v":    map[string]any{"type": "integer", "minimum": 0, "maximum": 99},
				"kids": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/node"}, "maxItems": 2},
			}, "required": []string{"v"}, "additionalProperties": false}
			return map[string]any{"$ref": "#/$defs/node"}
		}
		name := fmt.Sprintf("d%d", len(defs))
		defs[name] = randomSchema(r, depth-1, defs)
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	panic("unreachable")
}

// checkSound generates strings from c's grammar and checks each validates.
func checkSound(t *testing.T, name string, c Contract, r *rand.Rand, n int) {
	t.Helper()
	text, err := c.Grammar()
	if err != nil {
		t.Fatalf("%s: Grammar: %v", name, err)
	}
	g, err := parseGBNF(text)
	if err != nil {
		t.Fatalf("%s: grammar does not parse: %v\n%s", name, err, text)
	}
	e := g.earley()
	for i := range n {
		s := g.generate(r, 30+i*5)
		if err := c.Validate(s); err != nil {
			t.Errorf("%s: grammar string %q fails Validate: %v\ngrammar:\n%s", name, s, err, text)
			return
		}
		if i%4 == 0 && !e.accepts(s) {
			t.Errorf("%s: recognizer rejects generated %q", name, s)
		}
	}
}

func TestPropertyLabels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 200 {
		labels := randomLabels(r)
		c, err := Labels(labels...)
		if err != nil {
			t.Fatal(err)
		}
		checkSound(t, fmt.Sprintf("labels %q", labels), c, r, 20)
		g, _ := c.Grammar()
		pg, _ := parseGBNF(g)
		e := pg.earley()
		for _, l := range labels {
			if !e.accepts(l) {
				t.Errorf("labels %q: grammar rejects %q", labels, l)
			}
		}
		if e.accepts(labels[0]+labels[1]) && c.Validate(labels[0]+labels[1]) != nil {
			t.Errorf("labels %q: grammar accepts a concatenation", labels)
		}
		_ = i
	}
}

func TestPropertyRegex(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, re := range propertyRegexes {
		c, err := Regex(re)
		if err != nil {
			t.Fatalf("Regex(%q): %v", re, err)
		}
		checkSound(t, "regex "+re, c, r, 200)
	}
}

func TestPropertyJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	compiled := 0
	for i := range 400 {
		defs := map[string]any{}
		s := randomSchema(r, 3, defs)
		if len(defs) > 0 {
			s["$defs"] = defs
		}
		data, _ := json.Marshal(s)
		c, err := JSON(data)
		if err != nil {
			t.Fatalf("schema %d %s: %v", i, data, err)
		}
		compiled++
		checkSound(t, fmt.Sprintf("schema %d %s", i, data), c, r, 25)
	}
	t.Logf("%d random schemas checked", compiled)
}

// TestGrammarAcceptsExamples checks completeness on known-valid outputs.
func TestGrammarAcceptsExamples(t *testing.T) {
	cases := []struct {
		name  string
		c     func() (Contract, error)
		valid []string
	}{
		{"labels prefixes", func() (Contract, error) { return Labels("pos", "positive", "positively", "very positive") },
			[]string{"pos", "positive", "positively", "very positive"}},
		{"code", func() (Contract, error) { return Regex(`[A-Z]{2}-\d{3,5}`) }, []string{"AB-123", "ZZ-99999"}},
		{"decimal", func() (Contract, error) { return Regex(`\d+(\.\d+)?`) }, []string{"0", "12.5", "007.000"}},
		{"nullable star", func() (Contract, error) { return Regex(`(x?y?)+z`) }, []string{"z", "xz", "yxyz", "xxyyz"}},
		{"object", func() (Contract, error) {
			return JSON([]byte(`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3},"email":{"type":"string","format":"email"}},"required":["name"],"additionalProperties":false}`))
		}, []string{`{"name":"Ann"}`, `{"name":"Bo \"B\" \\ é","age":150}`, `{"name":"","age":0,"tags":["a","b","a"]}`, `{"name":"x","tags":[],"email":"a1@b.co"}`}},
		{"optional only", func() (Contract, error) {
			return JSON([]byte(`{"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"type":"number"}}}`))
		}, []string{`{}`, `{"a":true}`, `{"b":null}`, `{"c":-0.5}`, `{"a":false,"c":3}`, `{"a":true,"b":null,"c":12.25}`}},
		{"int range", func() (Contract, error) { return JSON([]byte(`{"type":"integer","minimum":-105,"maximum":1234}`)) },
			[]string{"-105", "-99", "-1", "0", "9", "10", "999", "1000", "1234", "1199"}},
		{"number range", func() (Contract, error) { return JSON([]byte(`{"type":"number","exclusiveMinimum":-2,"maximum":3}`)) },
			[]string{"-1", "-1.5", "-0.25", "0", "2.75", "3"}},
		{"recursive", func() (Contract, error) {
			return JSON([]byte(`{"$ref":"#/$defs/t","$defs":{"t":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/t"}}},"required":["v"],"additionalProperties":false}}}`))
		}, []string{`{"v":1}`, `{"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]}`}},
		{"formats", func() (Contract, error) {
			return JSON([]byte(`{"type":"array","items":{"anyOf":[{"type":"string","format":"date"},{"type":"string","format":"date-time"},{"type":"string","format":"uuid"}]}}`))
		}, []string{`["2024-02-28","2023-12-31T23:59:59.5+01:00","123e4567-e89b-12d3-a456-426614174000"]`}},
		{"any", func() (Contract, error) { return JSON([]byte(`{}`)) }, []string{`{"a":[1,2,{"b":null}]}`, `"x"`, `-3.25`}},
		{"pattern", func() (Contract, error) { return JSON([]byte(`{"type":"string","pattern":"^a\"b\\\\c$"}`)) }, []string{`"a\"b\\c"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.c()
			if err != nil {
				t.Fatal(err)
			}
			text, _ := c.Grammar()
			g, err := parseGBNF(text)
			if err != nil {
				t.Fatal(err)
			}
			e := g.earley()
			for _, v := range tc.valid {
				if err := c.Validate(v); err != nil {
					t.Errorf("example %q is not valid: %v", v, err)
				}
				if !e.accepts(v) {
					t.Errorf("grammar rejects valid %q\n%s", v, text)
				}
			}
			if strings.Contains(text, "  ") {
				t.Logf("grammar:\n%s", text)
			}
		})
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

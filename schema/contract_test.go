package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGrammar(t *testing.T) {
	cases := []struct {
		name string
		c    func() (Contract, error)
		want string
	}{
		{"text", func() (Contract, error) { return Text(), nil }, ""},
		{"zero value", func() (Contract, error) { return Contract{}, nil }, ""},
		{"labels", func() (Contract, error) { return Labels("pos", "positive", `say "hi"`, "東") },
			`root ::= "pos" | "positive" | "say \"hi\"" | "\u6771"` + "\n"},
		{"label escapes", func() (Contract, error) { return Labels("a\\b", "new\nline", "tab\t") },
			`root ::= "a\\b" | "new\nline" | "tab\t"` + "\n"},
		{"regex", func() (Contract, error) { return Regex(`^[A-Z]{2}-\d{3,5}$`) },
			`root ::= [A-Z]{2} "-" [0-9]{3,5}` + "\n"},
		{"regex class escapes", func() (Contract, error) { return Regex(`[\]\-^\\]+|.`) },
			`root ::= [\x2D\x5C-\x5E]+ | [\x00-\t\x0B-\uD7FF\uE000-\U0010FFFF]` + "\n"},
		{"regex nullable star", func() (Contract, error) { return Regex(`(a*)*`) }, `root ::= ("a"+)*` + "\n"},
		{"integer range", func() (Contract, error) { return JSON([]byte(`{"type":"integer","minimum":3,"maximum":42}`)) },
			`root ::= [3-9] | [1-3] [0-9]{1} | "4" [0-2]` + "\n"},
		{"enum", func() (Contract, error) { return JSON([]byte(`{"enum":["a",1,null,{"k":[true]}]}`)) },
			`root ::= "\"a\"" | "1" | "null" | "{\"k\":[true]}"` + "\n"},
		{"object", func() (Contract, error) {
			return JSON([]byte(`{"type":"object","properties":{"b":{"type":"boolean"},"n":{"type":"null"}},"required":["n"],"additionalProperties":false}`))
		}, "root ::= \"{\" kv-n (\",\" kv-b)? \"}\"\nkv-b ::= \"\\\"b\\\":\" (\"true\" | \"false\")\nkv-n ::= \"\\\"n\\\":\" \"null\"\n"},
		{"array", func() (Contract, error) {
			return JSON([]byte(`{"type":"array","items":{"type":"null"},"minItems":1,"maxItems":3}`))
		}, "root ::= \"[\" item (\",\" item){0,2} \"]\"\nitem ::= \"null\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.c()
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Grammar()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("grammar (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	labels, _ := Labels("pos", "positive")
	re, _ := Regex(`[A-Z]{2}-\d{3,5}`)
	obj, err := JSON([]byte(`{"type":"object","properties":{"name":{"type":"string","maxLength":5},"n":{"type":"integer","minimum":1},"at":{"type":"string","format":"date"}},"required":["name"],"additionalProperties":false}`))
	if err != nil {
		t.Fatal(err)
	}
	one, err := JSON([]byte(`{"oneOf":[{"type":"integer"},{"type":"number","minimum":0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		c      Contract
		output string
		ok     bool
	}{
		{"text anything", Text(), "whatever\n", true},
		{"label", labels, "pos", true},
		{"label longer", labels, "positive", true},
		{"label prefix", labels, "posit", false},
		{"label spaces", labels, " pos", false},
		{"regex", re, "AB-1234", true},
		{"regex partial", re, "AB-12", false},
		{"regex suffix", re, "AB-123x", false},
		{"json", obj, `{"name":"Ann","n":3,"at":"2024-02-29"}`, true},
		{"json whitespace", obj, ` { "name" : "Ann" } `, true},
		{"json missing required", obj, `{"n":3}`, false},
		{"json extra member", obj, `{"name":"A","x":1}`, false},
		{"json too long", obj, `{"name":"Annabel"}`, false},
		{"json below minimum", obj, `{"name":"A","n":0}`, false},
		{"json bad date", obj, `{"name":"A","at":"2023-02-29"}`, false},
		{"json not json", obj, `{"name":`, false},
		{"json trailing", obj, `{"name":"A"} x`, false},
		{"oneOf exactly one", one, `1.5`, true},
		{"oneOf two match", one, `2`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate(tc.output)
			if tc.ok && err != nil {
				t.Errorf("Validate(%q) = %v, want nil", tc.output, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidOutput) {
				t.Errorf("Validate(%q) = %v, want ErrInvalidOutput", tc.output, err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name    string
		c       func() (Contract, error)
		want    error
		mention string
	}{
		{"no labels", func() (Contract, error) { return Labels() }, ErrEmptyLabels, "empty label set"},
		{"empty label", func() (Contract, error) { return Labels("a", "") }, ErrLabel, "label 1 is empty"},
		{"duplicate label", func() (Contract, error) { return Labels("a", "b", "a") }, ErrLabel, `"a" appears twice`},
		{"bad utf8 label", func() (Contract, error) { return Labels("a", "\xff") }, ErrLabel, "UTF-8"},
		{"backreference", func() (Contract, error) { return Regex(`(a)\1`) }, ErrRegex, "backreferences"},
		{"lookahead", func() (Contract, error) { return Regex(`a(?=b)`) }, ErrRegex, "lookahead"},
		{"lookbehind", func() (Contract, error) { return Regex(`(?<!a)b`) }, ErrRegex, "lookbehind"},
		{"word boundary", func() (Contract, error) { return Regex(`\bword\b`) }, ErrRegex, `\b`},
		{"multiline", func() (Contract, error) { return Regex(`(?m)^a$`) }, ErrRegex, "multiline"},
		{"mid anchor", func() (Contract, error) { return Regex(`a^b`) }, ErrRegex, "start of the pattern"},
		{"no match", func() (Contract, error) { return Regex(`[^\x00-\x{10FFFF}]`) }, ErrRegex, "matches no string"},
		{"bad json", func() (Contract, error) { return JSON([]byte(`{"type":`)) }, ErrInvalidSchema, ""},
		{"bad type", func() (Contract, error) { return JSON([]byte(`{"type":"thing"}`)) }, ErrInvalidSchema, "/type"},
		{"items order", func() (Contract, error) { return JSON([]byte(`{"type":"array","minItems":3,"maxItems":2}`)) }, ErrUnsatisfiable, "minItems 3 > maxItems 2"},
		{"empty enum", func() (Contract, error) { return JSON([]byte(`{"properties":{"a":{"enum":[]}},"required":["a"]}`)) }, ErrUnsatisfiable, "/properties/a/enum"},
		{"enum vs type", func() (Contract, error) { return JSON([]byte(`{"type":"string","enum":[1,2]}`)) }, ErrUnsatisfiable, "/enum"},
		{"required missing", func() (Contract, error) {
			return JSON([]byte(`{"type":"object","properties":{},"required":["x"],"additionalProperties":false}`))
		}, ErrUnsatisfiable, `/required/0: required property "x"`},
		{"min > max", func() (Contract, error) {
			return JSON([]byte(`{"type":"object","properties":{"n":{"type":"integer","minimum":5,"maximum":4}},"required":["n"]}`))
		}, ErrUnsatisfiable, "/properties/n"},
		{"exclusive equal", func() (Contract, error) { return JSON([]byte(`{"type":"number","minimum":1,"exclusiveMaximum":1}`)) }, ErrUnsatisfiable, "no number"},
		{"false", func() (Contract, error) { return JSON([]byte(`false`)) }, ErrUnsatisfiable, "schema is false"},
		{"endless recursion", func() (Contract, error) {
			return JSON([]byte(`{"$defs":{"n":{"type":"object","properties":{"n":{"$ref":"#/$defs/n"}},"required":["n"]}},"$ref":"#/$defs/n"}`))
		}, ErrUnsatisfiable, "no finite"},
		{"allOf", func() (Contract, error) { return JSON([]byte(`{"allOf":[{"type":"string"}]}`)) }, ErrUnsupportedSchema, "/allOf"},
		{"nested unsupported", func() (Contract, error) {
			return JSON([]byte(`{"type":"object","properties":{"a b":{"type":"integer","multipleOf":2}}}`))
		}, ErrUnsupportedSchema, "/properties/a b/multipleOf"},
		{"format", func() (Contract, error) { return JSON([]byte(`{"type":"string","format":"ipv4"}`)) }, ErrUnsupportedSchema, `"ipv4"`},
		{"remote ref", func() (Contract, error) { return JSON([]byte(`{"$ref":"https://example.com/s.json"}`)) }, ErrUnsupportedSchema, "only local"},
		{"file ref", func() (Contract, error) { return JSON([]byte(`{"$ref":"file:///etc/passwd"}`)) }, ErrUnsupportedSchema, "only local"},
		{"pattern lookahead", func() (Contract, error) { return JSON([]byte(`{"type":"string","pattern":"(?=a)"}`)) }, ErrRegex, "/pattern"},
		{"left recursion", func() (Contract, error) {
			return JSON([]byte(`{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}},"$ref":"#/$defs/a"}`))
		}, ErrUnsupportedSchema, "$ref cycle"},
		{"draft 4", func() (Contract, error) { return JSON([]byte(`{"$schema":"http://json-schema.org/draft-04/schema#"}`)) }, ErrUnsupportedSchema, "/$schema"},
		{"huge min", func() (Contract, error) { return JSON([]byte(`{"type":"integer","minimum":1e300}`)) }, ErrUnsupportedSchema, "15 digits"},
		{"kind", func() (Contract, error) { return Contract{Kind: "xml"}, Contract{Kind: "xml"}.Validate("x") }, ErrKind, "xml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) || !strings.HasPrefix(err.Error(), "schema") {
				t.Errorf("err = %q, want it to mention %q", err, tc.mention)
			}
		})
	}
}

// TestContractRoundTrip checks that a Contract decoded from JSON compiles
// on demand and behaves like the original.
func TestContractRoundTrip(t *testing.T) {
	orig, err := JSON([]byte(`{"type":"object","properties":{"a":{"enum":["x","y"]}},"required":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	var back Contract
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	g1, _ := orig.Grammar()
	g2, err := back.Grammar()
	if err != nil || g1 != g2 {
		t.Errorf("decoded grammar %q, %v; want %q", g2, err, g1)
	}
	if err := back.Validate(`{"a":"z"}`); !errors.Is(err, ErrInvalidOutput) {
		t.Errorf("decoded Validate = %v", err)
	}
}

func TestProposeLabels(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"Classify the review. Return ONLY one of: a, b, c", []string{"a", "b", "c"}},
		{"Respond with exactly one of the following: positive, negative or neutral.", []string{"positive", "negative", "neutral"}},
		{`Output one of ["spam", "ham"]`, []string{"spam", "ham"}},
		{`Answer with one of "yes", "no" or "maybe".`, []string{"yes", "no", "maybe"}},
		{"Return one of the following labels:\n- billing\n- tech support\n- other\n\nNothing else.", []string{"billing", "tech support", "other"}},
		{"Pick one of: red, green, and blue\nDo not explain.", []string{"red", "green", "blue"}},
		{"Choose from: cat, dog", []string{"cat", "dog"}},
		{"Return one of: a, b. Again: return exactly one of a, b", []string{"a", "b"}},
		// Unsure: no proposal.
		{"Summarize the text in one sentence.", nil},
		{"Return one of the categories listed above.", nil},
		{"Return one of: positive, negative, etc.", nil},
		{"Return one of: a, b. Later: one of: c, d", nil},
		{"This is one of the best products I have ever used, truly amazing", nil},
		{"Return one of: yes", nil},
		{"Return one of: a, a", nil},
	}
	for _, tc := range cases {
		got, ok := ProposeLabels(tc.text)
		if ok != (tc.want != nil) || !cmp.Equal(got, tc.want) {
			t.Errorf("ProposeLabels(%q) = %q, %v; want %q", tc.text, got, ok, tc.want)
		}
	}
}

type review struct {
	Sentiment string   `json:"sentiment" jsonschema:"enum=positive,enum=negative"`
	Score     int      `json:"score" jsonschema:"minimum=1,maximum=5"`
	Topics    []string `json:"topics,omitempty"`
	Reply     *reply   `json:"reply,omitempty"`
}

type reply struct {
	Text string `json:"text"`
}

func TestFromGoType(t *testing.T) {
	data, err := FromGoType(review{})
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Required             []string `json:"required"`
			AdditionalProperties *bool    `json:"additionalProperties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	r := s.Defs["review"]
	if !cmp.Equal(r.Required, []string{"sentiment", "score"}) || r.AdditionalProperties == nil || *r.AdditionalProperties {
		t.Errorf("review schema: required %q, additionalProperties %v\n%s", r.Required, r.AdditionalProperties, data)
	}
	c, err := JSON(data)
	if err != nil {
		t.Fatal(err)
	}
	for out, ok := range map[string]bool{
		`{"sentiment":"positive","score":5}`:                                       true,
		`{"sentiment":"negative","score":1,"topics":["a"],"reply":{"text":"thx"}}`: true,
		`{"sentiment":"meh","score":3}`:                                            false,
		`{"sentiment":"positive"}`:                                                 false,
		`{"sentiment":"positive","score":2,"extra":1}`:                             false,
	} {
		if err := c.Validate(out); (err == nil) != ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", out, err, ok)
		}
	}
	checkSoundQuick(t, c)
}

func checkSoundQuick(t *testing.T, c Contract) {
	t.Helper()
	text, _ := c.Grammar()
	g, err := parseGBNF(text)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		s := g.generate(newRand(uint64(i)), 40)
		if err := c.Validate(s); err != nil {
			t.Errorf("grammar string %q: %v", s, err)
		}
	}
}

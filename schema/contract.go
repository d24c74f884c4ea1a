package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Kind names the shape of a contract's output.
type Kind string

// The contract kinds.
const (
	KindText   Kind = "text"   // free text: no grammar, every output is valid
	KindLabels Kind = "labels" // exactly one of Contract.Labels
	KindJSON   Kind = "json"   // JSON valid against Contract.Schema
	KindRegex  Kind = "regex"  // text that Contract.Regex matches as a whole
)

// Errors. Each is wrapped with the detail (and, for schemas, the JSON
// pointer of the offending keyword); test with errors.Is.
var (
	ErrEmptyLabels       = errors.New("schema: empty label set")
	ErrLabel             = errors.New("schema: invalid label")
	ErrInvalidSchema     = errors.New("schema: invalid JSON Schema")
	ErrUnsupportedSchema = errors.New("schema: unsupported JSON Schema")
	ErrUnsatisfiable     = errors.New("schema: unsatisfiable JSON Schema")
	ErrRegex             = errors.New("schema: unsupported regular expression")
	ErrKind              = errors.New("schema: unknown contract kind")
	ErrInvalidOutput     = errors.New("schema: invalid output")
)

// Contract is a function's output contract. Build it with Labels, JSON or
// Regex (which check it); the zero value is free text. A Contract decoded
// from JSON is checked on its first Grammar or Validate call.
type Contract struct {
	Kind   Kind            `json:"kind"`
	Labels []string        `json:"labels,omitempty"`
	Schema json.RawMessage `json:"schema,omitempty"` // JSON Schema
	Regex  string          `json:"regex,omitempty"`

	c *compiled // set by the constructors; nil means compile on demand
}

// compiled is a checked contract: its grammar and its validator.
type compiled struct {
	grammar string
	re      *regexp.Regexp     // KindRegex: the pattern anchored at both ends
	schema  *jsonschema.Schema // KindJSON
}

// Text is the free-text contract.
func Text() Contract { return Contract{Kind: KindText} }

// Labels is the contract "exactly one of labels". Labels must be non-empty,
// valid UTF-8 and distinct; their order is kept.
func Labels(labels ...string) (Contract, error) {
	c := Contract{Kind: KindLabels, Labels: slices.Clone(labels)}
	comp, err := c.compile()
	if err != nil {
		return Contract{}, err
	}
	c.c = comp
	return c, nil
}

// JSON is the contract "JSON valid against schema"; see the package's
// jsonschema.go documentation (compileSchema) for the supported subset.
// The schema is checked and compiled now: ErrInvalidSchema for malformed
// schemas, ErrUnsupportedSchema for keywords the grammar cannot honour,
// ErrUnsatisfiable for schemas no value satisfies, each naming the JSON
// pointer of the problem.
func JSON(schema []byte) (Contract, error) {
	c := Contract{Kind: KindJSON, Schema: json.RawMessage(slices.Clone(schema))}
	comp, err := c.compile()
	if err != nil {
		return Contract{}, err
	}
	c.c = comp
	return c, nil
}

// Regex is the contract "the whole output matches re". re uses Go's RE2
// syntax (regexp/syntax with Perl flags); ^ and $ (or \A, \z) are allowed
// only at the ends. Word boundaries, multiline anchors and what RE2 lacks
// (backreferences, lookaround, possessive quantifiers) give ErrRegex,
// naming the construct.
func Regex(re string) (Contract, error) {
	c := Contract{Kind: KindRegex, Regex: re}
	comp, err := c.compile()
	if err != nil {
		return Contract{}, err
	}
	c.c = comp
	return c, nil
}

// Grammar returns the contract's GBNF grammar, whose start rule is "root";
// it is "" for free text.
func (c Contract) Grammar() (string, error) {
	comp, err := c.compiled()
	if err != nil {
		return "", err
	}
	return comp.grammar, nil
}

// Validate checks a complete output against the contract. It returns nil or
// an error wrapping ErrInvalidOutput that says why. JSON outputs are
// validated against the full JSON Schema (including what the grammar only
// approximates).
func (c Contract) Validate(output string) error {
	comp, err := c.compiled()
	if err != nil {
		return err
	}
	if c.kind() != KindText && !utf8.ValidString(output) {
		// llama.cpp's grammar decoder tolerates some invalid UTF-8 (overlong
		// forms) that no grammar can exclude; such outputs are never valid.
		return fmt.Errorf("%w: not valid UTF-8: %q", ErrInvalidOutput, clip(output))
	}
	switch c.kind() {
	case KindText:
		return nil
	case KindLabels:
		if slices.Contains(c.Labels, output) {
			return nil
		}
		return fmt.Errorf("%w: %q is not one of the labels %q", ErrInvalidOutput, clip(output), c.Labels)
	case KindRegex:
		if comp.re.MatchString(output) {
			return nil
		}
		return fmt.Errorf("%w: %q does not match %q", ErrInvalidOutput, clip(output), c.Regex)
	case KindJSON:
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(output))
		if err != nil {
			return fmt.Errorf("%w: not JSON: %v", ErrInvalidOutput, err)
		}
		if err := comp.schema.Validate(v); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidOutput, err)
		}
		return nil
	}
	return fmt.Errorf("%w: %q", ErrKind, c.Kind)
}

func (c Contract) kind() Kind {
	if c.Kind == "" {
		return KindText
	}
	return c.Kind
}

func (c Contract) compiled() (*compiled, error) {
	if c.c != nil {
		return c.c, nil
	}
	return c.compile()
}

func (c Contract) compile() (*compiled, error) {
	switch c.kind() {
	case KindText:
		return &compiled{}, nil
	case KindLabels:
		return compileLabels(c.Labels)
	case KindRegex:
		return compileRegex(c.Regex)
	case KindJSON:
		return compileJSON(c.Schema)
	}
	return nil, fmt.Errorf("%w: %q (want text, labels, json or regex)", ErrKind, c.Kind)
}

func compileLabels(labels []string) (*compiled, error) {
	if len(labels) == 0 {
		return nil, ErrEmptyLabels
	}
	seen := map[string]bool{}
	g := newGrammar()
	var body alt
	for i, l := range labels {
		switch {
		case l == "":
			return nil, fmt.Errorf("%w: label %d is empty", ErrLabel, i)
		case !utf8.ValidString(l):
			return nil, fmt.Errorf("%w: label %d (%q) is not valid UTF-8", ErrLabel, i, l)
		case seen[l]:
			return nil, fmt.Errorf("%w: label %q appears twice", ErrLabel, l)
		}
		seen[l] = true
		body = append(body, lit(l))
	}
	g.define("root", body)
	return &compiled{grammar: g.String()}, nil
}

func compileRegex(pattern string) (*compiled, error) {
	x, err := regexExpr(pattern, reRaw)
	if err != nil {
		return nil, err
	}
	g := newGrammar()
	g.define("root", x)
	if !g.prune() {
		return nil, fmt.Errorf("%w: %q matches no string", ErrRegex, pattern)
	}
	if bad := g.leftRecursive(); bad != "" {
		return nil, fmt.Errorf("%w: %q: internal left recursion at %s", ErrRegex, pattern, bad)
	}
	text := g.String()
	if len(text) > maxGrammarLen {
		return nil, fmt.Errorf("%w: %q: grammar of %d bytes is too large", ErrRegex, pattern, len(text))
	}
	re, err := regexp.Compile(`\A(?:` + pattern + `)\z`)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRegex, err)
	}
	return &compiled{grammar: text, re: re}, nil
}

// clip shortens long outputs in error messages.
func clip(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

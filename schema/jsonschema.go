package schema

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The JSON Schema subset compiled to grammars (drafts 2020-12, 2019-09 and
// 7; no "$schema" means 2020-12):
//
//   - true, {} and absent "items": any JSON value.
//   - "type": null, boolean, string, integer, number, object, array, or an
//     array of them (alternation). Without "type", the types whose keywords
//     appear are generated.
//   - "enum" and "const" with any JSON values: the grammar lists the values
//     that also satisfy the schema's other keywords (checked by the
//     validator), so any sibling keyword is honoured exactly.
//   - objects: "properties", "required", "additionalProperties". Members are
//     generated in the order of "properties": the required ones always, then
//     each optional one or not, so the grammar is a simple sequence with no
//     duplicate keys. Undeclared members are never generated, whatever
//     "additionalProperties" says (true, a schema or absent are accepted by
//     Validate, but the grammar behaves as if it were false). A required
//     property missing from "properties" is unsatisfiable when
//     additionalProperties is false and unsupported otherwise.
//   - arrays: "items" (one schema), "minItems", "maxItems" (at most 2000).
//   - strings: "minLength"/"maxLength" (at most 2000, in code points; escapes
//     are limited to \" \\ \/ \b \f \n \r \t so each counts one), or
//     "pattern" (anchored at both ends: a sound narrowing of JSON Schema's
//     unanchored match, converted as in Regex), or "format" date, date-time
//     (no leap seconds or Feb 29), uuid (lower case) or email (a plain
//     letters-and-digits subset). Formats are asserted by Validate.
//   - integers: "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"
//     exactly, with a digit-level grammar; at most 15 digits are generated.
//   - numbers: the same bounds; generated numbers are the integers in range
//     and decimals strictly between two in-range integers, with no exponent
//     and at most 15 integer and fraction digits.
//   - "anyOf" and "oneOf" (without sibling keywords) as alternation;
//     oneOf's "exactly one" is checked by Validate only, so overlapping
//     oneOf branches can yield grammar strings that Validate rejects.
//   - "$ref" to a local JSON pointer ("#", "#/$defs/x", "#/definitions/x"),
//     recursive or not, without sibling keywords.
//   - annotations are ignored ("title", "description", "default", ...).
//
// Everything else that constrains values (allOf, not, if/then/else,
// patternProperties, propertyNames, min/maxProperties, prefixItems,
// contains, uniqueItems true, multipleOf, other formats, remote or
// dynamic references, nested $id) gives ErrUnsupportedSchema.

// Keywords that constrain values but are not compiled.
var unsupportedKeywords = []string{
	"allOf", "not", "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies",
	"prefixItems", "additionalItems", "contains", "minContains", "maxContains", "unevaluatedItems",
	"unevaluatedProperties", "patternProperties", "propertyNames", "minProperties", "maxProperties",
	"multipleOf", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$anchor", "$vocabulary",
}

// Keywords by the type they constrain (for type inference and siblings).
var typeKeywords = map[string][]string{
	"string": {"minLength", "maxLength", "pattern", "format"},
	"number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
	"object": {"properties", "required", "additionalProperties"},
	"array":  {"items", "minItems", "maxItems"},
}

var knownDrafts = []string{
	"https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2019-09/schema",
	"http://json-schema.org/draft-07/schema", "http://json-schema.org/draft-07/schema#",
}

const (
	maxSchemaDepth = 64
	maxSchemaNodes = 10000
	resourceURL    = "urn:paw:schema"
)

func compileJSON(data []byte) (*compiled, error) {
	root, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	jc := &jsonCompiler{root: root, g: newGrammar(), refs: map[string]string{"": "root"}, data: data}
	if err := jc.checkRoot(); err != nil {
		return nil, err
	}
	x, err := jc.schema(root, "", 0)
	if err != nil {
		return nil, err
	}
	g := jc.g
	g.define("root", x)
	if !g.prune() {
		return nil, fmt.Errorf("%w: no finite JSON value satisfies the schema (recursion without a base case?)", ErrUnsatisfiable)
	}
	if bad := g.leftRecursive(); bad != "" {
		return nil, fmt.Errorf("%w: $ref cycle that consumes no input (rule %s)", ErrUnsupportedSchema, bad)
	}
	text := g.String()
	if len(text) > maxGrammarLen {
		return nil, fmt.Errorf("%w: grammar of %d bytes is too large", ErrUnsupportedSchema, len(text))
	}
	sch, err := jc.validator("")
	if err != nil {
		return nil, err
	}
	return &compiled{grammar: text, schema: sch}, nil
}

type jsonCompiler struct {
	root        *jnode
	data        []byte
	g           *grammar
	refs        map[string]string // JSON pointer → rule name
	sharedRules map[string]ref    // shared rules (value, string, char, ...)
	nodes       int
	lib         *jsonschema.Compiler
}

func (jc *jsonCompiler) checkRoot() error {
	if jc.root.kind != 'o' {
		return nil
	}
	if s := jc.root.get("$schema"); s != nil && (s.kind != 's' || !slices.Contains(knownDrafts, s.str)) {
		return fmt.Errorf("%w: /$schema: %s (want draft 2020-12, 2019-09 or 7)", ErrUnsupportedSchema, s.compact())
	}
	return nil
}

// validator compiles the (sub)schema at ptr with the validation library.
func (jc *jsonCompiler) validator(ptr string) (*jsonschema.Schema, error) {
	if jc.lib == nil {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(jc.data)))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
		}
		c := jsonschema.NewCompiler()
		c.UseLoader(jsonschema.SchemeURLLoader{}) // no files, no network
		c.AssertFormat()
		if err := c.AddResource(resourceURL, doc); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
		}
		jc.lib = c
	}
	var frag strings.Builder
	for _, tok := range strings.Split(ptr, "/")[1:] {
		frag.WriteString("/" + url.PathEscape(tok))
	}
	sch, err := jc.lib.Compile(resourceURL + "#" + frag.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	return sch, nil
}

func errAt(sentinel error, ptr, format string, args ...any) error {
	if ptr == "" {
		ptr = "/"
	}
	return fmt.Errorf("%w: %s: %s", sentinel, ptr, fmt.Sprintf(format, args...))
}

// schema compiles the schema node n found at JSON pointer ptr.
func (jc *jsonCompiler) schema(n *jnode, ptr string, depth int) (expr, error) {
	jc.nodes++
	if depth > maxSchemaDepth || jc.nodes > maxSchemaNodes {
		return nil, errAt(ErrUnsupportedSchema, ptr, "schema too deep or too large")
	}
	switch n.kind {
	case 'b':
		if n.b {
			return jc.anyValue(), nil
		}
		return nil, errAt(ErrUnsatisfiable, ptr, "schema is false")
	case 'o':
	default:
		return nil, errAt(ErrInvalidSchema, ptr, "a schema must be an object or a boolean, not %s", n.kindName())
	}
	if n.get("enum") != nil || n.get("const") != nil {
		return jc.enum(n, ptr)
	}
	for _, k := range unsupportedKeywords {
		if n.get(k) != nil {
			return nil, errAt(ErrUnsupportedSchema, ptr+"/"+escapeToken(k), "keyword %s is not supported", k)
		}
	}
	if id := n.get("$id"); id != nil && ptr != "" {
		return nil, errAt(ErrUnsupportedSchema, ptr+"/$id", "nested $id is not supported")
	}
	if u := n.get("uniqueItems"); u != nil && !(u.kind == 'b' && !u.b) {
		return nil, errAt(ErrUnsupportedSchema, ptr+"/uniqueItems", "uniqueItems true is not supported")
	}
	constraints := jc.constraints(n)
	if n.get("$ref") != nil {
		if len(constraints) > 1 {
			return nil, errAt(ErrUnsupportedSchema, ptr+"/$ref", "$ref with sibling keywords %q is not supported", constraints)
		}
		return jc.ref(n.get("$ref"), ptr, depth)
	}
	if n.get("anyOf") != nil || n.get("oneOf") != nil {
		return jc.anyOf(n, ptr, depth, constraints)
	}
	types, err := jc.types(n, ptr, constraints)
	if err != nil {
		return nil, err
	}
	if types == nil {
		return jc.anyValue(), nil
	}
	return satisfiable(len(types), func(i int) (expr, error) { return jc.typed(n, ptr, types[i], depth) })
}

// satisfiable compiles n alternatives with f and keeps those that can match
// something: an unsatisfiable one is dropped, and when none is left the first
// such error is returned (nil, nil for n == 0).
func satisfiable(n int, f func(i int) (expr, error)) (alt, error) {
	var out alt
	var firstErr error
	for i := range n {
		x, err := f(i)
		if errors.Is(err, ErrUnsatisfiable) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, firstErr
	}
	return out, nil
}

// constraints lists the keywords of n that constrain values.
func (jc *jsonCompiler) constraints(n *jnode) []string {
	var out []string
	for _, k := range n.keys {
		switch k {
		case "type", "enum", "const", "$ref", "anyOf", "oneOf":
			out = append(out, k)
		default:
			for _, kws := range typeKeywords {
				if slices.Contains(kws, k) {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

// types returns the types to generate, or nil for any value.
func (jc *jsonCompiler) types(n *jnode, ptr string, constraints []string) ([]string, error) {
	valid := []string{"null", "boolean", "object", "array", "number", "string", "integer"}
	t := n.get("type")
	if t == nil {
		var out []string
		for _, typ := range []string{"object", "array", "string", "number"} {
			if slices.ContainsFunc(typeKeywords[typ], func(k string) bool { return n.get(k) != nil }) {
				out = append(out, typ)
			}
		}
		return out, nil
	}
	var list []*jnode
	switch t.kind {
	case 's':
		list = []*jnode{t}
	case 'a':
		list = t.vals
	default:
		return nil, errAt(ErrInvalidSchema, ptr+"/type", "want a string or an array of strings")
	}
	var out []string
	for _, e := range list {
		if e.kind != 's' || !slices.Contains(valid, e.str) {
			return nil, errAt(ErrInvalidSchema, ptr+"/type", "unknown type %s", e.compact())
		}
		if !slices.Contains(out, e.str) {
			out = append(out, e.str)
		}
	}
	if len(out) == 0 {
		return nil, errAt(ErrUnsatisfiable, ptr+"/type", "empty type list")
	}
	return out, nil
}

func (jc *jsonCompiler) typed(n *jnode, ptr, t string, depth int) (expr, error) {
	switch t {
	case "null":
		return lit("null"), nil
	case "boolean":
		return alt{lit("true"), lit("false")}, nil
	case "string":
		return jc.str(n, ptr)
	case "integer", "number":
		return jc.number(n, ptr, t == "integer")
	case "object":
		return jc.object(n, ptr, depth)
	case "array":
		return jc.array(n, ptr, depth)
	}
	return nil, errAt(ErrInvalidSchema, ptr+"/type", "unknown type %q", t)
}

// enum lists the enum/const values that pass the whole subschema.
func (jc *jsonCompiler) enum(n *jnode, ptr string) (expr, error) {
	var vals []*jnode
	key := "const"
	if c := n.get("const"); c != nil {
		vals = []*jnode{c}
	}
	if e := n.get("enum"); e != nil {
		key = "enum"
		if e.kind != 'a' {
			return nil, errAt(ErrInvalidSchema, ptr+"/enum", "enum must be an array")
		}
		if len(vals) == 0 {
			vals = e.vals
		}
	}
	sch, err := jc.validator(ptr)
	if err != nil {
		return nil, err
	}
	var out alt
	seen := map[string]bool{}
	for _, v := range vals {
		text := v.compact()
		if seen[text] {
			continue
		}
		seen[text] = true
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
		if err == nil && sch.Validate(doc) == nil {
			out = append(out, lit(text))
		}
	}
	if len(out) == 0 {
		if len(vals) == 0 {
			return nil, errAt(ErrUnsatisfiable, ptr+"/"+key, "enum is empty")
		}
		return nil, errAt(ErrUnsatisfiable, ptr+"/"+key, "no %s value satisfies the rest of the schema", key)
	}
	return out, nil
}

func (jc *jsonCompiler) anyOf(n *jnode, ptr string, depth int, constraints []string) (expr, error) {
	if len(constraints) > 1 {
		return nil, errAt(ErrUnsupportedSchema, ptr, "anyOf/oneOf with sibling keywords %q is not supported", constraints)
	}
	key := "anyOf"
	if n.get("oneOf") != nil {
		key = "oneOf"
	}
	branches := n.get(key)
	if branches.kind != 'a' {
		return nil, errAt(ErrInvalidSchema, ptr+"/"+key, "want an array of schemas")
	}
	out, err := satisfiable(len(branches.vals), func(i int) (expr, error) {
		return jc.schema(branches.vals[i], fmt.Sprintf("%s/%s/%d", ptr, key, i), depth+1)
	})
	if err == nil && len(out) == 0 {
		err = errAt(ErrUnsatisfiable, ptr+"/"+key, "no branches")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ref compiles a local $ref into a rule of its own (memoized by pointer,
// which makes recursive schemas finite).
func (jc *jsonCompiler) ref(r *jnode, ptr string, depth int) (expr, error) {
	if r.kind != 's' {
		return nil, errAt(ErrInvalidSchema, ptr+"/$ref", "want a string")
	}
	if !strings.HasPrefix(r.str, "#") {
		return nil, errAt(ErrUnsupportedSchema, ptr+"/$ref", "only local references (#/...) are supported, not %q", r.str)
	}
	target, err := url.PathUnescape(r.str[1:])
	if err != nil || (target != "" && !strings.HasPrefix(target, "/")) {
		return nil, errAt(ErrUnsupportedSchema, ptr+"/$ref", "only JSON-pointer references are supported, not %q", r.str)
	}
	if name, ok := jc.refs[target]; ok {
		return ref(name), nil
	}
	node := jc.resolve(target)
	if node == nil {
		return nil, errAt(ErrInvalidSchema, ptr+"/$ref", "%q points nowhere", r.str)
	}
	toks := strings.Split(target, "/")
	name := jc.g.name("ref " + toks[len(toks)-1])
	jc.refs[target] = name
	x, err := jc.schema(node, target, depth+1)
	if err != nil {
		return nil, err
	}
	jc.g.define(name, x)
	return ref(name), nil
}

func (jc *jsonCompiler) resolve(ptr string) *jnode {
	n := jc.root
	if ptr == "" {
		return n
	}
	for _, tok := range strings.Split(ptr, "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n.kind {
		case 'o':
			n = n.get(tok)
		case 'a':
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.vals) {
				return nil
			}
			n = n.vals[i]
		default:
			return nil
		}
		if n == nil {
			return nil
		}
	}
	return n
}

func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// count reads a non-negative integer keyword; def when absent. A max* above
// maxRepeat is lowered to it; a min* above it is unsupported.
func count(n *jnode, ptr, key string, def int) (int, error) {
	v := n.get(key)
	if v == nil {
		return def, nil
	}
	r, err := parseBound(v)
	if err != nil || !r.IsInt() || r.Sign() < 0 {
		return 0, errAt(ErrInvalidSchema, ptr+"/"+key, "want a non-negative integer")
	}
	if !r.Num().IsInt64() || r.Num().Int64() > maxRepeat {
		if strings.HasPrefix(key, "max") {
			return maxRepeat, nil // generating fewer is sound
		}
		return 0, errAt(ErrUnsupportedSchema, ptr+"/"+key, "%s above %d is not supported", key, maxRepeat)
	}
	return int(r.Num().Int64()), nil
}

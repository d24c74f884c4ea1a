package library

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// goTypes turns a JSON Schema into Go type declarations, for the common
// subset: objects with properties become structs (required properties are
// plain fields, optional ones pointers or omitempty), arrays slices, enums
// of strings and string consts string, integer int64, number float64,
// boolean bool, a ["T", "null"] type a pointer, objects without properties
// maps, and the empty schema any. Composition and references ($ref, allOf,
// anyOf, oneOf, not, if) and tuple items are ErrUnsupportedSchema, naming
// the JSON pointer.
type goTypes struct {
	names names
	root  string   // what the schema is, for doc comments and errors
	decls []string // type declarations, in the order they were made
}

// ignoredKeywords constrain values without changing their Go type.
var ignoredKeywords = []string{"title", "description", "format", "pattern", "minLength", "maxLength",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
	"uniqueItems", "minProperties", "maxProperties", "default", "examples", "$schema", "$id", "$comment",
	"type", "properties", "required", "items", "additionalProperties", "enum", "const"}

// named declares the Go type called name for the schema raw.
func (g *goTypes) named(name, what string, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var s any
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	obj, ok := s.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: %s: the schema is not an object", ErrUnsupportedSchema, what)
	}
	if err := g.names.take(name, what); err != nil {
		return err
	}
	g.root = what
	if _, isStruct := obj["properties"]; isStruct {
		return g.structType(name, what, obj, "")
	}
	t, err := g.typeOf(name, obj, "")
	if err != nil {
		return err
	}
	g.decls = append(g.decls, fmt.Sprintf("// %s is %s.\ntype %s %s", name, what, name, t))
	return nil
}

// typeOf returns the Go type for the schema s at pointer ptr, declaring
// any struct it needs under names starting with name.
func (g *goTypes) typeOf(name string, s map[string]any, ptr string) (string, error) {
	at := func() string { return cmp.Or(ptr, "/") }
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !slices.Contains(ignoredKeywords, k) {
			return "", fmt.Errorf("%w: %q at %s", ErrUnsupportedSchema, k, at())
		}
	}
	typ, nullable, err := schemaType(s)
	if err != nil {
		return "", fmt.Errorf("%w at %s", err, at())
	}
	var t string
	switch typ {
	case "string", "enum-of-strings":
		t = "string"
	case "integer":
		t = "int64"
	case "number":
		t = "float64"
	case "boolean":
		t = "bool"
	case "any":
		t = "any"
	case "array":
		if _, tuple := s["items"].([]any); tuple {
			return "", fmt.Errorf("%w: tuple items at %s", ErrUnsupportedSchema, at())
		}
		items, _ := s["items"].(map[string]any)
		if items == nil {
			t = "[]any"
			break
		}
		elem, err := g.typeOf(name+"Item", items, ptr+"/items")
		if err != nil {
			return "", err
		}
		t = "[]" + elem
	case "object":
		if _, ok := s["properties"]; ok {
			what := "the object at " + at() + " in " + g.root
			if err := g.names.take(name, what); err != nil {
				return "", err
			}
			if err := g.structType(name, what, s, ptr); err != nil {
				return "", err
			}
			t = name
			break
		}
		t = "map[string]any"
		if add, ok := s["additionalProperties"].(map[string]any); ok {
			v, err := g.typeOf(name+"Value", add, ptr+"/additionalProperties")
			if err != nil {
				return "", err
			}
			t = "map[string]" + v
		}
	}
	if nullable && !strings.HasPrefix(t, "[]") && !strings.HasPrefix(t, "map[") && t != "any" {
		t = "*" + t
	}
	return t, nil
}

// schemaType returns the one JSON type s describes ("any" when none is
// given) and whether null is allowed too.
func schemaType(s map[string]any) (string, bool, error) {
	var types []string
	switch t := s["type"].(type) {
	case nil:
	case string:
		types = []string{t}
	case []any:
		for _, e := range t {
			str, ok := e.(string)
			if !ok {
				return "", false, fmt.Errorf("%w: type %v", ErrUnsupportedSchema, t)
			}
			types = append(types, str)
		}
	default:
		return "", false, fmt.Errorf("%w: type %v", ErrUnsupportedSchema, t)
	}
	nullable := slices.Contains(types, "null")
	types = slices.DeleteFunc(types, func(t string) bool { return t == "null" })
	switch {
	case len(types) > 1:
		return "", false, fmt.Errorf("%w: more than one type %v", ErrUnsupportedSchema, types)
	case len(types) == 1:
		switch types[0] {
		case "string", "integer", "number", "boolean", "array", "object":
			return types[0], nullable, nil
		}
		return "", false, fmt.Errorf("%w: type %q", ErrUnsupportedSchema, types[0])
	}
	// No type: infer it from the keywords that imply one.
	if enum, ok := s["enum"].([]any); ok {
		for _, e := range enum {
			if _, isStr := e.(string); !isStr {
				return "", false, fmt.Errorf("%w: an enum of other values than strings", ErrUnsupportedSchema)
			}
		}
		return "enum-of-strings", nullable, nil
	}
	if c, ok := s["const"]; ok {
		if _, isStr := c.(string); !isStr {
			return "", false, fmt.Errorf("%w: a const that is not a string", ErrUnsupportedSchema)
		}
		return "string", nullable, nil
	}
	if _, ok := s["properties"]; ok {
		return "object", nullable, nil
	}
	if _, ok := s["items"]; ok {
		return "array", nullable, nil
	}
	return "any", nullable, nil
}

// structType declares the struct name for an object schema.
func (g *goTypes) structType(name, what string, s map[string]any, ptr string) error {
	props, ok := s["properties"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: properties at %s is not an object", ErrUnsupportedSchema, cmp.Or(ptr, "/"))
	}
	var required []string
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if str, ok := r.(string); ok {
				required = append(required, str)
			}
		}
	}
	// The struct's declaration goes before those of its fields' types.
	slot := len(g.decls)
	g.decls = append(g.decls, "")
	var b strings.Builder
	fmt.Fprintf(&b, "// %s is %s.\ntype %s struct {\n", name, what, name)
	fields := names{}
	for _, prop := range slices.Sorted(maps.Keys(props)) {
		ps, ok := props[prop].(map[string]any)
		if !ok {
			return fmt.Errorf("%w: property %q is not a schema object", ErrUnsupportedSchema, prop)
		}
		field := exportedName(prop)
		if field == "" {
			return fmt.Errorf("%w: property %q gives no Go field name", ErrUnsupportedSchema, prop)
		}
		if err := fields.take(field, fmt.Sprintf("property %q", prop)); err != nil {
			return fmt.Errorf("%w: %w", ErrUnsupportedSchema, err)
		}
		t, err := g.typeOf(name+field, ps, ptr+"/properties/"+escapePointer(prop))
		if err != nil {
			return err
		}
		tag := prop
		if !slices.Contains(required, prop) {
			tag += ",omitempty"
			if !strings.HasPrefix(t, "*") && !strings.HasPrefix(t, "[]") && !strings.HasPrefix(t, "map[") && t != "any" {
				t = "*" + t // tells an absent value from a zero one
			}
		}
		if desc, ok := ps["description"].(string); ok && desc != "" {
			for line := range strings.Lines(desc) {
				fmt.Fprintf(&b, "\t// %s\n", strings.TrimRight(line, "\r\n"))
			}
		}
		fmt.Fprintf(&b, "\t%s %s `json:%q`\n", field, t, tag)
	}
	b.WriteString("}")
	g.decls[slot] = b.String()
	return nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

package library

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

type node = yaml.Node

const (
	scalarNode   = yaml.ScalarNode
	mappingNode  = yaml.MappingNode
	sequenceNode = yaml.SequenceNode
)

// decoder walks the YAML node tree, collecting positioned errors.
type decoder struct {
	file, dir string
	errs      []error
}

func (d *decoder) err() error { return errors.Join(d.errs...) }

func (d *decoder) errorf(n *node, format string, args ...any) {
	line, col := 1, 1
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

// manifest decodes the whole document.
func (d *decoder) manifest(data []byte) *Manifest {
	var doc node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.syntax(err)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errorf(nil, "empty manifest: want a mapping with a functions list")
		return nil
	}
	root := doc.Content[0]
	keys := d.mapping(root, "the manifest", topKeys)
	if keys == nil {
		return nil
	}
	if v := keys["version"]; v != nil && d.scalar(v) != "1" {
		d.errorf(v, "version %q: this paw reads version 1", d.scalar(v))
	}
	fns := d.required(root, keys, "functions", "the manifest")
	if fns == nil {
		return nil
	}
	if fns.Kind != sequenceNode {
		d.errorf(fns, "functions: want a list of functions, got %s", describe(fns))
		return nil
	}
	m := &Manifest{}
	seen := map[string]*node{}
	for _, fn := range fns.Content {
		f := d.function(resolve(fn))
		if f == nil {
			continue
		}
		if first, dup := seen[f.Name]; dup && f.Name != "" {
			d.errorf(fn, "function %q is declared twice (first at line %d)", f.Name, first.Line)
			continue
		}
		seen[f.Name] = fn
		m.Functions = append(m.Functions, f)
	}
	if len(fns.Content) == 0 {
		d.errorf(fns, "functions: the list is empty")
	}
	return m
}

// syntax reports a YAML syntax error at the position the parser gives.
func (d *decoder) syntax(err error) {
	var pe *yaml.ParserError
	var ue *yaml.UnmarshalError
	switch {
	case errors.As(err, &ue):
		d.errs = append(d.errs, &Error{File: d.file, Line: ue.Line, Column: max(ue.Column, 1), Msg: ue.Err.Error()})
	case errors.As(err, &pe):
		// The parser gives the line only.
		d.errs = append(d.errs, &Error{File: d.file, Line: max(pe.Line, 1), Column: 1, Msg: "YAML syntax: " + pe.Message})
	default:
		d.errorf(nil, "YAML: %v", err)
	}
}

// resolve follows an alias.
func resolve(n *node) *node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func describe(n *node) string {
	switch n.Kind {
	case mappingNode:
		return "a mapping"
	case sequenceNode:
		return "a list"
	case scalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping returns n's keys (strict: an unknown or repeated key is an
// error), or nil when n is not a mapping.
func (d *decoder) mapping(n *node, what string, known []string) map[string]*node {
	n = resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != mappingNode {
		d.errorf(n, "%s: want a mapping, got %s", what, describe(n))
		return nil
	}
	keys := map[string]*node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case k.Kind != scalarNode:
			d.errorf(k, "%s: a key must be a plain name", what)
		case !slices.Contains(known, k.Value):
			d.errorf(k, "unknown key %q in %s (known keys: %s)", k.Value, what, strings.Join(known, ", "))
		case keys[k.Value] != nil:
			d.errorf(k, "key %q repeated in %s", k.Value, what)
		default:
			keys[k.Value] = v
		}
	}
	return keys
}

// required returns keys[key], reporting its absence at n.
func (d *decoder) required(n *node, keys map[string]*node, key, what string) *node {
	v := keys[key]
	if v == nil {
		d.errorf(n, "%s: missing %q", what, key)
	}
	return v
}

// scalar returns a scalar's text, reporting any other node.
func (d *decoder) scalar(n *node) string {
	if n.Kind != scalarNode {
		d.errorf(n, "want a single value, got %s", describe(n))
		return ""
	}
	return n.Value
}

// str returns a string scalar; numbers, booleans and nulls are errors, so
// that a bare `spec: 1.0` is not silently read as text.
func (d *decoder) str(n *node) string {
	if n.Kind != scalarNode {
		d.errorf(n, "want text, got %s", describe(n))
		return ""
	}
	if t := n.ShortTag(); t != "!!str" {
		d.errorf(n, "want text, got %s %q (quote it)", strings.TrimPrefix(t, "!!"), n.Value)
		return ""
	}
	return n.Value
}

// optStr is str for an optional key.
func (d *decoder) optStr(n *node) string {
	if n == nil {
		return ""
	}
	return d.str(n)
}

// strings returns a list of scalars as text: labels such as `[true, false]`
// keep their spelling.
func (d *decoder) strings(n *node) []string {
	if n.Kind != sequenceNode {
		d.errorf(n, "want a list, got %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		if e = resolve(e); e.Kind != scalarNode || e.ShortTag() == "!!null" {
			d.errorf(e, "want a label, got %s", describe(e))
			continue
		}
		out = append(out, e.Value)
	}
	return out
}

func (d *decoder) float(n *node) float64 {
	x, ok := parseFloat(n)
	if !ok {
		d.errorf(n, "want a number, got %s", describe(n))
	}
	return x
}

func parseFloat(n *node) (float64, bool) {
	if n.Kind != scalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, false
	}
	x, err := strconv.ParseFloat(n.Value, 64)
	return x, err == nil
}

// relFile returns a file name relative to the project root, which must
// stay inside it and exist.
func (d *decoder) relFile(n *node, what string) string {
	name := d.str(n)
	if name == "" {
		return ""
	}
	clean := path.Clean(filepath.ToSlash(name))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		d.errorf(n, "%s %q: want a path inside the project (relative to %s)", what, name, filepath.Base(d.file))
		return ""
	}
	if _, err := statFile(filepath.Join(d.dir, filepath.FromSlash(clean))); err != nil {
		d.errorf(n, "%s %q: %v", what, name, err)
	}
	return clean
}

// relDir is relFile for a directory: a compiler's, say.
func (d *decoder) relDir(n *node, what string) string {
	name := d.str(n)
	clean := path.Clean(filepath.ToSlash(name))
	inside := name != "" && !path.IsAbs(clean) && clean != ".." && !strings.HasPrefix(clean, "../")
	if st, err := os.Stat(filepath.Join(d.dir, filepath.FromSlash(clean))); !inside || err != nil || !st.IsDir() {
		d.errorf(n, "%s %q: want %s or a directory inside the project (relative to %s)", what, name,
			strings.Join(slices.Sorted(maps.Keys(mapperInterpreters)), ", "), filepath.Base(d.file))
		return ""
	}
	return clean
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// canonicalJSON re-encodes JSON with sorted keys, no spaces and numbers as
// written, so equal documents hash equally.
func canonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

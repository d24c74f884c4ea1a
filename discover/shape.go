package discover

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// Bounds of schema inference: deeper values, more properties or more
// distinct strings than these are described loosely, never stored.
const (
	maxShapeDepth = 8
	maxShapeProps = 64
	maxEnum       = 8
	maxKeySets    = 16
)

// parseJSONAnswer decodes an answer that is a JSON object or array.
func parseJSONAnswer(s string) (any, bool) {
	if s == "" || (s[0] != '{' && s[0] != '[') {
		return nil, false
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil || d.More() {
		return nil, false
	}
	return v, true
}

// shape infers a JSON Schema from the values added to it.
type shape struct {
	n       int
	types   map[string]int
	props   map[string]*shape
	order   []string // property names in first-seen order
	items   *shape
	strs    map[string]int // nil once past maxEnum
	keySets map[string]int // top-level objects' key sets, to count shapes
}

func newShape() *shape { return &shape{types: map[string]int{}, strs: map[string]int{}} }

// add merges v (from encoding/json with UseNumber) into the shape.
func (s *shape) add(v any) { s.addAt(v, 0) }

func (s *shape) addAt(v any, depth int) {
	s.n++
	switch v := v.(type) {
	case nil:
		s.types["null"]++
	case bool:
		s.types["boolean"]++
	case json.Number:
		if _, err := v.Int64(); err == nil {
			s.types["integer"]++
		} else {
			s.types["number"]++
		}
	case string:
		s.types["string"]++
		if s.strs != nil {
			if _, ok := s.strs[v]; ok || len(s.strs) < maxEnum {
				s.strs[v]++
			} else {
				s.strs = nil
			}
		}
	case []any:
		s.types["array"]++
		if depth >= maxShapeDepth {
			return
		}
		for _, x := range v {
			if s.items == nil {
				s.items = newShape()
			}
			s.items.addAt(x, depth+1)
		}
	case map[string]any:
		s.types["object"]++
		if depth == 0 {
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			ks := strings.Join(keys, "\x00")
			if s.keySets == nil {
				s.keySets = map[string]int{}
			}
			if _, ok := s.keySets[ks]; ok || len(s.keySets) < maxKeySets {
				s.keySets[ks]++
			}
		}
		if depth >= maxShapeDepth {
			return
		}
		if s.props == nil {
			s.props = map[string]*shape{}
		}
		// Map order is random: new names are taken sorted, so the
		// properties' order does not depend on it.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := s.props[k]
			if p == nil {
				if len(s.props) >= maxShapeProps {
					continue
				}
				p = newShape()
				s.props[k] = p
				s.order = append(s.order, k)
			}
			p.addAt(v[k], depth+1)
		}
	}
}

// shapes is the number of distinct key sets of top-level objects (one:
// every answer has the same fields).
func (s *shape) shapes() int { return len(s.keySets) }

// schema is the inferred JSON Schema: the types seen; objects with the
// properties seen, those in every object required and no others allowed;
// arrays with their items' schema; strings seen with few values as an
// enum when each value recurs.
func (s *shape) schema() json.RawMessage {
	var b bytes.Buffer
	s.write(&b)
	return b.Bytes()
}

func (s *shape) write(b *bytes.Buffer) {
	var types []string
	for _, t := range []string{"object", "array", "string", "integer", "number", "boolean", "null"} {
		if s.types[t] > 0 && !(t == "integer" && s.types["number"] > 0) {
			types = append(types, t)
		}
	}
	b.WriteString(`{"type":`)
	if len(types) == 1 {
		writeJSON(b, types[0])
	} else {
		writeJSON(b, types)
	}
	if s.types["object"] > 0 && s.props != nil {
		b.WriteString(`,"properties":{`)
		var required []string
		for i, k := range s.order {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, k)
			b.WriteByte(':')
			p := s.props[k]
			p.write(b)
			if p.n == s.types["object"] {
				required = append(required, k)
			}
		}
		b.WriteString(`}`)
		if required != nil {
			b.WriteString(`,"required":`)
			writeJSON(b, required)
		}
		b.WriteString(`,"additionalProperties":false`)
	}
	if s.items != nil {
		b.WriteString(`,"items":`)
		s.items.write(b)
	}
	if len(types) == 1 && types[0] == "string" && s.strs != nil && len(s.strs) > 0 && s.n >= 3*len(s.strs) {
		enum := make([]string, 0, len(s.strs))
		for v := range s.strs {
			enum = append(enum, v)
		}
		slices.Sort(enum)
		b.WriteString(`,"enum":`)
		writeJSON(b, enum)
	}
	b.WriteByte('}')
}

func writeJSON(b *bytes.Buffer, v any) {
	data, _ := json.Marshal(v) // strings and string slices always encode
	b.Write(data)
}

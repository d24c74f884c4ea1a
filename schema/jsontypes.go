package schema

import (
	"errors"
	"fmt"
	"unicode"
)

// shared returns the rule name, defining it with mk the first time.
func (jc *jsonCompiler) shared(name string, mk func() expr) ref {
	if jc.sharedRules == nil {
		jc.sharedRules = map[string]ref{}
	}
	if r, ok := jc.sharedRules[name]; ok {
		return r
	}
	n := jc.g.name(name)
	r := ref(n)
	jc.sharedRules[name] = r
	jc.g.define(n, mk())
	return r
}

// char is one character of a JSON string: anything but '"', '\' and
// control characters (as positive ranges of Unicode scalar values, see
// reConv.class), or a one-character escape (never \u, so each char
// is exactly one code point of the decoded string).
func (jc *jsonCompiler) char() ref {
	return jc.shared("char", func() expr {
		return alt{
			class{ranges: []rune{0x20, '"' - 1, '"' + 1, '\\' - 1, '\\' + 1, 0xD7FF, 0xE000, unicode.MaxRune}},
			seq{lit(`\`), class{ranges: []rune{'"', '"', '\\', '\\', '/', '/', 'b', 'b', 'f', 'f', 'n', 'n', 'r', 'r', 't', 't'}}},
		}
	})
}

// anyValue is any JSON value (numbers limited as in genericNumber).
func (jc *jsonCompiler) anyValue() ref {
	if r, ok := jc.sharedRules["value"]; ok {
		return r
	}
	value := jc.shared("value", func() expr { return lit("null") }) // redefined below
	str := jc.shared("string", func() expr { return seq{lit(`"`), rep{jc.char(), 0, -1}, lit(`"`)} })
	num := jc.shared("number", genericNumber)
	member := seq{str, lit(":"), value}
	obj := jc.shared("object", func() expr {
		return seq{lit("{"), rep{seq{member, rep{seq{lit(","), member}, 0, -1}}, 0, 1}, lit("}")}
	})
	arr := jc.shared("array", func() expr {
		return seq{lit("["), rep{seq{value, rep{seq{lit(","), value}, 0, -1}}, 0, 1}, lit("]")}
	})
	jc.g.define(string(value), alt{obj, arr, str, num, lit("true"), lit("false"), lit("null")})
	return value
}

func (jc *jsonCompiler) str(n *jnode, ptr string) (expr, error) {
	format, pattern := n.get("format"), n.get("pattern")
	minL, err := count(n, ptr, "minLength", 0)
	if err != nil {
		return nil, err
	}
	maxL, err := count(n, ptr, "maxLength", -1)
	if err != nil {
		return nil, err
	}
	hasLen := n.get("minLength") != nil || n.get("maxLength") != nil
	if maxL >= 0 && minL > maxL {
		return nil, errAt(ErrUnsatisfiable, ptr, "minLength %d > maxLength %d", minL, maxL)
	}
	if format != nil && (pattern != nil || hasLen) {
		return nil, errAt(ErrUnsupportedSchema, ptr+"/format", "format with pattern or length limits is not supported")
	}
	if pattern != nil && hasLen {
		return nil, errAt(ErrUnsupportedSchema, ptr+"/pattern", "pattern with length limits is not supported")
	}
	switch {
	case format != nil:
		if format.kind != 's' {
			return nil, errAt(ErrInvalidSchema, ptr+"/format", "want a string")
		}
		x := jc.format(format.str)
		if x == nil {
			return nil, errAt(ErrUnsupportedSchema, ptr+"/format", "format %q is not supported (date, date-time, uuid, email are)", format.str)
		}
		return seq{lit(`"`), x, lit(`"`)}, nil
	case pattern != nil:
		if pattern.kind != 's' {
			return nil, errAt(ErrInvalidSchema, ptr+"/pattern", "want a string")
		}
		x, err := regexExpr(pattern.str, reJSON)
		if err != nil {
			return nil, fmt.Errorf("%w: %s/pattern: %w", ErrUnsupportedSchema, ptr, err)
		}
		g := &grammar{rules: map[string]expr{"root": x}}
		if !g.prune() {
			return nil, errAt(ErrUnsatisfiable, ptr+"/pattern", "%q matches no string", pattern.str)
		}
		return seq{lit(`"`), g.rules["root"], lit(`"`)}, nil
	}
	return seq{lit(`"`), rep{jc.char(), minL, maxL}, lit(`"`)}, nil
}

func (jc *jsonCompiler) format(name string) expr {
	two := func(a, b rune) expr { return class{ranges: []rune{a, b}} }
	hex := class{ranges: []rune{'0', '9', 'a', 'f'}}
	date := func() expr {
		d31 := alt{seq{lit("0"), digit1to}, seq{two('1', '2'), digit}, seq{lit("3"), two('0', '1')}}
		d30 := alt{seq{lit("0"), digit1to}, seq{two('1', '2'), digit}, lit("30")}
		d28 := alt{seq{lit("0"), digit1to}, seq{lit("1"), digit}, seq{lit("2"), two('0', '8')}}
		return seq{rep{digit, 4, 4}, lit("-"), alt{
			seq{alt{seq{lit("0"), class{ranges: []rune{'1', '1', '3', '3', '5', '5', '7', '8'}}}, seq{lit("1"), class{ranges: []rune{'0', '0', '2', '2'}}}}, lit("-"), d31},
			seq{alt{seq{lit("0"), class{ranges: []rune{'4', '4', '6', '6', '9', '9'}}}, lit("11")}, lit("-"), d30},
			seq{lit("02-"), d28},
		}}
	}
	switch name {
	case "date":
		return jc.shared("date", date)
	case "date-time":
		return jc.shared("date-time", func() expr {
			hour := alt{seq{two('0', '1'), digit}, seq{lit("2"), two('0', '3')}}
			minute := seq{two('0', '5'), digit}
			return seq{jc.format("date"), lit("T"), hour, lit(":"), minute, lit(":"), minute,
				rep{seq{lit("."), rep{digit, 1, 9}}, 0, 1},
				alt{lit("Z"), seq{class{ranges: []rune{'+', '+', '-', '-'}}, hour, lit(":"), minute}}}
		})
	case "uuid":
		return jc.shared("uuid", func() expr {
			return seq{rep{hex, 8, 8}, lit("-"), rep{hex, 4, 4}, lit("-"), rep{hex, 4, 4}, lit("-"), rep{hex, 4, 4}, lit("-"), rep{hex, 12, 12}}
		})
	case "email":
		return jc.shared("email", func() expr {
			alnum := class{ranges: []rune{'0', '9', 'A', 'Z', 'a', 'z'}}
			label := rep{class{ranges: []rune{'0', '9', 'a', 'z'}}, 1, 20}
			return seq{rep{alnum, 1, 32}, lit("@"), label, rep{seq{lit("."), label}, 1, 2}}
		})
	}
	return nil
}

// numBounds reads minimum, maximum and the exclusive forms (the tighter of
// each pair wins).
func numBounds(n *jnode, ptr string) (lo, hi *bound, err error) {
	for _, k := range []string{"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"} {
		v := n.get(k)
		if v == nil {
			continue
		}
		r, err := parseBound(v)
		if err != nil {
			return nil, nil, errAt(ErrInvalidSchema, ptr+"/"+k, "%v", err)
		}
		b := &bound{v: r, exclusive: k[0] == 'e'}
		if k == "minimum" || k == "exclusiveMinimum" {
			if lo == nil || r.Cmp(lo.v) > 0 || (r.Cmp(lo.v) == 0 && b.exclusive) {
				lo = b
			}
		} else if hi == nil || r.Cmp(hi.v) < 0 || (r.Cmp(hi.v) == 0 && b.exclusive) {
			hi = b
		}
	}
	return lo, hi, nil
}

func (jc *jsonCompiler) number(n *jnode, ptr string, integer bool) (expr, error) {
	lo, hi, err := numBounds(n, ptr)
	if err != nil {
		return nil, err
	}
	var x expr
	var unsat, ok bool
	what := "number"
	if integer {
		what = "integer"
		x, unsat, ok = integerExpr(lo, hi)
	} else {
		x, unsat, ok = numberExpr(lo, hi)
	}
	switch {
	case unsat:
		return nil, errAt(ErrUnsatisfiable, ptr, "no %s lies between %s and %s", what, fmtBound(lo), fmtBound(hi))
	case !ok:
		return nil, errAt(ErrUnsupportedSchema, ptr, "no %s between %s and %s can be generated (at most %d digits, integer-aligned decimals)", what, fmtBound(lo), fmtBound(hi), maxDigits)
	}
	return x, nil
}

func fmtBound(b *bound) string {
	if b == nil {
		return "unbounded"
	}
	f, _ := b.v.Float64()
	s := fmt.Sprint(f)
	if b.v.IsInt() && b.v.Num().IsInt64() {
		s = b.v.Num().String()
	}
	if b.exclusive {
		return s + " (exclusive)"
	}
	return s
}

func (jc *jsonCompiler) object(n *jnode, ptr string, depth int) (expr, error) {
	props := n.get("properties")
	if props != nil && props.kind != 'o' {
		return nil, errAt(ErrInvalidSchema, ptr+"/properties", "want an object")
	}
	required := map[string]bool{}
	if r := n.get("required"); r != nil {
		if r.kind != 'a' {
			return nil, errAt(ErrInvalidSchema, ptr+"/required", "want an array of strings")
		}
		ap := n.get("additionalProperties")
		closed := ap != nil && ap.kind == 'b' && !ap.b
		for i, e := range r.vals {
			if e.kind != 's' {
				return nil, errAt(ErrInvalidSchema, fmt.Sprintf("%s/required/%d", ptr, i), "want a string")
			}
			if props.get(e.str) == nil {
				if closed {
					return nil, errAt(ErrUnsatisfiable, fmt.Sprintf("%s/required/%d", ptr, i), "required property %q is not in properties and additionalProperties is false", e.str)
				}
				return nil, errAt(ErrUnsupportedSchema, fmt.Sprintf("%s/required/%d", ptr, i), "required property %q is not in properties", e.str)
			}
			required[e.str] = true
		}
	}
	var reqs, opts []expr
	if props != nil {
		for i, k := range props.keys {
			p := ptr + "/properties/" + escapeToken(k)
			v, err := jc.schema(props.vals[i], p, depth+1)
			if errors.Is(err, ErrUnsatisfiable) && !required[k] {
				continue // an optional property that cannot exist is never generated
			}
			if err != nil {
				return nil, err
			}
			kv := jc.g.add("kv "+k, seq{lit(jsonString(k) + ":"), v})
			if required[k] {
				reqs = append(reqs, kv)
			} else {
				opts = append(opts, kv)
			}
		}
	}
	body := seq{lit("{")}
	for i, kv := range reqs {
		if i > 0 {
			body = append(body, lit(","))
		}
		body = append(body, kv)
	}
	switch {
	case len(reqs) > 0:
		for _, kv := range opts {
			body = append(body, rep{seq{lit(","), kv}, 0, 1})
		}
	case len(opts) > 0:
		// No required member: the first present optional one has no comma.
		tails := make([]expr, len(opts)+1)
		tails[len(opts)] = lit("")
		for j := len(opts) - 1; j >= 1; j-- {
			t := seq{rep{seq{lit(","), opts[j]}, 0, 1}, tails[j+1]}
			if j == len(opts)-1 {
				tails[j] = t
			} else {
				tails[j] = jc.g.add("tail", t)
			}
		}
		var first alt
		for i, kv := range opts {
			first = append(first, seq{kv, tails[i+1]})
		}
		body = append(body, rep{first, 0, 1})
	}
	return append(body, lit("}")), nil
}

func (jc *jsonCompiler) array(n *jnode, ptr string, depth int) (expr, error) {
	minI, err := count(n, ptr, "minItems", 0)
	if err != nil {
		return nil, err
	}
	maxI, err := count(n, ptr, "maxItems", -1)
	if err != nil {
		return nil, err
	}
	if maxI >= 0 && minI > maxI {
		return nil, errAt(ErrUnsatisfiable, ptr, "minItems %d > maxItems %d", minI, maxI)
	}
	var item expr
	if it := n.get("items"); it == nil {
		item = jc.anyValue()
	} else if it.kind == 'a' {
		return nil, errAt(ErrUnsupportedSchema, ptr+"/items", "tuple items (an array) are not supported")
	} else {
		item, err = jc.schema(it, ptr+"/items", depth+1)
		if errors.Is(err, ErrUnsatisfiable) && minI == 0 {
			return lit("[]"), nil
		}
		if err != nil {
			return nil, err
		}
		if _, isRef := item.(ref); !isRef {
			item = jc.g.add("item", item)
		}
	}
	if maxI == 0 {
		return lit("[]"), nil
	}
	more := rep{seq{lit(","), item}, max(minI-1, 0), -1}
	if maxI > 0 {
		more.max = maxI - 1
	}
	list := seq{item, more}
	if minI == 0 {
		return seq{lit("["), rep{list, 0, 1}, lit("]")}, nil
	}
	return seq{lit("["), list, lit("]")}, nil
}

package schema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The grammar IR: expressions over literals, character classes and rule
// references. It is printed as GBNF by grammar.String.
type expr interface{ isExpr() }

type (
	lit     string // a literal string ("" matches the empty string)
	anyChar struct{}
	ref     string // a reference to a named rule
	seq     []expr
	alt     []expr
	rep     struct {
		x        expr
		min, max int // max < 0: unbounded
	}
	// class is a character class of inclusive rune ranges (lo, hi pairs).
	class struct {
		neg    bool
		ranges []rune
	}
	nothing struct{} // matches no string at all
)

func (lit) isExpr()     {}
func (anyChar) isExpr() {}
func (ref) isExpr()     {}
func (seq) isExpr()     {}
func (alt) isExpr()     {}
func (rep) isExpr()     {}
func (class) isExpr()   {}
func (nothing) isExpr() {}

// maxRepeat is llama.cpp's limit on {m,n} counts (MAX_REPETITION_THRESHOLD).
const maxRepeat = 2000

// maxGrammarLen bounds a generated grammar's text; larger grammars are
// rejected as unsupported rather than handed to the sampler.
const maxGrammarLen = 1 << 20

// grammar is a set of named rules; root is always "root".
type grammar struct {
	rules map[string]expr
	order []string
	used  map[string]int // name hint → count, for fresh names
}

func newGrammar() *grammar {
	return &grammar{rules: map[string]expr{}, used: map[string]int{}}
}

// name reserves a fresh rule name derived from hint.
func (g *grammar) name(hint string) string {
	base := ruleName(hint)
	n := g.used[base]
	g.used[base] = n + 1
	name := base
	if n > 0 {
		name = base + "-" + strconv.Itoa(n)
	}
	if _, taken := g.rules[name]; taken {
		return g.name(hint + "-x")
	}
	g.rules[name] = nil
	g.order = append(g.order, name)
	return name
}

// define sets the body of a reserved rule.
func (g *grammar) define(name string, x expr) { g.rules[name] = x }

// add defines a fresh rule and returns a reference to it.
func (g *grammar) add(hint string, x expr) ref {
	n := g.name(hint)
	g.define(n, x)
	return ref(n)
}

// ruleName makes a GBNF rule name (letters, digits, '-') from s.
func ruleName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		out = "r"
	}
	return out
}

// String prints the grammar as GBNF, root first.
func (g *grammar) String() string {
	var b strings.Builder
	names := append([]string{"root"}, g.order...)
	seen := map[string]bool{}
	for _, n := range names {
		x, ok := g.rules[n]
		if !ok || seen[n] {
			continue
		}
		seen[n] = true
		fmt.Fprintf(&b, "%s ::= %s\n", n, printExpr(x, 0))
	}
	return b.String()
}

// Precedence levels for printExpr: 0 alternation, 1 sequence, 2 atom.
func printExpr(x expr, prec int) string {
	switch x := x.(type) {
	case lit:
		return quote(string(x))
	case anyChar:
		return "."
	case ref:
		return string(x)
	case class:
		return printClass(x)
	case nothing:
		return "[^\\x00-\\U0010FFFF]" // unreachable after prune; kept printable
	case seq:
		x = slices.DeleteFunc(slices.Clone(x), func(e expr) bool { return e == lit("") })
		if len(x) == 0 {
			return `""`
		}
		if len(x) == 1 {
			return printExpr(x[0], prec)
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = printExpr(e, 1)
		}
		return paren(strings.Join(parts, " "), prec > 1)
	case alt:
		if len(x) == 1 {
			return printExpr(x[0], prec)
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = printExpr(e, 0)
		}
		return paren(strings.Join(parts, " | "), prec > 0)
	case rep:
		return paren(printRep(x), prec > 1)
	}
	panic(fmt.Sprintf("schema: unknown grammar expression %T", x))
}

func printRep(x rep) string {
	inner := printExpr(x.x, 2)
	switch {
	case x.min == 0 && x.max == 1:
		return inner + "?"
	case x.min == 0 && x.max < 0:
		return inner + "*"
	case x.min == 1 && x.max < 0:
		return inner + "+"
	case x.max < 0:
		return fmt.Sprintf("%s{%d,}", inner, x.min)
	case x.min == x.max:
		return fmt.Sprintf("%s{%d}", inner, x.min)
	default:
		return fmt.Sprintf("%s{%d,%d}", inner, x.min, x.max)
	}
}

func paren(s string, need bool) string {
	if need {
		return "(" + s + ")"
	}
	return s
}

// quote writes s as a GBNF string literal: printable ASCII as is, quotes and
// backslashes escaped, control characters as \xHH, everything else as \uXXXX
// or \UXXXXXXXX (invalid UTF-8 bytes become U+FFFD).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			writeRune(&b, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeRune writes r safely for both string literals and classes: ASCII
// letters, digits and a few harmless symbols as is, the rest escaped.
func writeRune(b *strings.Builder, r rune) {
	switch {
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\t':
		b.WriteString(`\t`)
	case r == '\r':
		b.WriteString(`\r`)
	case r < 0x20 || r == 0x7f:
		fmt.Fprintf(b, `\x%02X`, r)
	case r < 0x80:
		b.WriteRune(r)
	case r > utf8.MaxRune:
		b.WriteString(`\uFFFD`)
	case r <= 0xFFFF:
		fmt.Fprintf(b, `\u%04X`, r)
	default:
		fmt.Fprintf(b, `\U%08X`, r)
	}
}

// writeClassRune escapes every ASCII punctuation mark, so that ']', '-',
// '^' and '\' can never be misread inside a class.
func writeClassRune(b *strings.Builder, r rune) {
	isAlnum := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
	if r >= 0x20 && r < 0x7f && !isAlnum {
		fmt.Fprintf(b, `\x%02X`, r)
		return
	}
	writeRune(b, r)
}

func printClass(c class) string {
	var b strings.Builder
	b.WriteByte('[')
	if c.neg {
		b.WriteByte('^')
	}
	for i := 0; i+1 < len(c.ranges); i += 2 {
		lo, hi := c.ranges[i], c.ranges[i+1]
		writeClassRune(&b, lo)
		if hi != lo {
			b.WriteByte('-')
			writeClassRune(&b, hi)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// prune removes what can never finish: alternatives, optional repetitions
// and rules that derive no finite string. It reports whether root survives.
func (g *grammar) prune() bool {
	productive := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for n, x := range g.rules {
			if !productive[n] && x != nil && isProductive(x, productive) {
				productive[n] = true
				changed = true
			}
		}
	}
	for n, x := range g.rules {
		if !productive[n] {
			delete(g.rules, n)
			continue
		}
		g.rules[n] = simplify(x, productive)
	}
	order := g.order[:0]
	for _, n := range g.order {
		if productive[n] {
			order = append(order, n)
		}
	}
	g.order = order
	return productive["root"]
}

func isProductive(x expr, p map[string]bool) bool {
	switch x := x.(type) {
	case nothing:
		return false
	case ref:
		return p[string(x)]
	case seq:
		for _, e := range x {
			if !isProductive(e, p) {
				return false
			}
		}
		return true
	case alt:
		for _, e := range x {
			if isProductive(e, p) {
				return true
			}
		}
		return false
	case rep:
		return x.min == 0 || isProductive(x.x, p)
	case class:
		return !(len(x.ranges) == 0 && !x.neg)
	}
	return true
}

// simplify drops unproductive parts of a productive expression.
func simplify(x expr, p map[string]bool) expr {
	switch x := x.(type) {
	case seq:
		out := make(seq, 0, len(x))
		for _, e := range x {
			out = append(out, simplify(e, p))
		}
		return out
	case alt:
		out := make(alt, 0, len(x))
		for _, e := range x {
			if isProductive(e, p) {
				out = append(out, simplify(e, p))
			}
		}
		return out
	case rep:
		if !isProductive(x.x, p) {
			return lit("")
		}
		return rep{simplify(x.x, p), x.min, x.max}
	}
	return x
}

// leftRecursive reports a rule that can reach itself without consuming input
// (llama.cpp rejects such grammars), or "".
func (g *grammar) leftRecursive() string {
	nullable := g.nullable()
	for _, n := range append([]string{"root"}, g.order...) {
		if x, ok := g.rules[n]; ok && nullableLoop(x, nullable) {
			return n
		}
	}
	first := map[string][]string{}
	for n, x := range g.rules {
		first[n] = leftRefs(x, nullable, nil)
	}
	return g.cycle(first)
}

// nullableLoop reports an unbounded repetition of a nullable expression,
// which llama.cpp expands into a left-recursive rule.
func nullableLoop(x expr, nullable map[string]bool) bool {
	switch x := x.(type) {
	case seq:
		return slices.ContainsFunc(x, func(e expr) bool { return nullableLoop(e, nullable) })
	case alt:
		return slices.ContainsFunc(x, func(e expr) bool { return nullableLoop(e, nullable) })
	case rep:
		return (x.max < 0 && isNullable(x.x, nullable)) || nullableLoop(x.x, nullable)
	}
	return false
}

func (g *grammar) nullable() map[string]bool {
	nullable := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for n, x := range g.rules {
			if !nullable[n] && isNullable(x, nullable) {
				nullable[n] = true
				changed = true
			}
		}
	}
	return nullable
}

// cycle finds a rule on a cycle of the "can start with" graph, or "".
func (g *grammar) cycle(first map[string][]string) string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var bad string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		for _, m := range first[n] {
			if color[m] == grey {
				bad = m
				return true
			}
			if color[m] == white && visit(m) {
				return true
			}
		}
		color[n] = black
		return false
	}
	for _, n := range append([]string{"root"}, g.order...) {
		if _, ok := g.rules[n]; ok && color[n] == white && visit(n) {
			return bad
		}
	}
	return ""
}

func isNullable(x expr, nullable map[string]bool) bool {
	switch x := x.(type) {
	case lit:
		return x == ""
	case ref:
		return nullable[string(x)]
	case seq:
		for _, e := range x {
			if !isNullable(e, nullable) {
				return false
			}
		}
		return true
	case alt:
		for _, e := range x {
			if isNullable(e, nullable) {
				return true
			}
		}
		return false
	case rep:
		return x.min == 0 || isNullable(x.x, nullable)
	}
	return false
}

// leftRefs lists the rules x can start with.
func leftRefs(x expr, nullable map[string]bool, out []string) []string {
	switch x := x.(type) {
	case ref:
		return append(out, string(x))
	case seq:
		for _, e := range x {
			out = leftRefs(e, nullable, out)
			if !isNullable(e, nullable) {
				break
			}
		}
	case alt:
		for _, e := range x {
			out = leftRefs(e, nullable, out)
		}
	case rep:
		out = leftRefs(x.x, nullable, out)
	}
	return out
}

package schema

// A small, independent GBNF toolkit for tests: a parser for llama.cpp's
// dialect, a random generator that walks the rules, and an Earley
// recognizer. It checks the grammars this package prints without trusting
// the package's own IR.

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"
)

type gKind int

const (
	gLit gKind = iota
	gClass
	gAny
	gRef
	gSeq
	gAlt
	gRep
)

type gNode struct {
	kind     gKind
	runes    []rune // gLit
	neg      bool   // gClass
	ranges   []rune // gClass: lo, hi pairs
	name     string // gRef
	kids     []*gNode
	min, max int // gRep; max < 0 unbounded
}

type gGrammar struct {
	rules map[string]*gNode
	order []string
}

// parseGBNF parses grammar text in llama.cpp's GBNF dialect.
func parseGBNF(src string) (*gGrammar, error) {
	p := &gParser{src: []rune(src)}
	g := &gGrammar{rules: map[string]*gNode{}}
	p.space(true)
	for p.pos < len(p.src) {
		name := p.name()
		if name == "" {
			return nil, p.errf("expecting rule name")
		}
		p.space(false)
		if !p.eat("::=") {
			return nil, p.errf("expecting ::=")
		}
		p.space(true)
		body, err := p.alternates(false)
		if err != nil {
			return nil, err
		}
		if _, dup := g.rules[name]; !dup {
			g.order = append(g.order, name)
		}
		g.rules[name] = body
		if p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
			return nil, p.errf("expecting newline")
		}
		p.space(true)
	}
	var check func(n *gNode) error
	check = func(n *gNode) error {
		if n.kind == gRef {
			if _, ok := g.rules[n.name]; !ok {
				return fmt.Errorf("undefined rule %q", n.name)
			}
		}
		for _, k := range n.kids {
			if err := check(k); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range g.rules {
		if err := check(n); err != nil {
			return nil, err
		}
	}
	if g.rules["root"] == nil {
		return nil, fmt.Errorf("no root rule")
	}
	return g, nil
}

type gParser struct {
	src []rune
	pos int
}

func (p *gParser) errf(msg string) error {
	end := min(p.pos+20, len(p.src))
	return fmt.Errorf("gbnf: %s at %d: %q", msg, p.pos, string(p.src[p.pos:end]))
}

func (p *gParser) eat(s string) bool {
	r := []rune(s)
	if p.pos+len(r) <= len(p.src) && string(p.src[p.pos:p.pos+len(r)]) == s {
		p.pos += len(r)
		return true
	}
	return false
}

func (p *gParser) space(newlines bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r')):
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isWordRune(c rune) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
}

func (p *gParser) name() string {
	start := p.pos
	for p.pos < len(p.src) && isWordRune(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

func (p *gParser) alternates(nested bool) (*gNode, error) {
	alt := &gNode{kind: gAlt}
	for {
		s, err := p.sequence(nested)
		if err != nil {
			return nil, err
		}
		alt.kids = append(alt.kids, s)
		if p.pos < len(p.src) && p.src[p.pos] == '|' {
			p.pos++
			p.space(true)
			continue
		}
		return alt, nil
	}
}

func (p *gParser) char() (rune, error) {
	if p.pos >= len(p.src) {
		return 0, p.errf("unexpected end")
	}
	c := p.src[p.pos]
	if c != '\\' {
		p.pos++
		return c, nil
	}
	if p.pos+1 >= len(p.src) {
		return 0, p.errf("unexpected end")
	}
	e := p.src[p.pos+1]
	p.pos += 2
	hex := map[rune]int{'x': 2, 'u': 4, 'U': 8}
	if n, ok := hex[e]; ok {
		if p.pos+n > len(p.src) {
			return 0, p.errf("short hex escape")
		}
		v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
		if err != nil {
			return 0, p.errf("bad hex escape")
		}
		p.pos += n
		return rune(v), nil
	}
	switch e {
	case 't':
		return '\t', nil
	case 'r':
		return '\r', nil
	case 'n':
		return '\n', nil
	case '\\', '"', '[', ']':
		return e, nil
	}
	return 0, p.errf("unknown escape")
}

func (p *gParser) sequence(nested bool) (*gNode, error) {
	seq := &gNode{kind: gSeq}
	last := func() (*gNode, error) {
		if len(seq.kids) == 0 {
			return nil, p.errf("repetition without item")
		}
		return seq.kids[len(seq.kids)-1], nil
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			n := &gNode{kind: gLit}
			for p.pos < len(p.src) && p.src[p.pos] != '"' {
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				n.runes = append(n.runes, r)
			}
			if p.pos >= len(p.src) {
				return nil, p.errf("unterminated string")
			}
			p.pos++
			seq.kids = append(seq.kids, n)
		case c == '[':
			p.pos++
			n := &gNode{kind: gClass}
			if p.pos < len(p.src) && p.src[p.pos] == '^' {
				n.neg = true
				p.pos++
			}
			for p.pos < len(p.src) && p.src[p.pos] != ']' {
				lo, err := p.char()
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
					p.pos++
					if hi, err = p.char(); err != nil {
						return nil, err
					}
				}
				n.ranges = append(n.ranges, lo, hi)
			}
			if p.pos >= len(p.src) {
				return nil, p.errf("unterminated class")
			}
			p.pos++
			seq.kids = append(seq.kids, n)
		case isWordRune(c):
			seq.kids = append(seq.kids, &gNode{kind: gRef, name: p.name()})
		case c == '(':
			p.pos++
			p.space(true)
			n, err := p.alternates(true)
			if err != nil {
				return nil, err
			}
			if p.pos >= len(p.src) || p.src[p.pos] != ')' {
				return nil, p.errf("expecting )")
			}
			p.pos++
			seq.kids = append(seq.kids, n)
		case c == '.':
			p.pos++
			seq.kids = append(seq.kids, &gNode{kind: gAny})
		case c == '*' || c == '+' || c == '?' || c == '{':
			x, err := last()
			if err != nil {
				return nil, err
			}
			mn, mx := 0, -1
			p.pos++
			switch c {
			case '+':
				mn = 1
			case '?':
				mx = 1
			case '{':
				p.space(nested)
				if mn, err = p.int(); err != nil {
					return nil, err
				}
				p.space(nested)
				mx = mn
				if p.eat(",") {
					p.space(nested)
					mx = -1
					if p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
						if mx, err = p.int(); err != nil {
							return nil, err
						}
					}
					p.space(nested)
				}
				if !p.eat("}") {
					return nil, p.errf("expecting }")
				}
			}
			seq.kids[len(seq.kids)-1] = &gNode{kind: gRep, kids: []*gNode{x}, min: mn, max: mx}
		default:
			return seq, nil
		}
		p.space(nested)
	}
	return seq, nil
}

func (p *gParser) int() (int, error) {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	return strconv.Atoi(string(p.src[start:p.pos]))
}

// ---- random generation ----

// heights computes, per rule, the least derivation depth (for stopping).
func (g *gGrammar) heights() map[string]int {
	const inf = 1 << 30
	h := map[string]int{}
	for n := range g.rules {
		h[n] = inf
	}
	for changed := true; changed; {
		changed = false
		for n, x := range g.rules {
			if v := nodeHeight(x, h); v+1 < h[n] {
				h[n] = v + 1
				changed = true
			}
		}
	}
	return h
}

func nodeHeight(x *gNode, h map[string]int) int {
	const inf = 1 << 30
	switch x.kind {
	case gRef:
		return h[x.name]
	case gSeq:
		m := 0
		for _, k := range x.kids {
			m = max(m, nodeHeight(k, h))
		}
		return m
	case gAlt:
		m := inf
		for _, k := range x.kids {
			m = min(m, nodeHeight(k, h))
		}
		return m
	case gRep:
		if x.min == 0 {
			return 0
		}
		return nodeHeight(x.kids[0], h)
	}
	return 0
}

type gGen struct {
	g      *gGrammar
	h      map[string]int
	r      *rand.Rand
	budget int // steps left before taking the shortest way out
}

// generate returns a random string of the grammar's language.
func (g *gGrammar) generate(r *rand.Rand, budget int) string {
	gen := &gGen{g: g, h: g.heights(), r: r, budget: budget}
	var b strings.Builder
	gen.walk(g.rules["root"], &b)
	return b.String()
}

var samplePool = []rune("aZ09 _-\"\\/\n\t.,:{}[]é東🙂\x01\x7f")

func (gen *gGen) walk(x *gNode, b *strings.Builder) {
	gen.budget--
	out := gen.budget < 0
	switch x.kind {
	case gLit:
		for _, r := range x.runes {
			b.WriteRune(r)
		}
	case gAny:
		b.WriteRune(samplePool[gen.r.IntN(len(samplePool))])
	case gClass:
		b.WriteRune(gen.classRune(x))
	case gRef:
		gen.walk(gen.g.rules[x.name], b)
	case gSeq:
		for _, k := range x.kids {
			gen.walk(k, b)
		}
	case gAlt:
		k := x.kids[gen.r.IntN(len(x.kids))]
		if out {
			best := 1 << 30
			for _, c := range x.kids {
				if h := nodeHeight(c, gen.h); h < best {
					best, k = h, c
				}
			}
		}
		gen.walk(k, b)
	case gRep:
		n := x.min
		if !out {
			hi := x.max
			if hi < 0 {
				hi = x.min + 4
			}
			n = x.min + gen.r.IntN(hi-x.min+1)
		}
		for range n {
			gen.walk(x.kids[0], b)
		}
	}
}

func classHas(x *gNode, c rune) bool {
	in := false
	for i := 0; i+1 < len(x.ranges); i += 2 {
		if x.ranges[i] <= c && c <= x.ranges[i+1] {
			in = true
		}
	}
	return in != x.neg
}

func (gen *gGen) classRune(x *gNode) rune {
	if !x.neg && gen.r.IntN(4) > 0 {
		i := gen.r.IntN(len(x.ranges)/2) * 2
		lo, hi := x.ranges[i], x.ranges[i+1]
		for range 100 {
			c := lo + rune(gen.r.Int64N(int64(hi-lo)+1))
			if utf8.ValidRune(c) {
				return c
			}
		}
	}
	for range 1000 {
		c := samplePool[gen.r.IntN(len(samplePool))]
		if gen.r.IntN(3) == 0 {
			c = rune(gen.r.IntN(0x3000))
		}
		if utf8.ValidRune(c) && classHas(x, c) {
			return c
		}
	}
	if !x.neg {
		return x.ranges[0]
	}
	panic(fmt.Sprintf("no rune found for class %v", x))
}

// ---- Earley recognition ----

type eSym struct {
	nt    int    // >= 0: nonterminal
	match *gNode // terminal: gClass, gAny or a one-rune gLit
	r     rune
}

type eProd struct {
	lhs int
	rhs []eSym
}

type eGrammar struct {
	prods    []eProd
	byLHS    map[int][]int
	nullable map[int]bool
	start    int
}

func (g *gGrammar) earley() *eGrammar {
	e := &eGrammar{byLHS: map[int][]int{}, nullable: map[int]bool{}}
	ids := map[string]int{}
	next := 0
	newNT := func() int { next++; return next - 1 }
	for _, n := range g.order {
		ids[n] = newNT()
	}
	add := func(lhs int, rhs []eSym) {
		e.byLHS[lhs] = append(e.byLHS[lhs], len(e.prods))
		e.prods = append(e.prods, eProd{lhs, rhs})
	}
	var syms func(x *gNode) []eSym
	var ntFor func(x *gNode) int
	ntFor = func(x *gNode) int {
		nt := newNT()
		if x.kind == gAlt {
			for _, k := range x.kids {
				add(nt, syms(k))
			}
		} else {
			add(nt, syms(x))
		}
		return nt
	}
	syms = func(x *gNode) []eSym {
		switch x.kind {
		case gLit:
			var out []eSym
			for _, r := range x.runes {
				out = append(out, eSym{nt: -1, r: r})
			}
			return out
		case gClass, gAny:
			return []eSym{{nt: -1, match: x}}
		case gRef:
			return []eSym{{nt: ids[x.name]}}
		case gSeq:
			var out []eSym
			for _, k := range x.kids {
				out = append(out, syms(k)...)
			}
			return out
		case gAlt:
			return []eSym{{nt: ntFor(x)}}
		case gRep:
			item := ntFor(x.kids[0])
			var out []eSym
			for range x.min {
				out = append(out, eSym{nt: item})
			}
			if x.max < 0 {
				star := newNT()
				add(star, []eSym{{nt: item}, {nt: star}})
				add(star, nil)
				return append(out, eSym{nt: star})
			}
			opt := -1
			for range x.max - x.min {
				nt := newNT()
				rhs := []eSym{{nt: item}}
				if opt >= 0 {
					rhs = append(rhs, eSym{nt: opt})
				}
				add(nt, rhs)
				add(nt, nil)
				opt = nt
			}
			if opt >= 0 {
				out = append(out, eSym{nt: opt})
			}
			return out
		}
		panic("bad node")
	}
	for _, n := range g.order {
		x := g.rules[n]
		if x.kind == gAlt {
			for _, k := range x.kids {
				add(ids[n], syms(k))
			}
		} else {
			add(ids[n], syms(x))
		}
	}
	e.start = ids["root"]
	for changed := true; changed; {
		changed = false
		for _, p := range e.prods {
			if e.nullable[p.lhs] {
				continue
			}
			all := true
			for _, s := range p.rhs {
				if s.nt < 0 || !e.nullable[s.nt] {
					all = false
					break
				}
			}
			if all {
				e.nullable[p.lhs] = true
				changed = true
			}
		}
	}
	return e
}

func (s eSym) accepts(c rune) bool {
	if s.match == nil {
		return s.r == c
	}
	if s.match.kind == gAny {
		return true
	}
	return classHas(s.match, c)
}

type eItem struct{ prod, dot, origin int }

// accepts reports whether the whole input is in the language.
func (e *eGrammar) accepts(input string) bool {
	in := []rune(input)
	sets := make([][]eItem, len(in)+1)
	seen := make([]map[eItem]bool, len(in)+1)
	for i := range seen {
		seen[i] = map[eItem]bool{}
	}
	push := func(i int, it eItem) {
		if !seen[i][it] {
			seen[i][it] = true
			sets[i] = append(sets[i], it)
		}
	}
	for _, p := range e.byLHS[e.start] {
		push(0, eItem{p, 0, 0})
	}
	for i := 0; i <= len(in); i++ {
		for j := 0; j < len(sets[i]); j++ {
			it := sets[i][j]
			p := e.prods[it.prod]
			if it.dot == len(p.rhs) { // complete
				for _, parent := range sets[it.origin] {
					pp := e.prods[parent.prod]
					if parent.dot < len(pp.rhs) && pp.rhs[parent.dot].nt == p.lhs {
						push(i, eItem{parent.prod, parent.dot + 1, parent.origin})
					}
				}
				continue
			}
			s := p.rhs[it.dot]
			if s.nt >= 0 { // predict
				for _, q := range e.byLHS[s.nt] {
					push(i, eItem{q, 0, i})
				}
				if e.nullable[s.nt] {
					push(i, eItem{it.prod, it.dot + 1, it.origin})
				}
			} else if i < len(in) && s.accepts(in[i]) { // scan
				push(i+1, eItem{it.prod, it.dot + 1, it.origin})
			}
		}
	}
	for _, it := range sets[len(in)] {
		p := e.prods[it.prod]
		if p.lhs == e.start && it.origin == 0 && it.dot == len(p.rhs) {
			return true
		}
	}
	return false
}

package discover

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mining thresholds (see the package documentation).
const (
	// MinLiteral is the fewest non-space characters of fixed text a template
	// needs.
	MinLiteral = 8
	// MinMiddleLiteral is the fewest non-space characters of a literal run
	// between two slots (unless it holds a line break and two or more).
	MinMiddleLiteral = 4
	// KeepLiteral is the share of a template's literal text a message must
	// keep for the template to generalize to it rather than start another.
	KeepLiteral = 0.6
	// maxAlignCells bounds one alignment's table; longer pairs align by
	// common prefix and suffix only.
	maxAlignCells = 1 << 21
)

// tokenize splits s into runs of letters, of digits and of white space, and
// single other characters; the tokens concatenate to s.
func tokenize(s string) []string {
	toks := make([]string, 0, len(s)/4+1)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		class := runeClass(r)
		j := i + n
		if class != 0 {
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if runeClass(r2) != class {
					break
				}
				j += n2
			}
		}
		toks = append(toks, s[i:j])
		i = j
	}
	return toks
}

// runeClass: 1 letter, 2 digit, 3 space, 0 anything else (a token alone).
func runeClass(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return 1
	case unicode.IsDigit(r):
		return 2
	case unicode.IsSpace(r):
		return 3
	}
	return 0
}

// nonSpace counts s's non-space characters.
func nonSpace(s string) int {
	n := 0
	for _, r := range s {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// template is fixed text with slots: segs[0] {slot} segs[1] … {slot}
// segs[len-1]; the first and last segment may be empty.
type template struct {
	segs []string
}

// slots is the number of slots.
func (t *template) slots() int { return len(t.segs) - 1 }

// literal counts the template's non-space literal characters.
func (t *template) literal() int {
	n := 0
	for _, s := range t.segs {
		n += nonSpace(s)
	}
	return n
}

// match returns s's slot values, or false when s does not fit t; with
// values nil it only checks.
func (t *template) match(s string, values []string) ([]string, bool) {
	first, last := t.segs[0], t.segs[len(t.segs)-1]
	if len(t.segs) == 1 {
		return values, s == first
	}
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return nil, false
	}
	rest := s[len(first) : len(s)-len(last)]
	for _, seg := range t.segs[1 : len(t.segs)-1] {
		i := strings.Index(rest, seg)
		if i < 0 {
			return nil, false
		}
		if values != nil {
			values = append(values, rest[:i])
		}
		rest = rest[i+len(seg):]
	}
	if values != nil {
		values = append(values, rest)
	}
	return values, true
}

// Values returns s's slot values under t (nil when s does not fit).
func (t *template) values(s string) []string {
	v, ok := t.match(s, make([]string, 0, t.slots()))
	if !ok {
		return nil
	}
	return v
}

// tokens is the template's literal tokens, each with its segment.
func (t *template) tokens() (toks []string, seg []int) {
	for i, s := range t.segs {
		for _, tok := range tokenize(s) {
			toks = append(toks, tok)
			seg = append(seg, i)
		}
	}
	return toks, seg
}

// aligner aligns token sequences, reusing its rows.
type aligner struct {
	prev, cur []cell
}

// cell is a common run ending at one pair of positions: its non-space
// tokens and its length in tokens.
type cell struct{ weight, length int32 }

// align returns matched index pairs of a and b, in order: the common prefix
// and suffix, then between them, recursively, the common run with the most
// non-space tokens (Ratcliff/Obershelp matching). Unlike a longest common
// subsequence, this keeps a template's separators ("\nReview: ", several
// tokens in a row) over scattered words two slot values share by chance.
// aSeg, when set, gives a's tokens' segments: no run crosses two.
func (al *aligner) align(a, b []string, aSeg []int) [][2]int {
	var pairs [][2]int
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		pairs = append(pairs, [2]int{p, p})
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	pairs = al.blocks(a, b, aSeg, p, len(a)-s, p, len(b)-s, pairs)
	for k := s; k > 0; k-- {
		pairs = append(pairs, [2]int{len(a) - k, len(b) - k})
	}
	return pairs
}

// blocks appends the matching of a[alo:ahi] and b[blo:bhi].
func (al *aligner) blocks(a, b []string, aSeg []int, alo, ahi, blo, bhi int, pairs [][2]int) [][2]int {
	n, m := ahi-alo, bhi-blo
	if n <= 0 || m <= 0 || n*m > maxAlignCells {
		return pairs
	}
	if cap(al.cur) < m+1 {
		al.prev, al.cur = make([]cell, m+1), make([]cell, m+1)
	}
	prev, cur := al.prev[:m+1], al.cur[:m+1]
	clear(prev)
	var best cell
	bi, bj := 0, 0 // where the best run ends (exclusive)
	for i := alo; i < ahi; i++ {
		cur[0] = cell{}
		for j := blo; j < bhi; j++ {
			c := cell{}
			if a[i] == b[j] {
				c = prev[j-blo]
				if c.length > 0 && aSeg != nil && aSeg[i] != aSeg[i-1] {
					c = cell{}
				}
				c.length++
				if runeClass([]rune(a[i])[0]) != 3 {
					c.weight++
				}
				if c.weight > best.weight || c.weight == best.weight && c.length > best.length {
					best, bi, bj = c, i+1, j+1
				}
			}
			cur[j-blo+1] = c
		}
		prev, cur = cur, prev
	}
	if best.weight == 0 {
		return pairs
	}
	l := int(best.length)
	pairs = al.blocks(a, b, aSeg, alo, bi-l, blo, bj-l, pairs)
	for k := range l {
		pairs = append(pairs, [2]int{bi - l + k, bj - l + k})
	}
	return al.blocks(a, b, aSeg, bi, ahi, bj, bhi, pairs)
}

// fromAlignment builds the template of the runs that a (with segment
// indexes aSeg, nil when a is plain text) and b share: a run continues
// while both sides advance by one within one segment of a. A run at both
// starts becomes the prefix and one at both ends the suffix (unless aOpen
// says a starts or ends with a slot); other runs must be substantial.
func fromAlignment(a []string, aSeg []int, aOpen [2]bool, b []string, pairs [][2]int) template {
	type run struct {
		text           string
		i0, j0, i1, j1 int
	}
	var runs []run
	var text strings.Builder
	for k, p := range pairs {
		if k > 0 {
			q := pairs[k-1]
			if !(p[0] == q[0]+1 && p[1] == q[1]+1 && (aSeg == nil || aSeg[p[0]] == aSeg[q[0]])) {
				runs[len(runs)-1].text = text.String()
				text.Reset()
			}
		}
		if text.Len() == 0 {
			runs = append(runs, run{i0: p[0], j0: p[1]})
		}
		text.WriteString(a[p[0]])
		runs[len(runs)-1].i1, runs[len(runs)-1].j1 = p[0], p[1]
	}
	if len(runs) > 0 {
		runs[len(runs)-1].text = text.String()
	}
	atStart := func(r run) bool { return r.i0 == 0 && r.j0 == 0 && !aOpen[0] }
	atEnd := func(r run) bool { return r.i1 == len(a)-1 && r.j1 == len(b)-1 && !aOpen[1] }
	if len(runs) == 1 && atStart(runs[0]) && atEnd(runs[0]) {
		return template{segs: []string{runs[0].text}} // the same text: no slot
	}
	segs := []string{""}
	for k, r := range runs {
		switch {
		case k == 0 && atStart(r):
			segs[0] = r.text
		case k == len(runs)-1 && atEnd(r):
			return template{segs: append(segs, r.text)}
		case substantial(r.text):
			segs = append(segs, r.text)
		}
	}
	return template{segs: append(segs, "")}
}

// substantial says whether a literal run between slots is a template's,
// not two slot values' chance overlap: MinMiddleLiteral non-space
// characters in two or more tokens (a word and its colon, several words),
// or a line break and two.
func substantial(s string) bool {
	n, toks := 0, 0
	for _, tok := range tokenize(s) {
		if k := nonSpace(tok); k > 0 {
			n += k
			toks++
		}
	}
	return n >= MinMiddleLiteral && toks >= 2 || n >= 2 && strings.Contains(s, "\n")
}

// induce returns the template two messages share, if they share enough.
func (al *aligner) induce(a, b []string) (template, bool) {
	t := fromAlignment(a, nil, [2]bool{}, b, al.align(a, b, nil))
	return t, t.literal() >= MinLiteral
}

// generalize returns t loosened to fit the message of tokens b, if that
// keeps KeepLiteral of t's literal text (of a template without slots, the
// same text repeated, as much as pairing asks).
func (al *aligner) generalize(t *template, tToks []string, tSeg []int, b []string) (template, bool) {
	open := [2]bool{t.segs[0] == "", t.segs[len(t.segs)-1] == ""}
	g := fromAlignment(tToks, tSeg, open, b, al.align(tToks, b, tSeg))
	lit := g.literal()
	if t.slots() == 0 {
		// Repeats of one message: any slot is new, as when pairing.
		return g, lit >= MinLiteral
	}
	return g, lit >= MinLiteral && float64(lit) >= KeepLiteral*float64(t.literal())
}

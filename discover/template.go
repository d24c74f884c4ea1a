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

// aligner aligns token sequences, reusing its table.
type aligner struct {
	table []uint16
}

// align returns the index pairs of a longest common subsequence of a and b.
// Common prefix and suffix are matched first; a remaining middle too large
// for the table stays unmatched.
func (al *aligner) align(a, b []string) [][2]int {
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
	ma, mb := a[p:len(a)-s], b[p:len(b)-s]
	n, m := len(ma), len(mb)
	if n > 0 && m > 0 && (n+1)*(m+1) <= maxAlignCells && n < 1<<16 && m < 1<<16 {
		pairs = append(pairs, al.lcs(ma, mb, p)...)
	}
	for k := s; k > 0; k-- {
		pairs = append(pairs, [2]int{len(a) - k, len(b) - k})
	}
	return pairs
}

// lcs is the DP alignment of a and b (offset by off in both).
func (al *aligner) lcs(a, b []string, off int) [][2]int {
	n, m := len(a), len(b)
	w := m + 1
	if cap(al.table) < (n+1)*w {
		al.table = make([]uint16, (n+1)*w)
	}
	t := al.table[:(n+1)*w]
	// t[i][j] = LCS length of a[i:], b[j:].
	for j := 0; j <= m; j++ {
		t[n*w+j] = 0
	}
	for i := n - 1; i >= 0; i-- {
		t[i*w+m] = 0
		for j := m - 1; j >= 0; j-- {
			switch {
			case a[i] == b[j]:
				t[i*w+j] = t[(i+1)*w+j+1] + 1
			case t[(i+1)*w+j] >= t[i*w+j+1]:
				t[i*w+j] = t[(i+1)*w+j]
			default:
				t[i*w+j] = t[i*w+j+1]
			}
		}
	}
	var pairs [][2]int
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case a[i] == b[j]:
			pairs = append(pairs, [2]int{off + i, off + j})
			i, j = i+1, j+1
		case t[(i+1)*w+j] >= t[i*w+j+1]:
			i++
		default:
			j++
		}
	}
	return pairs
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
// not two slot values' chance overlap.
func substantial(s string) bool {
	n := nonSpace(s)
	return n >= MinMiddleLiteral || (n >= 2 && strings.Contains(s, "\n"))
}

// induce returns the template two messages share, if they share enough.
func (al *aligner) induce(a, b []string) (template, bool) {
	t := fromAlignment(a, nil, [2]bool{}, b, al.align(a, b))
	return t, t.literal() >= MinLiteral
}

// generalize returns t loosened to fit the message of tokens b, if that
// keeps KeepLiteral of t's literal text.
func (al *aligner) generalize(t *template, tToks []string, tSeg []int, b []string) (template, bool) {
	open := [2]bool{t.segs[0] == "", t.segs[len(t.segs)-1] == ""}
	g := fromAlignment(tToks, tSeg, open, b, al.align(tToks, b))
	lit := g.literal()
	return g, lit >= MinLiteral && float64(lit) >= KeepLiteral*float64(t.literal())
}

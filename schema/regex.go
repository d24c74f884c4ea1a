package schema

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// reMode says what text a converted regular expression describes.
type reMode int

const (
	reRaw  reMode = iota // the text itself
	reJSON               // the inside of a JSON string literal whose value matches
)

// regexExpr converts a Go (RE2, Perl flags) regular expression to a grammar
// expression matching exactly the strings the whole expression matches.
func regexExpr(pattern string, mode reMode) (expr, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRegex, describeParseError(err), err)
	}
	c := reConv{mode: mode}
	x, err := c.conv(re, true, true)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// describeParseError names the construct behind a regexp/syntax error.
func describeParseError(err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return "syntax error"
	}
	switch {
	case strings.HasPrefix(se.Expr, "(?=") || strings.HasPrefix(se.Expr, "(?!"):
		return "lookahead is not supported"
	case strings.HasPrefix(se.Expr, "(?<=") || strings.HasPrefix(se.Expr, "(?<!"):
		return "lookbehind is not supported"
	case strings.HasPrefix(se.Expr, "(?P=") || strings.HasPrefix(se.Expr, `\k`):
		return "named backreferences are not supported"
	case se.Code == syntax.ErrInvalidEscape && len(se.Expr) == 2 && se.Expr[1] >= '1' && se.Expr[1] <= '9':
		return "backreferences are not supported"
	case se.Code == syntax.ErrInvalidRepeatOp && (strings.HasSuffix(se.Expr, "++") || strings.HasSuffix(se.Expr, "*+") || strings.HasSuffix(se.Expr, "?+")):
		return "possessive quantifiers are not supported"
	case se.Code == syntax.ErrInvalidPerlOp:
		return "unsupported group syntax"
	}
	return "syntax error"
}

type reConv struct{ mode reMode }

// conv converts re; start and end say whether re sits at the very start or
// end of the pattern, where ^, $, \A and \z are allowed (and mean nothing,
// since the whole output must match anyway).
func (c reConv) conv(re *syntax.Regexp, start, end bool) (expr, error) {
	switch re.Op {
	case syntax.OpNoMatch:
		return nothing{}, nil
	case syntax.OpEmptyMatch:
		return lit(""), nil
	case syntax.OpLiteral:
		return c.literal(re.Rune, re.Flags&syntax.FoldCase != 0), nil
	case syntax.OpCharClass:
		return c.class(re.Rune), nil
	case syntax.OpAnyCharNotNL:
		return c.class([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}), nil
	case syntax.OpAnyChar:
		return c.class([]rune{0, unicode.MaxRune}), nil
	case syntax.OpBeginText:
		if !start {
			return nil, fmt.Errorf("%w: ^ or \\A is only supported at the start of the pattern", ErrRegex)
		}
		return lit(""), nil
	case syntax.OpEndText:
		if !end {
			return nil, fmt.Errorf("%w: $ or \\z is only supported at the end of the pattern", ErrRegex)
		}
		return lit(""), nil
	case syntax.OpBeginLine, syntax.OpEndLine:
		return nil, fmt.Errorf("%w: multiline anchors ((?m) with ^ or $) are not supported", ErrRegex)
	case syntax.OpWordBoundary:
		return nil, fmt.Errorf("%w: word boundaries (\\b) are not supported", ErrRegex)
	case syntax.OpNoWordBoundary:
		return nil, fmt.Errorf("%w: non-word boundaries (\\B) are not supported", ErrRegex)
	case syntax.OpCapture:
		return c.conv(re.Sub[0], start, end)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		return c.repeat(re)
	case syntax.OpConcat:
		return c.concat(re.Sub, start, end)
	case syntax.OpAlternate:
		out := make(alt, 0, len(re.Sub))
		for _, sub := range re.Sub {
			x, err := c.conv(sub, start, end)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unsupported construct %s", ErrRegex, re)
}

func (c reConv) concat(subs []*syntax.Regexp, start, end bool) (expr, error) {
	// The prefix before the first consuming element, and the suffix after the
	// last, count as the ends of the pattern.
	isAnchor := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpBeginText || r.Op == syntax.OpEndText || r.Op == syntax.OpEmptyMatch
	}
	first, last := 0, len(subs)-1
	for first < len(subs) && isAnchor(subs[first]) {
		first++
	}
	for last >= 0 && isAnchor(subs[last]) {
		last--
	}
	out := make(seq, 0, len(subs))
	for i, sub := range subs {
		x, err := c.conv(sub, start && i <= first, end && i >= last)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func (c reConv) repeat(re *syntax.Regexp) (expr, error) {
	x, err := c.conv(re.Sub[0], false, false)
	if err != nil {
		return nil, err
	}
	min, max := re.Min, re.Max
	switch re.Op {
	case syntax.OpStar:
		min, max = 0, -1
	case syntax.OpPlus:
		min, max = 1, -1
	case syntax.OpQuest:
		min, max = 0, 1
	}
	if max < 0 && isNullable(x, nil) {
		// llama.cpp rejects S* for a nullable S (left recursion); when S
		// matches "", S{m,} is the same language as (S without "")*.
		return rep{nonEmpty(x), 0, -1}, nil
	}
	return rep{x, min, max}, nil
}

// nonEmpty returns an expression for the non-empty strings of x (x holds no
// rule references).
func nonEmpty(x expr) expr {
	if !isNullable(x, nil) {
		return x
	}
	switch x := x.(type) {
	case lit:
		return nothing{}
	case alt:
		out := make(alt, 0, len(x))
		for _, e := range x {
			out = append(out, nonEmpty(e))
		}
		return out
	case rep:
		// Every non-empty string of S{m,n} with "" in S is 1..n non-empty
		// pieces of S.
		return rep{nonEmpty(x.x), 1, x.max}
	case seq:
		// All elements are nullable: pick the first non-empty one.
		out := make(alt, 0, len(x))
		for i := range x {
			out = append(out, append(seq{nonEmpty(x[i])}, x[i+1:]...))
		}
		return out
	}
	return nothing{}
}

func (c reConv) literal(runes []rune, fold bool) expr {
	if !fold {
		var b strings.Builder
		for _, r := range runes {
			if c.mode == reJSON {
				b.WriteString(jsonEscapeRune(r))
			} else {
				b.WriteRune(r)
			}
		}
		return lit(b.String())
	}
	out := make(seq, 0, len(runes))
	for _, r := range runes {
		ranges := []rune{r, r}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			ranges = append(ranges, f, f)
		}
		out = append(out, c.class(ranges))
	}
	return out
}

// class converts inclusive rune ranges. In JSON mode the characters a JSON
// string must escape are split out as escaped literals.
//
// Classes are always positive and limited to Unicode scalar values (no
// surrogates, nothing above U+10FFFF): llama.cpp's UTF-8 decoder maps some
// invalid byte sequences to such values, which a negated class or '.'
// would accept.
func (c reConv) class(ranges []rune) expr {
	ranges = scalarRanges(ranges)
	if c.mode == reRaw {
		if len(ranges) == 0 {
			return nothing{}
		}
		return class{ranges: ranges}
	}
	var safe []rune
	var out alt
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for _, seg := range [][2]rune{{0x20, '"' - 1}, {'"' + 1, '\\' - 1}, {'\\' + 1, unicode.MaxRune}} {
			l, h := max(lo, seg[0]), min(hi, seg[1])
			if l <= h {
				safe = append(safe, l, h)
			}
		}
		for r := lo; r <= hi && r < 0x20; r++ {
			out = append(out, lit(jsonEscapeRune(r)))
		}
		for _, r := range []rune{'"', '\\'} {
			if lo <= r && r <= hi {
				out = append(out, lit(jsonEscapeRune(r)))
			}
		}
	}
	if len(safe) > 0 {
		out = append(alt{class{ranges: safe}}, out...)
	}
	switch len(out) {
	case 0:
		return nothing{}
	case 1:
		return out[0]
	}
	return out
}

// jsonEscapeRune writes r as it appears inside a JSON string literal.
func jsonEscapeRune(r rune) string {
	switch r {
	case '"':
		return `\"`
	case '\\':
		return `\\`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	}
	if r < 0x20 {
		return fmt.Sprintf(`\u%04x`, r)
	}
	if !utf8.ValidRune(r) {
		return string(utf8.RuneError)
	}
	return string(r)
}

// scalarRanges clips rune ranges to Unicode scalar values.
func scalarRanges(ranges []rune) []rune {
	var out []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], min(ranges[i+1], unicode.MaxRune)
		for _, seg := range [][2]rune{{lo, min(hi, 0xD7FF)}, {max(lo, 0xE000), hi}} {
			if seg[0] <= seg[1] {
				out = append(out, seg[0], seg[1])
			}
		}
	}
	return out
}

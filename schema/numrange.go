package schema

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Generated numbers have at most maxDigits integer digits, so every bound
// beyond ±numLimit is already implied by the grammar.
const (
	maxDigits = 15
	numLimit  = 999_999_999_999_999
)

var (
	digit    = class{ranges: []rune{'0', '9'}}
	digit1to = class{ranges: []rune{'1', '9'}}
)

// intRange matches the decimal integers in [lo, hi] written canonically (no
// leading zeros, no "-0"). lo ≤ hi, both within ±numLimit.
func intRange(lo, hi int64) expr {
	var out alt
	if lo < 0 {
		out = append(out, seq{lit("-"), natRange(max(1, -hi), -lo)})
	}
	if hi >= 0 {
		out = append(out, natRange(max(lo, 0), hi))
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

// natRange matches the canonical decimals of [a, b], 0 ≤ a ≤ b.
func natRange(a, b int64) expr {
	var out alt
	la, lb := len(strconv.FormatInt(a, 10)), len(strconv.FormatInt(b, 10))
	for l := la; l <= lb; l++ {
		lo, hi := a, b
		if l > 1 {
			lo = max(a, pow10(l-1))
		}
		hi = min(b, pow10(l)-1)
		out = append(out, sameLen(strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10)))
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// sameLen matches the digit strings between x and y, of equal length.
func sameLen(x, y string) expr {
	if x == y {
		return lit(x)
	}
	if len(x) == 1 {
		return digitClass(x[0], y[0])
	}
	if x[0] == y[0] {
		return seq{lit(x[:1]), sameLen(x[1:], y[1:])}
	}
	n := len(x) - 1
	var out alt
	from, to := x[0], y[0]
	if x[1:] != strings.Repeat("0", n) {
		out = append(out, seq{lit(x[:1]), sameLen(x[1:], strings.Repeat("9", n))})
		from++
	}
	highFull := y[1:] == strings.Repeat("9", n)
	if !highFull {
		to--
	}
	if from <= to {
		out = append(out, seq{digitClass(from, to), rep{digit, n, n}})
	}
	if !highFull {
		out = append(out, seq{lit(y[:1]), sameLen(strings.Repeat("0", n), y[1:])})
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

func digitClass(a, b byte) expr {
	if a == b {
		return lit(string(a))
	}
	return class{ranges: []rune{rune(a), rune(b)}}
}

// genericNumber is any JSON number with at most maxDigits integer and
// fraction digits and no exponent.
func genericNumber() expr {
	return seq{
		rep{lit("-"), 0, 1},
		alt{lit("0"), seq{digit1to, rep{digit, 0, maxDigits - 1}}},
		rep{seq{lit("."), rep{digit, 1, maxDigits}}, 0, 1},
	}
}

// fraction is a non-empty fraction ending in a non-zero digit, so "k.f"
// lies strictly between k and k+1.
func fraction() expr {
	return seq{lit("."), rep{digit, 0, maxDigits - 1}, digit1to}
}

// bound is one numeric limit of a schema.
type bound struct {
	v         *big.Rat
	exclusive bool
}

func ratCeil(r *big.Rat) *big.Int {
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

func ratFloor(r *big.Rat) *big.Int {
	q, _ := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int)) // Euclidean: floor for positive divisor
	return q
}

// intBounds turns bounds into the inclusive integer range they allow
// (nil for an absent side).
func intBounds(lo, hi *bound) (l, h *big.Int) {
	one := big.NewInt(1)
	if lo != nil {
		if lo.exclusive {
			l = new(big.Int).Add(ratFloor(lo.v), one)
		} else {
			l = ratCeil(lo.v)
		}
	}
	if hi != nil {
		if hi.exclusive {
			h = new(big.Int).Sub(ratCeil(hi.v), one)
		} else {
			h = ratFloor(hi.v)
		}
	}
	return l, h
}

// clamp limits an optional bound to ±numLimit.
func clamp(x *big.Int, def int64) int64 {
	if x == nil {
		return def
	}
	if x.Cmp(big.NewInt(numLimit)) > 0 {
		return numLimit
	}
	if x.Cmp(big.NewInt(-numLimit)) < 0 {
		return -numLimit
	}
	return x.Int64()
}

// integerExpr matches the integers the bounds allow. ok is false when no
// integer lies in range (unsat) or none has at most maxDigits digits.
func integerExpr(lo, hi *bound) (x expr, unsat bool, ok bool) {
	l, h := intBounds(lo, hi)
	if l != nil && h != nil && l.Cmp(h) > 0 {
		return nil, true, false
	}
	if l == nil && h == nil {
		return seq{rep{lit("-"), 0, 1}, alt{lit("0"), seq{digit1to, rep{digit, 0, maxDigits - 1}}}}, false, true
	}
	a, b := clamp(l, -numLimit), clamp(h, numLimit)
	if a > b || (l != nil && l.Cmp(big.NewInt(numLimit)) > 0) || (h != nil && h.Cmp(big.NewInt(-numLimit)) < 0) {
		return nil, false, false
	}
	return intRange(a, b), false, true
}

// numberExpr matches numbers the bounds allow: the integers in range, and
// decimals k.f (strictly between k and k+1) for each k with [k, k+1] in
// range. Values between a fractional bound and the next integer are not
// generated (sound, not complete).
func numberExpr(lo, hi *bound) (x expr, unsat bool, ok bool) {
	if lo != nil && hi != nil {
		c := lo.v.Cmp(hi.v)
		if c > 0 || (c == 0 && (lo.exclusive || hi.exclusive)) {
			return nil, true, false
		}
	}
	if lo == nil && hi == nil {
		return genericNumber(), false, true
	}
	var out alt
	if ix, _, ok := integerExpr(lo, hi); ok {
		out = append(out, ix)
	}
	a, b := int64(-numLimit), int64(numLimit-1)
	if lo != nil {
		a = clamp(ratCeil(lo.v), -numLimit)
	}
	if hi != nil {
		b = clamp(new(big.Int).Sub(ratFloor(hi.v), big.NewInt(1)), numLimit-1)
		b = min(b, numLimit-1)
	}
	if lo != nil && ratCeil(lo.v).Cmp(big.NewInt(numLimit)) >= 0 {
		a = numLimit // nothing
	}
	if nb := min(b, -1); a <= nb {
		out = append(out, seq{lit("-"), natRange(-nb-1, -a-1), fraction()})
	}
	if na := max(a, 0); na <= b {
		out = append(out, seq{natRange(na, b), fraction()})
	}
	if len(out) == 0 {
		return nil, false, false
	}
	return out, false, true
}

// parseBound reads a numeric keyword value.
func parseBound(n *jnode) (*big.Rat, error) {
	if n.kind != 'n' {
		return nil, fmt.Errorf("want a number, got %s", n.kindName())
	}
	text := n.num.String()
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		// Keep big.Rat away from huge exponents: beyond ±50 only the sign and
		// the side of 1 matter to the grammar.
		exp, err := strconv.Atoi(strings.TrimPrefix(text[i+1:], "+"))
		if err != nil || exp > 50 || exp < -50 {
			mant, ok := new(big.Rat).SetString(text[:i])
			if !ok {
				return nil, fmt.Errorf("bad number %s", text)
			}
			scale := new(big.Rat).SetFrac64(1, 1_000_000_000_000_000_000)
			if (err == nil && exp > 0) || (err != nil && !strings.Contains(text[i+1:], "-")) {
				scale = new(big.Rat).SetInt64(1_000_000_000_000_000_000)
			}
			return scale.Mul(scale, big.NewRat(int64(mant.Sign()), 1)), nil
		}
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, fmt.Errorf("bad number %s", n.num)
	}
	return r, nil
}

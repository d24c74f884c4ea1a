package eval

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// canonicalJSON returns s re-encoded canonically — compact, object keys
// sorted, numbers in their shortest form (1.0 and 1 are the same) — and
// whether s is one JSON value.
func canonicalJSON(s string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || strings.TrimSpace(s[dec.InputOffset():]) != "" {
		return "", false
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(canonicalNumbers(v)); err != nil {
		return "", false
	}
	return strings.TrimSuffix(buf.String(), "\n"), true
}

// canonicalNumbers rewrites json.Numbers in their shortest form: integers
// that fit int64 exactly, anything else through float64.
func canonicalNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			if f == float64(int64(f)) && f >= -1<<53 && f <= 1<<53 {
				return json.Number(strconv.FormatInt(int64(f), 10))
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = canonicalNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonicalNumbers(e)
		}
	}
	return v
}

// normKey is the normalized form of an answer: trimmed and case-folded
// text, or canonical JSON when the trimmed text is one JSON value. Two
// answers match, normalized, when their keys are equal.
func normKey(s string) string {
	t := strings.TrimSpace(s)
	if j, ok := canonicalJSON(t); ok {
		return "json:" + j
	}
	return "text:" + strings.ToLower(t)
}

// Agree reports whether two answers match, normalized: how paw test's
// baseline agreement and the server's shadow agreement compare them.
func Agree(a, b string) bool { return normKey(a) == normKey(b) }

// expectedKey is the normalized form of a case's expected answer.
func (c *Case) expectedKey() string {
	if c.ExpectedJSON {
		return "json:" + c.Expected
	}
	return normKey(c.Expected)
}

// exactMatch is the raw comparison: byte equality for a string expected,
// canonical JSON equality for a JSON value.
func (c *Case) exactMatch(output string) bool {
	if c.ExpectedJSON {
		j, ok := canonicalJSON(output)
		return ok && j == c.Expected
	}
	return output == c.Expected
}

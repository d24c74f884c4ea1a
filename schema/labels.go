package schema

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// labelTrigger finds phrases that introduce a closed set of answers.
var labelTrigger = regexp.MustCompile(`(?i)\b(?:(?:exactly|only|just|strictly)\s+)?one\s+of(?:\s+(?:the\s+)?(?:following|these|those))?(?:\s+(?:labels?|words?|options?|values?|categories|classes|answers?|strings?|tokens?|choices?))?[ \t]*(?:[:\-–—][ \t]*)?|(?i)\b(?:choose|pick|select)\s+(?:one\s+)?(?:from|between|among)(?:\s+the\s+following)?[ \t]*:?[ \t]*`)

var quoted = regexp.MustCompile("\"([^\"\\n]{1,60})\"|'([^'\\n]{1,60})'|`([^`\\n]{1,60})`|“([^”\\n]{1,60})”")

const (
	maxProposedLabels = 50
	maxLabelLen       = 40
	maxLabelWords     = 3
)

// ProposeLabels looks in a spec or pseudo-program for a closed answer set
// ("Return ONLY one of: a, b, c", "Respond with exactly one of the
// following: positive, negative or neutral", `Output one of ["spam",
// "ham"]`, or a bulleted list after "one of the following:") and returns
// its labels in order. It is conservative: ok is false unless every place
// that introduces a set agrees on one list of 2 to 50 short, distinct labels.
func ProposeLabels(text string) (labels []string, ok bool) {
	if !utf8.ValidString(text) {
		return nil, false
	}
	for _, m := range labelTrigger.FindAllStringIndex(text, -1) {
		got := parseLabelList(text[m[1]:])
		if got == nil {
			return nil, false
		}
		if labels != nil && !slices.Equal(labels, got) {
			return nil, false
		}
		labels = got
	}
	return labels, labels != nil
}

// parseLabelList reads the list at the start of s, or returns nil.
func parseLabelList(s string) []string {
	var items []string
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil
		}
		items = splitItems(s[1:end])
	case strings.HasPrefix(strings.TrimLeft(s, " \t"), "\n"):
		items = bulletItems(strings.TrimLeft(s, " \t\n"))
	default:
		end := len(s)
		for _, stop := range []string{"\n", ". ", ".\t", ";"} {
			if i := strings.Index(s, stop); i >= 0 && i < end {
				end = i
			}
		}
		items = splitItems(strings.TrimSuffix(strings.TrimSpace(s[:end]), "."))
	}
	if len(items) < 2 || len(items) > maxProposedLabels {
		return nil
	}
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it] || !plausibleLabel(it) {
			return nil
		}
		seen[it] = true
	}
	return items
}

// splitItems splits "a, b or c" or `"a", "b"`: when quotes are used, the
// text between them may only hold separators.
func splitItems(s string) []string {
	if ms := quoted.FindAllStringSubmatchIndex(s, -1); ms != nil {
		var items []string
		prev := 0
		for _, m := range ms {
			if !onlySeparators(s[prev:m[0]]) {
				return nil
			}
			for g := 2; g < len(m); g += 2 {
				if m[g] >= 0 {
					items = append(items, s[m[g]:m[g+1]])
				}
			}
			prev = m[1]
		}
		if !onlySeparators(strings.TrimRight(s[prev:], ".")) {
			return nil
		}
		return items
	}
	var items []string
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if i == len(parts)-1 {
			for _, conj := range []string{"or ", "and "} {
				p = strings.TrimSpace(strings.TrimPrefix(p, conj))
			}
			if a, b, found := strings.Cut(p, " or "); found {
				items = append(items, strings.TrimSpace(a), strings.TrimSpace(b))
				continue
			}
		}
		items = append(items, p)
	}
	return items
}

func onlySeparators(s string) bool {
	for _, f := range strings.Fields(strings.NewReplacer(",", " ", "|", " ", "/", " ").Replace(s)) {
		if f != "or" && f != "and" {
			return false
		}
	}
	return true
}

// bulletItems reads consecutive "- x" / "* x" / "• x" / "1. x" lines.
func bulletItems(s string) []string {
	var items []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := "", false
		for _, b := range []string{"- ", "* ", "• "} {
			if r, found := strings.CutPrefix(line, b); found {
				rest, ok = r, true
			}
		}
		if !ok {
			if i := strings.IndexAny(line, ".)"); i > 0 && i <= 2 && strings.Trim(line[:i], "0123456789") == "" {
				rest, ok = line[i+1:], true
			}
		}
		if !ok {
			break
		}
		rest = strings.TrimSpace(rest)
		if m := quoted.FindStringSubmatch(rest); m != nil && len(m[0]) == len(rest) {
			for _, g := range m[1:] {
				if g != "" {
					rest = g
				}
			}
		}
		items = append(items, rest)
	}
	return items
}

// plausibleLabel rejects prose posing as a label.
func plausibleLabel(s string) bool {
	if s == "" || len(s) > maxLabelLen || strings.TrimSpace(s) != s {
		return false
	}
	if len(strings.Fields(s)) > maxLabelWords || strings.ContainsAny(s, ":()[]{}\"\n…") {
		return false
	}
	switch strings.ToLower(strings.TrimRight(s, ".")) {
	case "etc", "etc.", "...", "others", "other labels", "the following", "these", "them", "those":
		return false
	}
	return !strings.Contains(s, "...")
}

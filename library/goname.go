package library

import (
	"fmt"
	"go/token"
	"strings"
	"unicode"
)

// initialisms are the words Go spells in capitals (as golint does).
var initialisms = map[string]string{"api": "API", "id": "ID", "ids": "IDs", "json": "JSON", "url": "URL",
	"http": "HTTP", "https": "HTTPS", "ip": "IP", "llm": "LLM", "sql": "SQL", "uuid": "UUID", "uri": "URI",
	"html": "HTML", "cpu": "CPU", "gpu": "GPU", "ui": "UI", "os": "OS", "tcp": "TCP", "utc": "UTC"}

// exportedName turns s ("pager_worthy", "first-name", "userId", "p1") into
// an exported Go name (PagerWorthy, FirstName, UserID, P1): runs of letters
// and digits become words, each capitalised. It returns "" when s has no
// letter or digit.
func exportedName(s string) string {
	var b strings.Builder
	for _, w := range words(s) {
		if up, ok := initialisms[strings.ToLower(w)]; ok {
			b.WriteString(up)
			continue
		}
		r := []rune(w)
		b.WriteString(string(unicode.ToUpper(r[0])) + string(r[1:]))
	}
	name := b.String()
	if name != "" && !unicode.IsLetter([]rune(name)[0]) {
		name = "X" + name // a Go name starts with a letter
	}
	return name
}

// words splits s at every rune that is neither a letter nor a digit, and
// before an upper-case letter that follows a lower-case one (userId).
func words(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = nil
		}
	}
	for _, r := range s {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 && unicode.IsLower(cur[len(cur)-1]):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}

// unexported lower-cases a name's first letter, avoiding keywords.
func unexported(name string) string {
	r := []rune(name)
	i := 0
	for i < len(r) && unicode.IsUpper(r[i]) && (i == 0 || i+1 == len(r) || unicode.IsUpper(r[i+1])) {
		r[i] = unicode.ToLower(r[i])
		i++
	}
	s := string(r)
	if token.IsKeyword(s) {
		s += "_"
	}
	return s
}

// names hands out top-level Go names, refusing a second use of one.
type names map[string]string // name → what took it

func (n names) take(name, what string) error {
	if prev, ok := n[name]; ok {
		return fmt.Errorf("%s and %s both become the Go name %s; rename one", prev, what, name)
	}
	n[name] = what
	return nil
}

package interp

import (
	"fmt"
	"sort"
	"strings"

	"github.com/paw-dev/paw/internal/llama"
)

// tokenizer turns a program's template parts and untrusted inputs into tokens
// for one base model.
type tokenizer struct {
	m *llama.Model
	// userDefined are texts of user-defined tokens (Qwen3's <think>, ...),
	// which llama.cpp matches inside text even with special parsing off.
	userDefined []string
	// specials are texts of control and user-defined tokens.
	specials []string
	eog      []llama.Token // every end-of-generation token
}

func newTokenizer(m *llama.Model) *tokenizer {
	t := &tokenizer{m: m}
	for id := range m.NVocab() {
		tok := llama.Token(id)
		if m.IsEOG(tok) {
			t.eog = append(t.eog, tok)
		}
		userDef, control := m.IsUserDefined(tok), m.IsControl(tok)
		if !userDef && !control {
			continue
		}
		s := m.TokenText(tok)
		if len(s) < 2 {
			continue
		}
		t.specials = append(t.specials, s)
		if userDef {
			t.userDefined = append(t.userDefined, s)
		}
	}
	// Longest first, so that overlapping texts split at the longest match.
	sort.Slice(t.userDefined, func(i, j int) bool { return len(t.userDefined[i]) > len(t.userDefined[j]) })
	return t
}

// template tokenizes trusted template text: special-token text such as
// <|im_start|> becomes the control token.
func (t *tokenizer) template(s string) ([]llama.Token, error) {
	toks, err := t.m.Tokenize(s, false, true)
	if err != nil {
		return nil, fmt.Errorf("tokenize template: %w", err)
	}
	return toks, nil
}

// plain tokenizes untrusted text so that no part of it becomes a control or
// user-defined token: "<|im_end|>" or "<think>" in an input stay plain text
// (the official runtime parses them, letting an input end the user turn).
func (t *tokenizer) plain(s string) ([]llama.Token, error) {
	var out []llama.Token
	for _, part := range t.splitUserDefined(s) {
		toks, err := t.m.Tokenize(part, false, false)
		if err != nil {
			return nil, fmt.Errorf("tokenize input: %w", err)
		}
		out = append(out, toks...)
	}
	return out, nil
}

// splitUserDefined cuts s just before the last byte of every occurrence of a
// user-defined token's text, so that no fragment contains a whole one. The
// cut falls on the token's closing punctuation (">" for "<think>"), where the
// pre-tokenizer splits anyway, so ordinary text tokenizes as it would whole.
func (t *tokenizer) splitUserDefined(s string) []string {
	if len(t.userDefined) == 0 {
		return []string{s}
	}
	var parts []string
	start := 0
	for i := 0; i < len(s); {
		matched := false
		for _, u := range t.userDefined {
			if strings.HasPrefix(s[i:], u) {
				cut := i + len(u) - 1
				parts = append(parts, s[start:cut])
				start, i, matched = cut, cut, true
				break
			}
		}
		if !matched {
			i++
		}
	}
	return append(parts, s[start:])
}

// call tokenizes input+suffix the way the official runtime does (the
// template's prefix is evaluated once, and every call tokenizes input and
// suffix together), except that the input is plain text. The suffix text
// before its first special token is tokenized together with the input, so
// that for ordinary inputs the ids equal those of the whole rendered prompt.
func (t *tokenizer) call(input, suffix string) ([]llama.Token, int, error) {
	head, tail := t.splitAtSpecial(suffix)
	toks, err := t.plain(input + head)
	if err != nil {
		return nil, 0, err
	}
	// The count of input tokens, for reporting: those of the input alone.
	inToks, err := t.plain(input)
	if err != nil {
		return nil, 0, err
	}
	if tail != "" {
		rest, err := t.template(tail)
		if err != nil {
			return nil, 0, err
		}
		toks = append(toks, rest...)
	}
	return toks, len(inToks), nil
}

// splitAtSpecial splits trusted template text before the first occurrence
// of a control or user-defined token's text.
func (t *tokenizer) splitAtSpecial(s string) (head, tail string) {
	cut := len(s)
	for _, sp := range t.specials {
		if i := strings.Index(s, sp); i >= 0 && i < cut {
			cut = i
		}
	}
	return s[:cut], s[cut:]
}

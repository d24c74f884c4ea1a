package interp

import (
	"strings"
	"testing"
)

// FuzzSplitUserDefined checks the cut of untrusted input around user-defined
// token texts: the parts rebuild the input, and no part holds a whole one.
func FuzzSplitUserDefined(f *testing.F) {
	for _, s := range []string{"", "plain text", "<think>", "a<think>b</think>c", "<think><think>", "</think", "<tool_call>x</tool_call>", "<<think>>"} {
		f.Add(s)
	}
	tk := &tokenizer{userDefined: []string{"</tool_call>", "<tool_call>", "</think>", "<think>"}}
	f.Fuzz(func(t *testing.T, s string) {
		parts := tk.splitUserDefined(s)
		if got := strings.Join(parts, ""); got != s {
			t.Fatalf("parts %q rebuild %q, not %q", parts, got, s)
		}
		for _, p := range parts {
			for _, u := range tk.userDefined {
				if strings.Contains(p, u) {
					t.Fatalf("part %q of %q still holds %q", p, s, u)
				}
			}
		}
	})
}

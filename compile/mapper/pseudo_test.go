package mapper

import (
	"testing"

	"github.com/paw-dev/paw/program"
)

// TestExtractPseudo: the pseudo-program is cut from a reply between its
// markers, completed when the reply stops short, and always renders into
// the interpreter's template (valid UTF-8, no input placeholder).
func TestExtractPseudo(t *testing.T) {
	for reply, want := range map[string]string{
		"Sure!\n[PSEUDO_PROGRAM]\nTask: x\n[END_PSEUDO_PROGRAM]\nDone.": "[PSEUDO_PROGRAM]\nTask: x\n[END_PSEUDO_PROGRAM]",
		"Task: cut short":                            "[PSEUDO_PROGRAM]\nTask: cut short\n[END_PSEUDO_PROGRAM]",
		"[PSEUDO_PROGRAM]\nTask: \xe2\x82":           "[PSEUDO_PROGRAM]\nTask: \uFFFD\n[END_PSEUDO_PROGRAM]",
		"Task: echo " + program.Placeholder + " now": "[PSEUDO_PROGRAM]\nTask: echo  now\n[END_PSEUDO_PROGRAM]",
	} {
		got := ExtractPseudo(reply)
		if got != want {
			t.Errorf("ExtractPseudo(%q) = %q, want %q", reply, got, want)
		}
		if _, err := program.RenderTemplate(program.InterpreterQwen3, got); err != nil {
			t.Errorf("%q: %v", got, err)
		}
	}
}

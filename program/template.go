package program

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Placeholder marks where a program's input goes in its prompt template.
const Placeholder = "{INPUT_PLACEHOLDER}"

// Interpreters: the meta.json "interpreter" values of official programs.
const (
	InterpreterQwen3 = "Qwen/Qwen3-0.6B"
	InterpreterGPT2  = "gpt2"
)

// Default runtime ids (meta.json "runtime_id"): the base GGUF each
// interpreter runs on in the official SDK. They are the ids of the official
// runtimes, whose files hub pins; this is their one definition.
const (
	DefaultRuntimeQwen3 = "qwen3-0.6b-q6_k"
	DefaultRuntimeGPT2  = "gpt2-q8_0"
)

// A Template is a rendered interpreter prompt split at its placeholder.
type Template struct {
	Prefix, Suffix string
}

// ParseTemplate splits s at its single {INPUT_PLACEHOLDER}. It fails with
// [ErrPlaceholder] if s has none or several, and with [ErrTemplate] if s is
// not valid UTF-8.
func ParseTemplate(s string) (Template, error) {
	if !utf8.ValidString(s) {
		return Template{}, fmt.Errorf("%w: not valid UTF-8", ErrTemplate)
	}
	if n := strings.Count(s, Placeholder); n != 1 {
		return Template{}, fmt.Errorf("%w (found %d)", ErrPlaceholder, n)
	}
	prefix, suffix, _ := strings.Cut(s, Placeholder)
	return Template{Prefix: prefix, Suffix: suffix}, nil
}

// String returns the template text, with the placeholder.
func (t Template) String() string { return t.Prefix + Placeholder + t.Suffix }

// Render returns the prompt for input. A placeholder inside input is kept
// literally, as the official SDK's single replace does.
func (t Template) Render(input string) string { return t.Prefix + input + t.Suffix }

// RenderTemplate returns the official prompt template of interpreter (an
// interpreter name or alias, see [ParseInterpreter]) around pseudoProgram.
//
// Qwen3 programs use the chat-rendered user turn with thinking disabled:
//
//	<|im_start|>user\n{pseudo}\n\n[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n
//
// GPT-2 has no chat template, so its programs use the same inner text and
// nothing else: "{pseudo}\n\n[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]". That
// is the paper's interpreter prompt (appendix C); no published source shows a
// GPT-2 suffix after [END_INPUT], so none is appended. Bundles always carry
// their own rendered template, so programs compiled elsewhere keep theirs.
func RenderTemplate(interpreter, pseudoProgram string) (Template, error) {
	interp, err := ParseInterpreter(interpreter)
	if err != nil {
		return Template{}, err
	}
	if strings.Contains(pseudoProgram, Placeholder) {
		return Template{}, fmt.Errorf("%w: the pseudo-program contains it", ErrPlaceholder)
	}
	if !utf8.ValidString(pseudoProgram) {
		return Template{}, fmt.Errorf("%w: pseudo-program is not valid UTF-8", ErrTemplate)
	}
	inner := Template{Prefix: pseudoProgram + "\n\n[INPUT]\n", Suffix: "\n[END_INPUT]"}
	if interp == InterpreterGPT2 {
		return inner, nil
	}
	return Template{
		Prefix: "<|im_start|>user\n" + inner.Prefix,
		Suffix: inner.Suffix + "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
	}, nil
}

// ParseInterpreter returns the canonical interpreter name for s: "qwen3",
// "qwen3-0.6b" and "Qwen/Qwen3-0.6B" give [InterpreterQwen3]; "gpt2" gives
// [InterpreterGPT2].
func ParseInterpreter(s string) (string, error) {
	switch strings.ToLower(s) {
	case "qwen3", "qwen3-0.6b", strings.ToLower(InterpreterQwen3):
		return InterpreterQwen3, nil
	case "gpt2", "gpt-2":
		return InterpreterGPT2, nil
	}
	return "", fmt.Errorf("%w %q (want qwen3 or gpt2)", ErrInterpreter, s)
}

// Arch returns the GGUF general.architecture of interpreter's base model,
// or "" if the interpreter is not known.
func Arch(interpreter string) string {
	switch interpreter {
	case InterpreterQwen3:
		return "qwen3"
	case InterpreterGPT2:
		return "gpt2"
	}
	return ""
}

// DefaultRuntimeID returns the runtime id official programs of interpreter
// declare, or "" if the interpreter is not known.
func DefaultRuntimeID(interpreter string) string {
	switch interpreter {
	case InterpreterQwen3:
		return DefaultRuntimeQwen3
	case InterpreterGPT2:
		return DefaultRuntimeGPT2
	}
	return ""
}

// Package discover finds the fuzzy functions hiding in a system's LLM call
// logs: prompt templates sent many times with a varying slot filled in and
// answered from a small label set or one JSON shape. It reads the logs
// (OpenAI chat-completions request/response JSONL, Batch API input/output
// pairs, generic JSONL; gzip transparently), mines the templates, ranks them
// by what makes a call compilable, and exports one into a project's
// paw.yaml with its test cases and training examples.
//
// # Bounded memory
//
// A log is read once, line by line; no call is kept beyond its template's
// aggregates (counts, times, an answer histogram capped at MaxAnswers
// distinct answers, an inferred JSON Schema, a capped map of input hashes
// for answer consistency, token sums) and a reservoir sample of
// Options.Sample examples. Groups, templates per group and pending
// (unclustered) texts are capped too; what falls beyond a cap is counted as
// unclustered, never stored.
//
// # Template mining
//
// Calls are grouped by model, system message (with any fixed conversation
// turns before the last user message) and the user message's template:
//
//  1. A template is a list of literal segments with a slot between each two
//     (the first and last may be empty, for a slot at the start or end). A
//     user message matches when it starts with the first segment, ends with
//     the last and holds the middle ones in order (leftmost); the text
//     between them is the slot values. Most calls of a busy template take
//     only this check.
//  2. A message that matches no template of its group is aligned with each
//     template's literal tokens (tokens: runs of letters, of digits, of
//     spaces, single other characters) by longest common subsequence. When
//     the tokens it shares keep most of the template's literal text, the
//     template is generalized to those shared runs: literals the message
//     lacks become part of a slot. Generalizing only drops literals, so every
//     message that matched before still matches.
//  3. Otherwise it is aligned with the group's pending messages (the last
//     few unmatched ones); two messages that share enough literal text start
//     a new template.
//
// Alignment takes the common prefix and suffix, then, recursively, the
// common run of most non-space tokens (Ratcliff/Obershelp), not a longest
// common subsequence: scattered words two slot values share by chance would
// outnumber a separator's few tokens. Literal runs inside a message (not
// anchored at its start or end) must be substantial (MinMiddleLiteral
// non-space characters in two or more tokens, or a line break with text) to
// count: a template's separators ("\nReview: ") are, a shared word is not. Accidental shared
// text that survives is generalized away by the first message without it.
// Slot values are recovered at the end from the sampled examples against the
// final template.
//
// # Ranking
//
// Each template gets its volume (calls per day over the log's time span),
// stability (a template whose calls stop where another of the same model and
// answers starts is flagged as changed, both sides; so is one loosened after
// many calls when most calls since fit only the loosened text: a prompt
// reworded in place), narrowness (a label set,
// or one JSON shape with its inferred schema), input length in tokens against
// the interpreter's context, answer consistency (repeated inputs answered the
// same) and the money at stake (calls per day × tokens per call × price per
// 1k tokens). The score multiplies these, so a stable, narrow, busy template
// ranks first.
package discover

import "errors"

// Sentinel errors.
var (
	// ErrFormat means a log line is not in the format read; such lines are
	// counted and reported, never fatal.
	ErrFormat = errors.New("discover: malformed log line")
	// ErrNotFound means an export names no discovered template.
	ErrNotFound = errors.New("discover: no such template")
	// ErrExport means a template cannot be exported as asked.
	ErrExport = errors.New("discover: cannot export")
)

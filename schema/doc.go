// Package schema turns a fuzzy function's output contract — free text, one of
// a set of labels, JSON matching a JSON Schema, or text matching a regular
// expression — into a GBNF grammar for llama.cpp's grammar sampler, and
// validates outputs against the contract.
//
// A Contract is built with Labels, JSON or Regex (or is the zero value / Text
// for free text). Its Grammar constrains decoding; its Validate checks the
// decoded text. Grammars are sound: every string a grammar accepts passes
// Validate. Where a constraint cannot be expressed exactly, the grammar is
// narrowed (never widened) or the constructor returns ErrUnsupportedSchema or
// ErrRegex; the few keywords that are only checked after decoding (oneOf's
// "exactly one") are named in JSON's documentation.
//
// The grammar dialect is llama.cpp's GBNF (grammars/README.md): rules
// "name ::= alternatives" with names made of letters, digits and '-', string
// literals, character classes, '.', groups and the repetitions * + ? {m,n}.
package schema

// Package program opens, validates and writes Program-as-Weights bundles
// (.paw files): a compiled fuzzy function made of a LoRA adapter for a small
// frozen interpreter (adapter.gguf), the rendered interpreter prompt
// (prompt_template.txt, with one {INPUT_PLACEHOLDER}) and its metadata
// (meta.json).
//
// A bundle is a ZIP archive or, as the hub cache stores published programs,
// a plain directory holding the same members. Reading is bounded: archive
// size, member count and expanded size are capped ([DefaultLimits]), and
// members that could escape a directory (.., absolute or backslash paths,
// symlinks, duplicates) are rejected with [ErrUnsafeMember].
//
// The package also converts Hugging Face PEFT LoRA adapters (safetensors) to
// llama.cpp LoRA GGUF files ([ConvertPEFT]) and assembles new bundles
// ([Pack]).
package program

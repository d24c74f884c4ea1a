// Package interp executes paw programs on llama.cpp: base models shared by
// many programs, LoRA adapters, prefix caches and batched decoding.
package interp

import (
	"fmt"

	"github.com/paw-dev/paw/internal/basemodel"
	"github.com/paw-dev/paw/internal/llama"
)

// LlamaCommit is the llama.cpp commit paw's engine is built from.
const LlamaCommit = llama.Commit

// SystemInfo reports the CPU features the engine was compiled for.
func SystemInfo() string { return llama.SystemInfo() }

// DefaultMaxTokens bounds a call's output when CallOptions.MaxTokens is 0:
// the raw model's default (package basemodel), one figure for both.
const DefaultMaxTokens = basemodel.DefaultMaxTokens

// checkSampling rejects a negative token limit or temperature as ErrOptions.
func checkSampling(maxTokens int, temperature float32) error {
	if err := basemodel.CheckSampling(maxTokens, temperature); err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return nil
}

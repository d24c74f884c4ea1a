package interp

import (
	"slices"

	"github.com/paw-dev/paw/internal/llama"
)

// Speculative drafts. A fuzzy function's outputs repeat: a classifier answers
// with one of a few labels, an extractor or a JSON repairer copies its input,
// and small models loop. So a greedy call guesses its next tokens by lookup —
// in the program's recent outputs, the call's own input, and what it has
// generated so far — and decodes the guesses in the same batch as the token
// before them. Each guess is kept only while it equals the token greedy
// decoding picks from the previous position's logits, so the output is the
// one-token-at-a-time output; an accepted guess saves a whole decode step.
// Guesses cost compute on these CPUs (a decode is compute-bound), so their
// number follows the program's acceptance rate and the batch size, and is
// zero where guessing does not pay.

const (
	draftHistory   = 16 // recent outputs kept per program
	draftOutputMax = 64 // tokens kept of each
	draftNgram     = 3  // longest suffix of the output matched
	draftPrompt    = 8  // most guesses after a prompt (cheap: it is a big batch)
)

// history is a program's recent distinct outputs, most recent first, and how
// well guessing has worked for it. Owned by the base's worker goroutine.
type history struct {
	outputs [][]llama.Token
	rate    float64 // moving average: share of tried guesses that were kept
	idle    int     // prompts since the last guess, for probing
}

func newHistory() *history { return &history{rate: 0.6} }

// add records an output.
func (h *history) add(out []llama.Token) {
	if len(out) == 0 {
		return
	}
	out = slices.Clone(out[:min(len(out), draftOutputMax)])
	h.outputs = slices.DeleteFunc(h.outputs, func(o []llama.Token) bool { return slices.Equal(o, out) })
	h.outputs = slices.Insert(h.outputs, 0, out)
	if len(h.outputs) > draftHistory {
		h.outputs = h.outputs[:draftHistory]
	}
}

// observe updates the acceptance rate: of tried guesses (each guess after a
// kept one, up to the first miss), kept were right.
func (h *history) observe(tried, kept int) {
	for i := range tried {
		ok := 0.0
		if i < kept {
			ok = 1
		}
		h.rate = 0.9*h.rate + 0.1*ok
	}
}

// Cost of one guess, as a share of a decode step, measured on the
// Qwen3-0.6B fixtures on 2 cores (decode is compute-bound): riding on a
// prompt's batch it is cheap; added to a lone call's one-token step it costs
// half a step; in a batch of several calls nearly a full call's share.
func guessCost(prompt bool, calls int) float64 {
	switch {
	case prompt:
		return 0.25
	case calls <= 1:
		return 0.5
	case calls <= 4:
		return 0.7
	}
	return 0.85
}

// limit is how many guesses to decode for one call: the k with the largest
// expected saving, sum over i<=k of rate^i (the i-th guess is kept only if all
// before it were) minus k times the cost. When guessing does not pay, a
// single guess after every 8th prompt keeps the rate current, so a program
// whose outputs settle into a pattern gets guesses again.
func (h *history) limit(prompt bool, calls int) int {
	most := draftPrompt
	if !prompt {
		most = 4
	}
	cost := guessCost(prompt, calls)
	best, bestGain, gain, p := 0, 0.0, 0.0, 1.0
	for k := 1; k <= most; k++ {
		p *= h.rate
		gain += p - cost
		if gain > bestGain {
			best, bestGain = k, gain
		}
	}
	if prompt {
		if h.idle++; best == 0 && h.idle >= 8 {
			best = 1
		}
		if best > 0 {
			h.idle = 0
		}
	}
	return best
}

// guess proposes up to k tokens to follow gen: the continuation of the
// longest suffix of gen (up to draftNgram tokens) found in the program's
// recent outputs, then in input, then earlier in gen; with nothing generated
// yet, the start of the most recent output.
func (h *history) guess(gen, input []llama.Token, k int) []llama.Token {
	if k <= 0 {
		return nil
	}
	if len(gen) == 0 {
		if len(h.outputs) == 0 {
			return nil
		}
		return h.outputs[0][:min(k, len(h.outputs[0]))]
	}
	for n := min(draftNgram, len(gen)); n >= 1; n-- {
		tail := gen[len(gen)-n:]
		for _, o := range h.outputs {
			if d := follow(o, tail, k); d != nil {
				return d
			}
		}
		if d := follow(input, tail, k); d != nil {
			return d
		}
		if d := follow(gen[:len(gen)-1], tail, k); d != nil {
			return d
		}
	}
	return nil
}

// follow returns up to k tokens after the last occurrence of tail in s that
// has at least one token after it, or nil.
func follow(s, tail []llama.Token, k int) []llama.Token {
	for i := len(s) - len(tail) - 1; i >= 0; i-- {
		if slices.Equal(s[i:i+len(tail)], tail) {
			j := i + len(tail)
			return s[j:min(j+k, len(s))]
		}
	}
	return nil
}

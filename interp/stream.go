package interp

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/paw-dev/paw/internal/llama"
)

// MaxTopLogprobs bounds CallOptions.TopLogprobs (OpenAI's limit).
const MaxTopLogprobs = 20

// TokenLogprob is one output token and the model's log-probability of it
// (unconstrained by any grammar); Top lists the most probable tokens at that
// step, most probable first, when CallOptions.TopLogprobs asked for them.
type TokenLogprob struct {
	Token   string         `json:"token"`
	Logprob float64        `json:"logprob"`
	Top     []TokenLogprob `json:"top_logprobs,omitempty"`
}

// Token is one step of a streamed call (CallOptions.OnToken): Text is what it
// adds to the output, and Logprob the token generated. Text is held back
// while it may still change (leading or trailing spaces, which the output
// trims, part of a stop string or of a UTF-8 sequence), so it can be empty;
// the texts of a call's Tokens concatenate to its Result.Output. A last
// Token with a nil Logprob releases text held back to the end.
type Token struct {
	Text    string
	Logprob *TokenLogprob
}

// tokenEvent is a generated token as the worker reports it: the caller's
// goroutine turns it into text, off the worker.
type tokenEvent struct {
	id  llama.Token
	lp  float64
	top []topEntry
}

type topEntry struct {
	id llama.Token
	lp float64
}

// topLogprobs returns the k most probable tokens of a logits row whose
// log-sum-exp is lse, most probable first.
func topLogprobs(row []float32, lse float64, k int) []topEntry {
	top := make([]topEntry, 0, k+1)
	for i, x := range row {
		if len(top) == k && x <= row[top[k-1].id] {
			continue
		}
		j, _ := slices.BinarySearchFunc(top, x, func(e topEntry, x float32) int { return cmp.Compare(x, row[e.id]) })
		top = slices.Insert(top, j, topEntry{id: llama.Token(i)})
		if len(top) > k {
			top = top[:k]
		}
	}
	for i := range top {
		top[i].lp = float64(row[top[i].id]) - lse
	}
	return top
}

// tokenLogprob renders a worker's token event.
func (b *base) tokenLogprob(ev tokenEvent) TokenLogprob {
	t := TokenLogprob{Token: b.model.TokenToPiece(ev.id, false), Logprob: ev.lp}
	for _, e := range ev.top {
		t.Top = append(t.Top, TokenLogprob{Token: b.model.TokenToPiece(e.id, false), Logprob: e.lp})
	}
	return t
}

// streamer turns a call's token events into Tokens whose texts add up to the
// call's output (see result: trimmed, cut at the first stop string, valid
// UTF-8).
type streamer struct {
	b    *base
	stop []string
	on   func(Token) error
	gen  []llama.Token
	sent string // the output released so far
}

func (s *streamer) push(ev tokenEvent) error {
	s.gen = append(s.gen, ev.id)
	text, _ := s.b.model.Detokenize(s.gen, false)
	lp := s.b.tokenLogprob(ev)
	return s.on(Token{Text: s.release(s.settled(text)), Logprob: &lp})
}

// end releases what the output has beyond the text sent.
func (s *streamer) end(output string) error {
	if rest := s.release(output); rest != "" {
		return s.on(Token{Text: rest})
	}
	return nil
}

// release returns what out adds to the text sent, and marks it sent; out
// must extend it (text is only released once it cannot change).
func (s *streamer) release(out string) string {
	if len(out) <= len(s.sent) || !strings.HasPrefix(out, s.sent) {
		return ""
	}
	d := out[len(s.sent):]
	s.sent = out
	return d
}

// settled is the part of the text so far that the output will start with
// whatever comes next.
func (s *streamer) settled(text string) string {
	if i := firstStop(text, s.stop); i >= 0 {
		text = text[:i]
	} else {
		text = text[:len(text)-stopPrefix(text, s.stop)]
	}
	// A partial UTF-8 sequence may complete with the next token.
	for text != "" {
		if r, n := utf8.DecodeLastRuneInString(text); r != utf8.RuneError || n > 1 {
			break
		}
		text = text[:len(text)-1]
	}
	return strings.ToValidUTF8(strings.TrimSpace(text), "\uFFFD")
}

// firstStop is the index of the earliest stop string in text, or -1.
func firstStop(text string, stop []string) int {
	at := -1
	for _, s := range stop {
		if i := strings.Index(text, s); s != "" && i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	return at
}

// stopPrefix is the length of the longest end of text that begins a stop
// string.
func stopPrefix(text string, stop []string) int {
	n := 0
	for _, s := range stop {
		for k := min(len(s)-1, len(text)); k > n; k-- {
			if strings.HasSuffix(text, s[:k]) {
				n = k
				break
			}
		}
	}
	return n
}

package interp

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/paw-dev/paw/schema"
)

// streamed runs one streamed call and returns its Tokens, the result and the
// engine's decode count when the first Token arrived.
func streamed(t *testing.T, e *Engine, f *Func, input string, o CallOptions) ([]Token, Result, int) {
	t.Helper()
	var toks []Token
	firstAt := -1
	o.OnToken = func(tk Token) error {
		if firstAt < 0 {
			firstAt = e.Stats().Decodes
		}
		toks = append(toks, tk)
		return nil
	}
	res, err := f.Call(context.Background(), input, o)
	if err != nil {
		t.Fatal(err)
	}
	return toks, res, firstAt
}

func joined(toks []Token) (text string, lps []TokenLogprob) {
	for _, tk := range toks {
		text += tk.Text
		if tk.Logprob != nil {
			lps = append(lps, *tk.Logprob)
		}
	}
	return text, lps
}

func TestStreamMatchesCall(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 21, pseudo)
	e := newEngine(t, Options{MaxBatch: 2})
	f := load(t, e, p, basePath)
	for _, tc := range []struct {
		name string
		o    CallOptions
	}{
		{"greedy", CallOptions{MaxTokens: 48, TopLogprobs: 3}},
		{"stop string", CallOptions{MaxTokens: 48, TopLogprobs: 3}}, // Stop set below from the answer
		{"sampled", CallOptions{MaxTokens: 48, Temperature: 0.8, Seed: 5, Logprobs: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := f.Call(context.Background(), "the cat", tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "stop string" {
				words := strings.Fields(want.Output)
				if len(words) < 4 {
					t.Fatalf("answer %q too short to stop in", want.Output)
				}
				tc.o.Stop = []string{words[len(words)/2]}
				if want, err = f.Call(context.Background(), "the cat", tc.o); err != nil {
					t.Fatal(err)
				}
			}
			if len(want.Logprobs) != want.Tokens {
				t.Fatalf("%d logprobs for %d tokens", len(want.Logprobs), want.Tokens)
			}
			drafted := e.Stats().DraftAccepted
			decodes := e.Stats().Decodes
			toks, got, firstAt := streamed(t, e, f, "the cat", tc.o)
			text, lps := joined(toks)
			if text != want.Output || got.Output != want.Output {
				t.Errorf("streamed %q (result %q), want %q", text, got.Output, want.Output)
			}
			// Chunks arrive while the generation runs: the first before
			// the call's later decodes.
			if firstAt < 0 || firstAt >= e.Stats().Decodes-1 || firstAt <= decodes {
				t.Errorf("first token at decode %d of %d..%d", firstAt, decodes, e.Stats().Decodes)
			}
			distinct := map[string]bool{}
			for _, tk := range toks {
				if tk.Text != "" {
					distinct[tk.Text] = true
				}
			}
			if len(distinct) < 2 {
				t.Errorf("tokens %+v: want at least 2 distinct texts", toks)
			}
			// Per-token logprobs: the same in the stream and the result,
			// and their mean and min are the summary (up to the float noise of
			// decoding drafts beside a token, ~1e-3, which can reorder
			// near-equal alternatives).
			if diff := cmp.Diff(want.Logprobs, lps, cmpopts.EquateApprox(0, 1e-2),
				cmpopts.IgnoreFields(TokenLogprob{}, "Top")); diff != "" {
				t.Errorf("streamed logprobs differ (-call +stream):\n%s", diff)
			}
			sum, lo := 0.0, 0.0
			for i, lp := range want.Logprobs {
				sum += lp.Logprob
				if i == 0 || lp.Logprob < lo {
					lo = lp.Logprob
				}
				if len(lp.Top) != tc.o.TopLogprobs {
					t.Fatalf("token %d: %d top logprobs, want %d", i, len(lp.Top), tc.o.TopLogprobs)
				}
				for j := 1; j < len(lp.Top); j++ {
					if lp.Top[j].Logprob > lp.Top[j-1].Logprob {
						t.Errorf("token %d: top logprobs not in order: %+v", i, lp.Top)
					}
				}
				// Greedy picks the most probable token.
				if tc.o.Temperature == 0 && len(lp.Top) > 0 && math.Abs(lp.Top[0].Logprob-lp.Logprob) > 1e-6 {
					t.Errorf("token %d: greedy %+v is not the top one", i, lp)
				}
			}
			if n := float64(len(want.Logprobs)); math.Abs(sum/n-want.LogprobMean) > 1e-9 || lo != want.LogprobMin {
				t.Errorf("mean %v min %v, summary %v %v", sum/n, lo, want.LogprobMean, want.LogprobMin)
			}
			if tc.name == "greedy" && e.Stats().DraftAccepted == drafted {
				t.Errorf("no draft accepted: the repeated input should be guessed")
			}
		})
	}
}

func TestStreamSlowReaderStallsNothing(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 22, pseudo)
	e := newEngine(t, Options{MaxBatch: 2})
	f := load(t, e, p, basePath)
	other := make(chan error, 1)
	release := make(chan struct{})
	var got []Token
	o := CallOptions{MaxTokens: 40, OnToken: func(tk Token) error {
		if len(got) == 0 {
			// Hold the stream until a call decoded beside it is done.
			go func() {
				_, err := f.Call(context.Background(), "a dog", CallOptions{MaxTokens: 40})
				other <- err
				close(release)
			}()
			select {
			case <-release:
			case <-time.After(time.Minute):
				return errors.New("the other call stalled behind a slow reader")
			}
		}
		got = append(got, tk)
		return nil
	}}
	res, err := f.Call(context.Background(), "the cat", o)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if text, _ := joined(got); text != res.Output {
		t.Errorf("streamed %q, want %q", text, res.Output)
	}
}

func TestStreamErrorCancels(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 23, pseudo)
	e := newEngine(t, Options{MaxBatch: 1})
	f := load(t, e, p, basePath)
	stop := errors.New("client gone")
	n := 0
	_, err := f.Call(context.Background(), "the cat", CallOptions{MaxTokens: 1000, OnToken: func(Token) error {
		n++
		return stop
	}})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err = %v after %d tokens, want %v after 1", err, n, stop)
	}
	// The only sequence is free again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.Call(ctx, "next", CallOptions{MaxTokens: 4}); err != nil {
		t.Fatal(err)
	}
}

func TestStreamContractWhole(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 24, pseudo)
	e := newEngine(t, Options{})
	f := load(t, e, p, basePath)
	c, err := schema.Labels("positive", "negative", "neutral")
	if err != nil {
		t.Fatal(err)
	}
	var toks []Token
	res, err := f.Call(context.Background(), "great", CallOptions{Contract: &c, Logprobs: true,
		OnToken: func(tk Token) error { toks = append(toks, tk); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 1 || toks[0].Text != res.Output || toks[0].Logprob != nil {
		t.Errorf("tokens %+v, want the whole answer %q once", toks, res.Output)
	}
	if len(res.Logprobs) != res.Tokens || res.Tokens == 0 {
		t.Errorf("label answer: %d logprobs for %d tokens", len(res.Logprobs), res.Tokens)
	}
}

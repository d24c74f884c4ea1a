package interp

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/paw-dev/paw/internal/llama"
)

func toks(v ...int) []llama.Token {
	out := make([]llama.Token, len(v))
	for i, x := range v {
		out[i] = llama.Token(x)
	}
	return out
}

func TestDraftGuess(t *testing.T) {
	h := newHistory()
	if g := h.guess(nil, toks(1, 2, 3), 4); g != nil {
		t.Errorf("no history, nothing generated: %v, want no guess", g)
	}
	h.add(toks(10, 11, 12))
	h.add(toks(20, 21, 22, 23))
	h.add(toks(10, 11, 12)) // again: moves to the front, not duplicated
	if len(h.outputs) != 2 || !slices.Equal(h.outputs[0], toks(10, 11, 12)) {
		t.Fatalf("outputs %v", h.outputs)
	}
	cases := []struct {
		gen, input []llama.Token
		k          int
		want       []llama.Token
	}{
		{nil, nil, 2, toks(10, 11)},                      // start of the most recent output
		{toks(20), nil, 5, toks(21, 22, 23)},             // continuation in an older output
		{toks(5, 21, 22), nil, 5, toks(23)},              // longest suffix first
		{toks(7), toks(6, 7, 8, 9), 3, toks(8, 9)},       // copied from the input
		{toks(30, 31, 32, 30), toks(1), 2, toks(31, 32)}, // a loop in the output itself
		{toks(99), toks(1, 2), 3, nil},                   // nothing to follow
		{toks(23), nil, 3, nil},                          // occurs only at the end
		{toks(20, 21), nil, 0, nil},                      // no room
		{toks(9, 1, 9, 2, 9), toks(4), 1, toks(2)},       // the last occurrence
	}
	for _, c := range cases {
		if got := h.guess(c.gen, c.input, c.k); !slices.Equal(got, c.want) {
			t.Errorf("guess(%v, %v, %d) = %v, want %v", c.gen, c.input, c.k, got, c.want)
		}
	}
	for i := range draftHistory + 5 {
		h.add(toks(100 + i))
	}
	if len(h.outputs) != draftHistory {
		t.Errorf("%d outputs kept, want %d", len(h.outputs), draftHistory)
	}
	h.add(make([]llama.Token, 3*draftOutputMax))
	if len(h.outputs[0]) != draftOutputMax {
		t.Errorf("kept %d tokens of a long output, want %d", len(h.outputs[0]), draftOutputMax)
	}
}

func TestDraftLimit(t *testing.T) {
	h := newHistory()
	if p, a, b := h.limit(true, 1), h.limit(false, 1), h.limit(false, 8); p < a || a < b || p == 0 || b != 0 {
		t.Errorf("at rate %.2f: prompt %d, lone call %d, batch of 8 %d", h.rate, p, a, b)
	}
	for range 50 {
		h.observe(1, 0)
	}
	if n := h.limit(false, 1); n != 0 {
		t.Errorf("after failing guesses: lone call limit %d, want 0", n)
	}
	probes := 0
	for range 32 {
		probes += h.limit(true, 1)
	}
	if probes != 4 {
		t.Errorf("after failing guesses: %d one-token probes in 32 prompts, want 4", probes)
	}
	for range 50 {
		h.observe(4, 4)
	}
	if p, a := h.limit(true, 1), h.limit(false, 1); p != draftPrompt || a != 4 {
		t.Errorf("after kept guesses: prompt %d, lone call %d; want %d and 4", p, a, draftPrompt)
	}
}

// TestDraftsKeepOutputs: drafted calls give exactly the outputs, token counts
// and finish reasons of calls without drafts, serially and concurrently, with
// stop strings and short budgets, and the guesses are actually used.
func TestDraftsKeepOutputs(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 31, pseudo)
	load := func(o Options) (*Engine, *Func) {
		e := newEngine(t, o)
		f := load(t, e, p, basePath)
		return e, f
	}
	_, plain := load(Options{NoDrafts: true})
	e, drafted := load(Options{})
	inputs := []string{"good", "bad", "meh", "a long and winding review of a toaster", "5 stars", "refund please", "ok", "wow", "good"}
	var opts []CallOptions
	for _, n := range []int{1, 2, 3, 24} {
		opts = append(opts, CallOptions{MaxTokens: n})
	}
	want := map[string]Result{}
	for _, o := range opts {
		for _, in := range inputs {
			r, err := plain.Call(context.Background(), in, o)
			if err != nil {
				t.Fatal(err)
			}
			want[fmt.Sprint(o.MaxTokens, in)] = r
		}
	}
	// A stop string taken from an output: calls stop in the middle of a guess.
	stopAt := want[fmt.Sprint(24, inputs[0])].Output
	stop := CallOptions{MaxTokens: 24, Stop: []string{stopAt[len(stopAt)/2 : len(stopAt)/2+2]}}
	for _, in := range inputs {
		r, err := plain.Call(context.Background(), in, stop)
		if err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprint("stop", in)] = r
	}
	check := func(key string, got Result) error {
		w := want[key]
		if got.Output != w.Output || got.Tokens != w.Tokens || got.FinishReason != w.FinishReason {
			return fmt.Errorf("%s: drafted %q (%d tokens, %s), plain %q (%d tokens, %s)", key, got.Output, got.Tokens, got.FinishReason, w.Output, w.Tokens, w.FinishReason)
		}
		return nil
	}
	for _, o := range opts {
		for _, in := range inputs {
			r, err := drafted.Call(context.Background(), in, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := check(fmt.Sprint(o.MaxTokens, in), r); err != nil {
				t.Error(err)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(inputs))
	for g := range 4 {
		wg.Go(func() {
			for i := range inputs {
				in := inputs[(g*3+i)%len(inputs)]
				o, key := opts[3], fmt.Sprint(24, in)
				if g%2 == 1 {
					o, key = stop, fmt.Sprint("stop", in)
				}
				r, err := drafted.Call(context.Background(), in, o)
				if err == nil {
					err = check(key, r)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := e.Stats()
	if st.DraftAccepted == 0 || st.Drafted < st.DraftAccepted {
		t.Errorf("stats %+v: want accepted guesses", st)
	}
	t.Logf("guessed %d tokens, %d accepted", st.Drafted, st.DraftAccepted)
}

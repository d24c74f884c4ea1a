package llama_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
)

// tinyQwen3 is the 2-layer qwen3 fixture with the synthetic vocabulary.
func tinyQwen3(t testing.TB) *llama.Model {
	t.Helper()
	cfg, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	return load(t, fixturetest.Cached(t, "qwen3-tiny", cfg))
}

func load(t testing.TB, path string) *llama.Model {
	t.Helper()
	m, err := llama.LoadModel(path, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newContext(t testing.TB, m *llama.Model, p llama.ContextParams) *llama.Context {
	t.Helper()
	c, err := llama.NewContext(m, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tokenize(t testing.TB, m *llama.Model, s string) []llama.Token {
	t.Helper()
	toks, err := m.Tokenize(s, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// greedy decodes prompt into seq 0 of a cleared context and returns n greedy tokens.
func greedy(t testing.TB, c *llama.Context, prompt []llama.Token, n int) []llama.Token {
	t.Helper()
	ctx := context.Background()
	c.ClearKV()
	b := llama.NewBatch(max(len(prompt), 1), 1)
	defer b.Close()
	if err := b.AddSeq(prompt, 0, 0, true); err != nil {
		t.Fatal(err)
	}
	s, err := llama.NewSampler(c.Model(), llama.SamplerParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []llama.Token
	pos := len(prompt)
	for range n {
		if err := c.Decode(ctx, b); err != nil {
			t.Fatal(err)
		}
		tok := s.Sample(c, b.Len()-1)
		row, err := c.LogitsView(b.Len() - 1)
		if err != nil {
			t.Fatal(err)
		}
		// Greedy takes the first largest logit (paw's argmax fast path).
		if want := slices.Index(row, slices.Max(row)); int(tok) != want {
			t.Fatalf("greedy picked %d, the first largest logit is %d", tok, want)
		}
		out = append(out, tok)
		b.Clear()
		if _, err := b.Add(tok, pos, []int{0}, true); err != nil {
			t.Fatal(err)
		}
		pos++
	}
	return out
}

func TestModelMetadata(t *testing.T) {
	m := tinyQwen3(t)
	cfg, _ := fixture.Preset("qwen3-tiny")
	if got := m.Arch(); got != "qwen3" {
		t.Errorf("Arch = %q, want qwen3", got)
	}
	if m.NLayer() != cfg.Layers || m.NEmbd() != cfg.Embd || m.NCtxTrain() != cfg.CtxTrain {
		t.Errorf("layers/embd/ctx = %d/%d/%d, want %d/%d/%d", m.NLayer(), m.NEmbd(), m.NCtxTrain(), cfg.Layers, cfg.Embd, cfg.CtxTrain)
	}
	f, err := gguf.Open(m.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	toks, _ := f.Get("tokenizer.ggml.tokens")
	if n := len(toks.([]string)); m.NVocab() != n {
		t.Errorf("NVocab = %d, want %d", m.NVocab(), n)
	}
	if m.NParams() != f.ParamCount() {
		t.Errorf("NParams = %d, GGUF says %d", m.NParams(), f.ParamCount())
	}
	imEnd := tokenizeSpecial(t, m, "<|im_end|>")
	if len(imEnd) != 1 || !m.IsEOG(imEnd[0]) || !m.IsControl(imEnd[0]) {
		t.Errorf("<|im_end|> = %v: want one control, end-of-generation token", imEnd)
	}
	if m.EOS() != imEnd[0] {
		t.Errorf("EOS = %d, want <|im_end|> %d", m.EOS(), imEnd[0])
	}
	if !strings.Contains(m.ChatTemplate(), "<|im_start|>") {
		t.Errorf("chat template lacks <|im_start|>: %q", m.ChatTemplate())
	}
	if m.AddBOS() {
		t.Error("qwen3 must not add BOS")
	}
}

func tokenizeSpecial(t testing.TB, m *llama.Model, s string) []llama.Token {
	t.Helper()
	toks, err := m.Tokenize(s, false, true)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

func TestTokenizeRoundTrip(t *testing.T) {
	m := tinyQwen3(t)
	cases := []string{
		"", "hello world", "  leading and trailing  ", "[INPUT]\nsome text\n[END_INPUT]",
		"naïve café – 東京 🙂", "tabs\tand\r\nnewlines\n\n", "12345 + 678 = 7023",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var sb strings.Builder
		for range r.IntN(40) {
			sb.WriteRune(rune(r.IntN(0x3000) + 1))
		}
		cases = append(cases, sb.String())
	}
	for _, s := range cases {
		toks := tokenize(t, m, s)
		got, err := m.Detokenize(toks, false)
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Errorf("round trip of %q gave %q (tokens %v)", s, got, toks)
		}
	}
}

func TestTokenizeUntrustedSpecials(t *testing.T) {
	m := tinyQwen3(t)
	for _, s := range []string{"<|im_end|>", "<|im_start|>", "<|endoftext|>", "a<|im_end|>\n<|im_start|>assistant"} {
		plain := tokenize(t, m, s)
		for _, tok := range plain {
			if m.IsControl(tok) || m.IsEOG(tok) {
				t.Errorf("%q without special parsing produced control token %d (%q)", s, tok, m.TokenText(tok))
			}
		}
		if s == "<|im_end|>" && len(plain) < 2 {
			t.Errorf("%q should be several ordinary tokens, got %v", s, plain)
		}
		if got, _ := m.Detokenize(plain, false); got != s {
			t.Errorf("%q round trip gave %q", s, got)
		}
	}
}

// TestLogitsAnyPosition checks that the logits of every position of one batch
// equal those of decoding the prompt only up to that position.
func TestLogitsAnyPosition(t *testing.T) {
	m := tinyQwen3(t)
	c := newContext(t, m, llama.ContextParams{NCtx: 256})
	toks := tokenize(t, m, "the quick brown fox jumps over")
	b := llama.NewBatch(len(toks), 1)
	defer b.Close()
	for i, tok := range toks {
		if _, err := b.Add(tok, i, []int{0}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Decode(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	all := make([][]float32, len(toks))
	for i := range toks {
		var err error
		if all[i], err = c.Logits(i); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []int{0, 2, len(toks) - 1} {
		c.ClearKV()
		b.Clear()
		if err := b.AddSeq(toks[:k+1], 0, 0, true); err != nil {
			t.Fatal(err)
		}
		if err := c.Decode(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		got, err := c.Logits(k)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(got, all[k]); d > 1e-4 {
			t.Errorf("position %d: logits differ by %g", k, d)
		}
	}
	if _, err := c.Logits(0); !errors.Is(err, llama.ErrNoLogits) {
		t.Errorf("Logits of a position without logits: err = %v, want ErrNoLogits", err)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, float64(abs32(a[i]-b[i])))
	}
	return d
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// TestBatchedPrefixDecode decodes a prompt once, shares its KV with four
// sequences and generates from all four in one batch per step; each must equal
// a separate greedy run of prefix + its own suffix.
func TestBatchedPrefixDecode(t *testing.T) {
	m := tinyQwen3(t)
	const nSeq, nGen = 4, 12
	prefix := tokenize(t, m, "<|im_start|>user\nclassify the text below\n[INPUT]\n")
	suffixes := [nSeq][]llama.Token{}
	for i, s := range []string{"cat", "the dog barks", "stock prices fell", "hello there friend"} {
		suffixes[i] = tokenize(t, m, s+"\n[END_INPUT]")
	}
	want := [nSeq][]llama.Token{}
	single := newContext(t, m, llama.ContextParams{NCtx: 512})
	for i := range nSeq {
		want[i] = greedy(t, single, append(slices.Clone(prefix), suffixes[i]...), nGen)
	}

	c := newContext(t, m, llama.ContextParams{NCtx: 1024, NSeqMax: nSeq})
	ctx := context.Background()
	b := llama.NewBatch(512, nSeq)
	defer b.Close()
	if err := b.AddSeq(prefix, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Decode(ctx, b); err != nil {
		t.Fatal(err)
	}
	for s := 1; s < nSeq; s++ {
		c.SeqCopy(0, s, -1, -1)
	}
	b.Clear()
	last := [nSeq]int{}
	pos := [nSeq]int{}
	for s := range nSeq {
		if err := b.AddSeq(suffixes[s], len(prefix), s, true); err != nil {
			t.Fatal(err)
		}
		last[s] = b.Len() - 1
		pos[s] = len(prefix) + len(suffixes[s])
	}
	samplers := make([]*llama.Sampler, nSeq)
	for s := range samplers {
		samplers[s], _ = llama.NewSampler(m, llama.SamplerParams{})
		defer samplers[s].Close()
	}
	got := [nSeq][]llama.Token{}
	for range nGen {
		if err := c.Decode(ctx, b); err != nil {
			t.Fatal(err)
		}
		next := [nSeq]llama.Token{}
		for s := range nSeq {
			next[s] = samplers[s].Sample(c, last[s])
			got[s] = append(got[s], next[s])
		}
		b.Clear()
		for s := range nSeq {
			last[s], _ = b.Add(next[s], pos[s], []int{s}, true)
			pos[s]++
		}
	}
	for s := range nSeq {
		if !slices.Equal(got[s], want[s]) {
			t.Errorf("sequence %d: batched %v, separate %v", s, got[s], want[s])
		}
	}
}

// TestSeqStateRoundTrip saves a decoded prefix, restores it into another
// sequence of a fresh context, and checks the next logits are bit-identical.
func TestSeqStateRoundTrip(t *testing.T) {
	m := tinyQwen3(t)
	ctx := context.Background()
	prefix := tokenize(t, m, "a prefix that is cached once and restored many times")
	next := tokenize(t, m, " then more")
	a := newContext(t, m, llama.ContextParams{NCtx: 256, NSeqMax: 2})
	b := llama.NewBatch(128, 2)
	defer b.Close()
	_ = b.AddSeq(prefix, 0, 0, false)
	if err := a.Decode(ctx, b); err != nil {
		t.Fatal(err)
	}
	state, err := a.SeqState(0)
	if err != nil {
		t.Fatal(err)
	}
	b.Clear()
	_ = b.AddSeq(next, len(prefix), 0, true)
	if err := a.Decode(ctx, b); err != nil {
		t.Fatal(err)
	}
	want, _ := a.Logits(-1)

	fresh := newContext(t, m, llama.ContextParams{NCtx: 256, NSeqMax: 2})
	if err := fresh.SetSeqState(1, state); err != nil {
		t.Fatal(err)
	}
	if got := fresh.SeqPosMax(1); got != len(prefix)-1 {
		t.Fatalf("restored sequence ends at %d, want %d", got, len(prefix)-1)
	}
	// The state records sequence ids, so bytes round-trip when restored into
	// the same sequence.
	same := newContext(t, m, llama.ContextParams{NCtx: 256, NSeqMax: 2})
	if err := same.SetSeqState(0, state); err != nil {
		t.Fatal(err)
	}
	again, err := same.SeqState(0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, state) {
		t.Error("state saved after restore differs from the original bytes")
	}
	b.Clear()
	_ = b.AddSeq(next, len(prefix), 1, true)
	if err := fresh.Decode(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, _ := fresh.Logits(-1)
	if !slices.Equal(got, want) {
		t.Errorf("logits after restore differ from the original (max diff %g)", maxAbsDiff(got, want))
	}
	if err := fresh.SetSeqState(0, state[:len(state)/2]); err == nil {
		t.Error("a truncated state was accepted")
	}
}

// TestAdapterSwitch is the regression test for llama.cpp's graph reuse, which
// at this commit ignores an adapter switched between decodes of the same shape
// unless the binding forces a rebuild (see Context.Decode).
func TestAdapterSwitch(t *testing.T) {
	cfg, _ := fixture.Preset("qwen3-tiny")
	m := load(t, fixturetest.Cached(t, "qwen3-tiny", cfg))
	dir := t.TempDir()
	adapters := make([]*llama.Adapter, 2)
	for i := range adapters {
		path := filepath.Join(dir, []string{"a.gguf", "b.gguf"}[i])
		if err := fixture.WriteAdapter(path, cfg, fixture.Adapter{Rank: 64, Alpha: 16, Type: gguf.TypeQ4_0, Seed: uint64(i + 1), Scale: 0.5}); err != nil {
			t.Fatal(err)
		}
		a, err := llama.LoadAdapter(m, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		if a.Alpha() != 16 {
			t.Errorf("adapter alpha = %g, want 16", a.Alpha())
		}
		adapters[i] = a
	}
	c := newContext(t, m, llama.ContextParams{NCtx: 256})
	prompt := tokenize(t, m, "switching adapters between calls")
	run := func(a *llama.Adapter) []float32 {
		c.ClearAdapters()
		if a != nil {
			if err := c.SetAdapter(a, 1); err != nil {
				t.Fatal(err)
			}
		}
		c.ClearKV()
		b := llama.NewBatch(len(prompt), 1)
		defer b.Close()
		_ = b.AddSeq(prompt, 0, 0, true)
		if err := c.Decode(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		l, _ := c.Logits(-1)
		return l
	}
	none := run(nil)
	a := run(adapters[0])
	bl := run(adapters[1])
	none2 := run(nil)
	a2 := run(adapters[0])
	if slices.Equal(none, a) || slices.Equal(none, bl) || slices.Equal(a, bl) {
		t.Error("adapter switch ignored: two of no-adapter/A/B gave identical logits")
	}
	if !slices.Equal(none, none2) {
		t.Error("no adapter twice gave different logits")
	}
	if !slices.Equal(a, a2) {
		t.Error("adapter A twice gave different logits")
	}
}

func TestAdapterWrongModel(t *testing.T) {
	qcfg, _ := fixture.Preset("qwen3-tiny")
	gcfg, _ := fixture.Preset("gpt2-tiny")
	m := load(t, fixturetest.Cached(t, "gpt2-tiny", gcfg))
	path := filepath.Join(t.TempDir(), "qwen3-adapter.gguf")
	if err := fixture.WriteAdapter(path, qcfg, fixture.Adapter{Rank: 64, Alpha: 16, Type: gguf.TypeQ4_0, Seed: 1, Scale: 0.5}); err != nil {
		t.Fatal(err)
	}
	if _, err := llama.LoadAdapter(m, path); !errors.Is(err, llama.ErrLoadAdapter) {
		t.Errorf("qwen3 adapter on gpt2: err = %v, want ErrLoadAdapter", err)
	}
}

func TestGPT2Generates(t *testing.T) {
	cfg, _ := fixture.Preset("gpt2-tiny")
	m := load(t, fixturetest.Cached(t, "gpt2-tiny", cfg))
	if m.Arch() != "gpt2" {
		t.Fatalf("arch %q", m.Arch())
	}
	c := newContext(t, m, llama.ContextParams{NCtx: 128})
	out := greedy(t, c, tokenize(t, m, "hello world"), 8)
	if len(out) != 8 {
		t.Fatalf("generated %d tokens", len(out))
	}
	if again := greedy(t, c, tokenize(t, m, "hello world"), 8); !slices.Equal(out, again) {
		t.Errorf("greedy not deterministic: %v vs %v", out, again)
	}
}

// TestStories260K converts the real pretrained tiny Llama and checks greedy
// decoding reproduces the text its README gives.
func TestStories260K(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "fixtures", "stories260K")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("stories260K fixture missing (expected beside the repo at %s): %v", dir, err)
	}
	path := filepath.Join(t.TempDir(), "stories260K.gguf")
	if err := fixture.Stories260K(dir, path); err != nil {
		t.Fatal(err)
	}
	m := load(t, path)
	const want = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high"
	c := newContext(t, m, llama.ContextParams{NCtx: 512})
	out := greedy(t, c, []llama.Token{m.BOS()}, 60)
	text, err := m.Detokenize(out, false)
	if err != nil {
		t.Fatal(err)
	}
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, want) {
		t.Errorf("greedy output:\n%s\nwant prefix:\n%s", text, want)
	}
}

func TestSamplerSeed(t *testing.T) {
	m := tinyQwen3(t)
	c := newContext(t, m, llama.ContextParams{NCtx: 128})
	prompt := tokenize(t, m, "random but reproducible")
	draw := func(seed uint32) []llama.Token {
		c.ClearKV()
		b := llama.NewBatch(len(prompt), 1)
		defer b.Close()
		_ = b.AddSeq(prompt, 0, 0, true)
		if err := c.Decode(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		s, err := llama.NewSampler(m, llama.SamplerParams{Temperature: 5, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out []llama.Token
		for range 32 {
			out = append(out, s.Sample(c, b.Len()-1)) // same logits, fresh draw each time
		}
		return out
	}
	if a, b := draw(7), draw(7); !slices.Equal(a, b) {
		t.Errorf("same seed, different draws: %v vs %v", a, b)
	}
	if a, b := draw(7), draw(8); slices.Equal(a, b) {
		t.Errorf("seeds 7 and 8 drew the same 32 tokens at temperature 5: %v", a)
	}
}

func TestGrammarSampler(t *testing.T) {
	m := tinyQwen3(t)
	c := newContext(t, m, llama.ContextParams{NCtx: 256})
	labels := []string{"positive", "negative", "neutral"}
	grammar := `root ::= "positive" | "negative" | "neutral"`
	for i, input := range []string{"great product", "awful", "it is a chair", "", "zzz"} {
		prompt := tokenize(t, m, "label: "+input+"\n")
		s, err := llama.NewSampler(m, llama.SamplerParams{Grammar: grammar, Temperature: float32(i % 2), Seed: uint32(i)})
		if err != nil {
			t.Fatal(err)
		}
		c.ClearKV()
		b := llama.NewBatch(len(prompt), 1)
		_ = b.AddSeq(prompt, 0, 0, true)
		var out []llama.Token
		for pos := len(prompt); len(out) < 20; pos++ {
			if err := c.Decode(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			tok := s.Sample(c, b.Len()-1)
			if m.IsEOG(tok) {
				break
			}
			out = append(out, tok)
			b.Clear()
			_, _ = b.Add(tok, pos, []int{0}, true)
		}
		b.Close()
		s.Close()
		text, _ := m.Detokenize(out, false)
		if !slices.Contains(labels, text) {
			t.Errorf("input %q: grammar output %q is not a label", input, text)
		}
	}
	if _, err := llama.NewSampler(m, llama.SamplerParams{Grammar: `root ::= (`}); !errors.Is(err, llama.ErrGrammar) {
		t.Errorf("bad grammar: err = %v, want ErrGrammar", err)
	}
}

func TestThreadsNeverExceedCores(t *testing.T) {
	m := tinyQwen3(t)
	c := newContext(t, m, llama.ContextParams{NCtx: 64, Threads: 1000})
	if got := c.Threads(); got != runtime.NumCPU() {
		t.Errorf("Threads() = %d with 1000 requested, want %d (cores)", got, runtime.NumCPU())
	}
	c.SetThreads(0)
	if got := c.Threads(); got != runtime.NumCPU() {
		t.Errorf("SetThreads(0) gave %d", got)
	}
	c.SetThreads(1)
	if got := c.Threads(); got != 1 {
		t.Errorf("SetThreads(1) gave %d", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	m := tinyQwen3(t)
	c := newContext(t, m, llama.ContextParams{NCtx: 256, NBatch: 64})
	toks := make([]llama.Token, 40)
	for i := range toks {
		toks[i] = llama.Token(10 + i)
	}
	big := llama.NewBatch(100, 1)
	defer big.Close()
	_ = big.AddSeq(append(toks, toks...), 0, 0, true)
	if err := c.Decode(context.Background(), big); !errors.Is(err, llama.ErrInvalidParam) {
		t.Errorf("80 tokens with n_batch 64: err = %v, want ErrInvalidParam", err)
	}
	b := llama.NewBatch(len(toks), 1)
	defer b.Close()
	_ = b.AddSeq(toks, 0, 0, true)
	for i := 0; ; i++ {
		// fill the 256-cell cache: the 7th batch of 40 cannot fit
		err := c.Decode(context.Background(), b)
		if err != nil {
			if !errors.Is(err, llama.ErrKVFull) || i != 6 {
				t.Errorf("batch %d: err = %v, want ErrKVFull at batch 6", i, err)
			}
			break
		}
		b.Clear()
		_ = b.AddSeq(toks, (i+1)*len(toks), 0, true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Decode(ctx, b); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
	if _, err := b.Add(1, 0, []int{0}, false); !errors.Is(err, llama.ErrBatchFull) {
		t.Errorf("adding past capacity: err = %v, want ErrBatchFull", err)
	}
}

// TestDecodeAbort cancels a long decode while it runs: the decode stops with
// ErrAborted and keeps none of the aborted tokens.
func TestDecodeAbort(t *testing.T) {
	cfg, _ := fixture.Preset("qwen3-tiny")
	cfg.Layers, cfg.Embd, cfg.FFN, cfg.HeadDim = 8, 512, 1536, 64
	cfg.Heads, cfg.HeadsKV = 8, 4
	m := load(t, fixturetest.Cached(t, "qwen3-abort", cfg))
	c := newContext(t, m, llama.ContextParams{NCtx: 2048, NBatch: 2048})
	b := llama.NewBatch(2048, 1)
	defer b.Close()
	for i := range 2048 {
		_, _ = b.Add(llama.Token(i%200+5), i, []int{0}, i == 2047)
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { time.Sleep(5 * time.Millisecond); cancel() })
	err := c.Decode(ctx, b)
	wg.Wait()
	if err == nil {
		t.Fatalf("decode finished in %v before the cancel landed", time.Since(start))
	}
	if !errors.Is(err, llama.ErrAborted) {
		t.Fatalf("err = %v, want ErrAborted", err)
	}
	if got := c.SeqPosMax(0); got >= 2047 {
		t.Errorf("aborted decode left the sequence at position %d", got)
	}
}

// TestLogSumExp checks the vectorized normaliser against a float64 reference
// on vocabulary-sized and tiny rows, with -Inf entries and extreme spreads.
func TestLogSumExp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 15, 16, 17, 1023, 1024, 1040, 151936} {
		for _, spread := range []float32{0, 1, 20, 300} {
			x := make([]float32, n)
			for i := range x {
				x[i] = (r.Float32()*2-1)*spread + 5
				if n > 16 && i%97 == 0 {
					x[i] = float32(math.Inf(-1)) // masked tokens
				}
			}
			got, want := llama.LogSumExp(x), logSumExpRef(x)
			if math.Abs(got-want) > 1e-5*max(1, math.Abs(want)) {
				t.Errorf("n=%d spread=%g: %v, want %v", n, spread, got, want)
			}
		}
	}
	if got := llama.LogSumExp([]float32{float32(math.Inf(-1))}); !math.IsInf(got, -1) {
		t.Errorf("all masked: %v, want -Inf", got)
	}
	if got := llama.LogSumExp(nil); !math.IsInf(got, -1) {
		t.Errorf("empty: %v, want -Inf", got)
	}
}

// logSumExpRef is log(sum(exp(x))) in float64, the reference for LogSumExp.
func logSumExpRef(x []float32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// recorder keeps every slog record's level and message.
type recorder struct {
	mu   sync.Mutex
	msgs map[string]slog.Level
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[rec.Message] = rec.Level
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// TestBenignWarnings: a KV cache larger than the trained context (one cache
// shared by many sequences, as interp makes) reaches slog, but as debug.
func TestBenignWarnings(t *testing.T) {
	m := tinyQwen3(t)
	rec := &recorder{msgs: map[string]slog.Level{}}
	old := slog.Default()
	slog.SetDefault(slog.New(rec))
	llama.SetLogLevel(slog.LevelWarn)
	t.Cleanup(func() {
		slog.SetDefault(old)
		llama.SetLogLevel(slog.LevelWarn)
	})
	newContext(t, m, llama.ContextParams{NCtx: 2 * m.NCtxTrain(), NSeqMax: 4})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	found := false
	for msg, l := range rec.msgs {
		if strings.Contains(msg, "possible training context overflow") {
			found = true
			if l != slog.LevelDebug {
				t.Errorf("%q logged at %v, want debug", msg, l)
			}
		}
	}
	if !found {
		t.Errorf("llama.cpp's context-overflow warning not seen (messages: %v)", rec.msgs)
	}
}

package interp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

// directLabelLogprob teacher-forces label after the rendered prompt with the
// binding alone and returns log p(label tokens), plus log p(end of output)
// when the label begins another one.
func directLabelLogprob(t *testing.T, m *llama.Model, a *llama.Adapter, prompt, label []llama.Token, eog []llama.Token, isPrefix bool) float64 {
	t.Helper()
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetAdapter(a, 1)
	all := append(append([]llama.Token{}, prompt...), label...)
	b := llama.NewBatch(len(all), 1)
	defer b.Close()
	for i, tok := range all {
		b.Add(tok, i, []int{0}, i >= len(prompt)-1)
	}
	if err := c.Decode(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	lp := 0.0
	for i := range label {
		row, _ := c.Logits(len(prompt) - 1 + i)
		lp += float64(row[label[i]]) - logSumExp(row)
	}
	if !isPrefix {
		return lp
	}
	row, _ := c.Logits(len(all) - 1)
	return lp + logSumEOG(row, eog) - logSumExp(row)
}

// tokPrefix reports whether a is a strict prefix of b.
func tokPrefix(a, b []llama.Token) bool {
	return len(a) < len(b) && slices.Equal(a, b[:len(a)])
}

func TestLabelProbabilities(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 31, pseudo)
	e := newEngine(t, Options{})
	f := load(t, e, p, basePath)
	labels := []string{"pos", "positive", "positively", "negative", "neutral sentiment", "neg"}
	contract, err := schema.Labels(labels...)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := f.b.tok.labelTrie(labels)
	multi := 0
	for _, toks := range tr.toks {
		if len(toks) > 1 {
			multi++
		}
	}
	if multi < 3 {
		t.Fatalf("want several multi-token labels to exercise the trie, got token lists %v", tr.toks)
	}
	m := f.b.model
	ap := filepath.Join(t.TempDir(), "a.gguf")
	os.WriteFile(ap, p.Adapter, 0o644)
	a, err := llama.LoadAdapter(m, ap)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, input := range []string{"great stuff", "it broke", "a chair"} {
		res, err := f.Call(context.Background(), input, CallOptions{Contract: &contract})
		if err != nil {
			t.Fatal(err)
		}
		sum, best := 0.0, ""
		for l, pr := range res.Probs {
			sum += pr
			if best == "" || pr > res.Probs[best] {
				best = l
			}
		}
		if math.Abs(sum-1) > 1e-6 || len(res.Probs) != len(labels) {
			t.Errorf("%q: probabilities %v sum to %g", input, res.Probs, sum)
		}
		if res.Output != best {
			t.Errorf("%q: output %q is not the most probable label %q (%v)", input, res.Output, best, res.Probs)
		}
		prompt, _ := m.Tokenize(p.Template.Render(input), false, true)
		direct := make([]float64, len(labels))
		for i := range labels {
			isPrefix := slices.ContainsFunc(tr.toks, func(o []llama.Token) bool { return tokPrefix(tr.toks[i], o) })
			direct[i] = directLabelLogprob(t, m, a, prompt, tr.toks[i], f.b.tok.eog, isPrefix)
		}
		for i, pr := range softmax(direct) {
			if got := res.Probs[labels[i]]; math.Abs(got-pr) > 1e-3 {
				t.Errorf("%q: p(%q) = %.6f, direct decoding gives %.6f", input, labels[i], got, pr)
			}
		}
	}
}

// TestContractsHold: over many inputs and seeds, every output the engine
// returns satisfies its contract; failures are only ErrNoValidOutput.
func TestContractsHold(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 41, pseudo)
	e := newEngine(t, Options{})
	f := load(t, e, p, basePath)
	mk := func(c schema.Contract, err error) schema.Contract {
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	contracts := map[string]schema.Contract{
		"labels": mk(schema.Labels("billing", "bill", "technical support", "account", "other")),
		"json": mk(schema.JSON([]byte(`{"type":"object","properties":{
			"team":{"enum":["billing","tech","account"]},
			"priority":{"type":"integer","minimum":1,"maximum":5},
			"tags":{"type":"array","items":{"type":"string","maxLength":6},"maxItems":2},
			"escalate":{"type":"boolean"}},
			"required":["team","priority","escalate"],"additionalProperties":false}`))),
		"regex": mk(schema.Regex(`[A-Z]{2}-\d{3,5}`)),
	}
	for name, c := range contracts {
		t.Run(name, func(t *testing.T) {
			ok, failed := 0, 0
			for i := range 30 {
				input := fmt.Sprintf("ticket %d: something about invoices and passwords %d", i, i*i)
				res, err := f.Call(context.Background(), input, CallOptions{Contract: &c, MaxTokens: 48, Temperature: float32(i%3) * 0.7, Seed: uint32(i)})
				if err != nil {
					if !errors.Is(err, ErrNoValidOutput) {
						t.Fatalf("input %d: %v", i, err)
					}
					failed++
					continue
				}
				if err := c.Validate(res.Output); err != nil {
					t.Errorf("input %d: returned output %q breaks the contract: %v", i, res.Output, err)
				}
				ok++
			}
			t.Logf("%s: %d valid outputs, %d typed failures", name, ok, failed)
			if ok < 20 {
				t.Errorf("only %d of 30 calls produced an output", ok)
			}
		})
	}
}

func TestContractErrors(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 43, pseudo)
	e := newEngine(t, Options{})
	f := load(t, e, p, basePath)
	bad := schema.Contract{Kind: schema.KindLabels}
	if _, err := f.Call(context.Background(), "x", CallOptions{Contract: &bad}); !errors.Is(err, ErrLabels) {
		t.Errorf("empty label set: err = %v", err)
	}
	c, _ := schema.JSON([]byte(`{"type":"object","properties":{"a":{"type":"string","minLength":40}},"required":["a"]}`))
	if _, err := f.Call(context.Background(), "x", CallOptions{Contract: &c, MaxTokens: 5}); !errors.Is(err, ErrNoValidOutput) {
		t.Errorf("JSON that cannot finish in 5 tokens: err = %v, want ErrNoValidOutput", err)
	}
}

// TestConcurrentLabels runs label calls from many goroutines (their tries
// decoded in shared batches, each label in its own sequence) and checks each
// equals the serial call.
func TestConcurrentLabels(t *testing.T) {
	p, basePath := testProgram(t, "qwen3-tiny", 47, pseudo)
	e := newEngine(t, Options{})
	f := load(t, e, p, basePath)
	c, _ := schema.Labels("pos", "positive", "positively", "negative", "neg", "neutral sentiment")
	inputs := []string{"great", "awful", "fine", "the best thing ever", "broken on arrival", "meh"}
	serial := map[string]Result{}
	for _, in := range inputs {
		r, err := f.Call(context.Background(), in, CallOptions{Contract: &c})
		if err != nil {
			t.Fatal(err)
		}
		serial[in] = r
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 12 {
				in := inputs[(g+i)%len(inputs)]
				r, err := f.Call(context.Background(), in, CallOptions{Contract: &c})
				if err != nil {
					errs <- err
					return
				}
				want := serial[in]
				if r.Output != want.Output {
					errs <- fmt.Errorf("%q: concurrent %q, serial %q", in, r.Output, want.Output)
				}
				// ggml picks matmul kernels by batch size, so a batched call's
				// logits differ from a lone call's in the last float digits.
				for l, p := range want.Probs {
					if math.Abs(r.Probs[l]-p) > 2e-3 {
						errs <- fmt.Errorf("%q: p(%q) concurrent %.6f, serial %.6f", in, l, r.Probs[l], p)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestStoredContract: a contract stored in meta.json under
// program.ContractKey applies to calls that pass none; a broken one fails
// Load with the key in the message.
func TestStoredContract(t *testing.T) {
	e := newEngine(t, Options{})
	p, basePath := testProgram(t, "qwen3-tiny", 53, pseudo)
	labels := []string{"billing", "technical", "other"}
	p.Meta.Extra = map[string]json.RawMessage{program.ContractKey: json.RawMessage(`{"kind":"labels","labels":["billing","technical","other"]}`)}
	f := load(t, e, p, basePath)
	if c := f.Contract(); c == nil || c.Kind != schema.KindLabels || !slices.Equal(c.Labels, labels) {
		t.Fatalf("Contract() = %+v, want the stored labels %v", c, labels)
	}
	r, err := f.Call(context.Background(), "charged twice", CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Probs[r.Output]; !ok || len(r.Probs) != len(labels) {
		t.Errorf("call without options = %+v, want one of %v scored", r, labels)
	}

	bad, _ := testProgram(t, "qwen3-tiny", 59, pseudo)
	bad.Meta.Extra = map[string]json.RawMessage{program.ContractKey: json.RawMessage(`{"kind":"labels"}`)}
	if _, err := e.Load(context.Background(), bad, basePath); !errors.Is(err, schema.ErrEmptyLabels) || !strings.Contains(err.Error(), program.ContractKey) {
		t.Errorf("Load with an empty stored label set: err = %v, want schema.ErrEmptyLabels naming %s", err, program.ContractKey)
	}
}

// TestNonFiniteLogits: an adapter whose weights are NaN makes every logit
// NaN; free-text and label calls fail with a clear error instead of
// answering with NaN probabilities (which no JSON encoder accepts).
func TestNonFiniteLogits(t *testing.T) {
	cfg, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	basePath := fixturetest.Cached(t, "qwen3-tiny", cfg)
	p := programWith(t, cfg, fixture.Adapter{Rank: 4, Alpha: 4, Seed: 7}, pseudo)
	r, err := gguf.NewReader(bytes.NewReader(p.Adapter), int64(len(p.Adapter)))
	if err != nil {
		t.Fatal(err)
	}
	nan := binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN())))
	for _, ti := range r.Tensors { // F32 (the fixture's default type): every weight NaN
		off := int(r.DataOffset + int64(ti.Offset))
		for i := range int(ti.NumElements()) {
			copy(p.Adapter[off+4*i:], nan)
		}
	}
	e := newEngine(t, Options{})
	f := load(t, e, p, basePath)
	labels, err := schema.Labels("yes", "no")
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]CallOptions{"text": {MaxTokens: 4}, "labels": {Contract: &labels}} {
		_, err := f.Call(context.Background(), "hello", o)
		if !errors.Is(err, ErrNoValidOutput) || !strings.Contains(err.Error(), "non-finite logits") {
			t.Errorf("%s: err = %v, want the non-finite logits error", name, err)
		}
	}
}

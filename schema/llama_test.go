package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/schema"
)

// llamaContracts are checked against llama.cpp's grammar parser and sampler.
func llamaContracts(t *testing.T) map[string]schema.Contract {
	t.Helper()
	must := func(c schema.Contract, err error) schema.Contract {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type item struct {
		Name  string   `json:"name" jsonschema:"maxLength=6"`
		Qty   int      `json:"qty" jsonschema:"minimum=1,maximum=12"`
		Tags  []string `json:"tags,omitempty" jsonschema:"maxItems=2,enum=red,enum=blue"`
		Price *float64 `json:"price,omitempty" jsonschema:"minimum=0,maximum=100"`
	}
	type order struct {
		ID    string `json:"id" jsonschema:"format=uuid"`
		Items []item `json:"items" jsonschema:"maxItems=2"`
		Day   string `json:"day" jsonschema:"format=date"`
	}
	orderSchema, err := schema.FromGoType(order{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]schema.Contract{
		"labels":       must(schema.Labels("pos", "positive", "positively", "neutral", "not sure", `say "hi"`, "東京")),
		"regex code":   must(schema.Regex(`[A-Z]{2}-\d{3,5}`)),
		"regex yes/no": must(schema.Regex(`(yes|no)`)),
		"regex number": must(schema.Regex(`\d{1,6}(\.\d{1,4})?`)),
		"json enum":    must(schema.JSON([]byte(`{"enum":["a",1,null,{"k":[true]}]}`))),
		"json range":   must(schema.JSON([]byte(`{"type":"integer","minimum":-250,"maximum":1234}`))),
		"json object": must(schema.JSON([]byte(`{"type":"object","properties":{"sentiment":{"enum":["positive","negative"]},` +
			`"score":{"type":"number","minimum":0,"maximum":1},"when":{"type":"string","format":"date-time"},` +
			`"note":{"type":["string","null"],"maxLength":8}},"required":["sentiment"],"additionalProperties":false}`))),
		"json go type": must(schema.JSON(orderSchema)),
		"json recursive": must(schema.JSON([]byte(`{"$defs":{"t":{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":9},` +
			`"kids":{"type":"array","items":{"$ref":"#/$defs/t"},"maxItems":2}},"required":["v"],"additionalProperties":false}},"$ref":"#/$defs/t"}`))),
	}
}

// TestLlamaGrammar samples with every contract's grammar on the random
// qwen3-tiny fixture: llama.cpp must parse each grammar, and every output
// that ends (EOG) must pass Validate.
func TestLlamaGrammar(t *testing.T) {
	cfg, err := fixture.Preset("qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.LoadModel(fixturetest.Cached(t, "qwen3-tiny", cfg), llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: 512, Threads: 1}) // one thread: ggml spin-waits badly on a loaded machine
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prompt, err := m.Tokenize("output: ", false, false)
	if err != nil {
		t.Fatal(err)
	}
	const seeds, maxTokens = 20, 160
	var sampleTime, initTime, decodeTime time.Duration
	var sampled, inits int
	for name, ct := range llamaContracts(t) {
		g, err := ct.Grammar()
		if err != nil {
			t.Fatal(err)
		}
		finished := 0
		for seed := range seeds {
			t0 := time.Now()
			s, err := llama.NewSampler(m, llama.SamplerParams{Grammar: g, Temperature: 1, Seed: uint32(seed)})
			initTime += time.Since(t0)
			inits++
			if err != nil {
				t.Fatalf("%s: llama.cpp rejects the grammar: %v\n%s", name, err, g)
			}
			t1 := time.Now()
			out, n, d := sample(t, c, s, prompt, maxTokens)
			s.Close()
			decodeTime += time.Since(t1) - d
			sampleTime += d
			sampled += n
			if out == nil {
				continue // hit maxTokens before the grammar completed
			}
			finished++
			text, err := m.Detokenize(out, false)
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.ValidString(text) {
				// llama.cpp's grammar decoder accepts some invalid UTF-8
				// (e.g. overlong forms) that no grammar can rule out;
				// Validate rejects these outputs.
				if !errors.Is(ct.Validate(text), schema.ErrInvalidOutput) {
					t.Errorf("%s seed %d: invalid UTF-8 %q passes Validate", name, seed, text)
				}
				t.Logf("%s seed %d: engine produced invalid UTF-8 %q (rejected by Validate)", name, seed, text)
				continue
			}
			if err := ct.Validate(text); err != nil {
				t.Errorf("%s seed %d: sampled %q fails Validate: %v", name, seed, text, err)
			}
		}
		t.Logf("%-14s %2d/%d seeds finished within %d tokens", name, finished, seeds, maxTokens)
		if finished == 0 {
			t.Errorf("%s: no sample finished", name)
		}
	}
	if sampled > 0 {
		t.Logf("Sample with grammar: %v per token over %d tokens (vocab %d); decode %v per token; NewSampler %v per grammar",
			sampleTime/time.Duration(sampled), sampled, m.NVocab(), decodeTime/time.Duration(sampled), initTime/time.Duration(inits))
	}
	if _, err := llama.NewSampler(m, llama.SamplerParams{Grammar: "root ::= (", Temperature: 1}); !errors.Is(err, llama.ErrGrammar) {
		t.Errorf("bad grammar: %v", err)
	}
}

// sample decodes prompt then samples until EOG; out is nil when maxTokens
// ran out first. d is the time spent in Sample (grammar + sampling chain).
func sample(t *testing.T, c *llama.Context, s *llama.Sampler, prompt []llama.Token, maxTokens int) (out []llama.Token, n int, d time.Duration) {
	t.Helper()
	m := c.Model()
	c.ClearKV()
	b := llama.NewBatch(len(prompt), 1)
	defer b.Close()
	if err := b.AddSeq(prompt, 0, 0, true); err != nil {
		t.Fatal(err)
	}
	out = []llama.Token{}
	for pos := len(prompt); n < maxTokens; pos++ {
		if err := c.Decode(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		tok := s.Sample(c, b.Len()-1)
		d += time.Since(start)
		n++
		if m.IsEOG(tok) {
			return out, n, d
		}
		out = append(out, tok)
		b.Clear()
		if _, err := b.Add(tok, pos, []int{0}, true); err != nil {
			t.Fatal(err)
		}
	}
	return nil, n, d
}

// BenchmarkSampleGrammar compares one Sample call with and without a grammar.
func BenchmarkSampleGrammar(b *testing.B) {
	cfg, _ := fixture.Preset("qwen3-tiny")
	m, err := llama.LoadModel(fixturetest.Cached(b, "qwen3-tiny", cfg), llama.ModelParams{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	c, _ := llama.NewContext(m, llama.ContextParams{NCtx: 256, Threads: 1})
	defer c.Close()
	prompt, _ := m.Tokenize("output: ", false, false)
	batch := llama.NewBatch(len(prompt), 1)
	defer batch.Close()
	_ = batch.AddSeq(prompt, 0, 0, true)
	if err := c.Decode(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
	ct, _ := schema.JSON([]byte(`{"type":"object","properties":{"s":{"type":"string"}},"required":["s"]}`))
	g, _ := ct.Grammar()
	for _, tc := range []struct{ name, grammar string }{{"none", ""}, {"json-string", g}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				s, _ := llama.NewSampler(m, llama.SamplerParams{Grammar: tc.grammar, Temperature: 1})
				s.Sample(c, batch.Len()-1) // first token: '{' under the grammar
				s.Close()
			}
		})
	}
}

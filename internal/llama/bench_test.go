package llama_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/llama"
)

// BenchmarkDecode measures one decode of n tokens (in n sequences for
// generation-like batches) on the full-shape Qwen3-0.6B Q4_0 fixture, with and
// without an official-shape LoRA adapter:
//
//	make bench-llama
func BenchmarkDecode(b *testing.B) {
	cfg, err := fixture.Preset("qwen3-0.6b")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Type = gguf.TypeQ4_0
	m := load(b, fixture.Cached(b, "qwen3-0.6b-Q4_0", cfg))
	ap := filepath.Join(b.TempDir(), "a.gguf")
	if err := fixture.WriteAdapter(ap, cfg, fixture.OfficialAdapter(1)); err != nil {
		b.Fatal(err)
	}
	a, err := llama.LoadAdapter(m, ap)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	for _, lora := range []bool{false, true} {
		for _, shape := range []struct{ tokens, seqs int }{{1, 1}, {8, 8}, {45, 1}, {128, 1}} {
			b.Run(fmt.Sprintf("lora=%v/tokens=%d/seqs=%d", lora, shape.tokens, shape.seqs), func(b *testing.B) {
				c := newContext(b, m, llama.ContextParams{NCtx: 1024, NSeqMax: 8})
				if lora {
					c.SetAdapter(a, 1)
				}
				batch := llama.NewBatch(shape.tokens, 1)
				defer batch.Close()
				b.ResetTimer()
				for range b.N {
					c.ClearKV()
					batch.Clear()
					for i := range shape.tokens {
						seq, pos := 0, i
						if shape.seqs > 1 {
							seq, pos = i%shape.seqs, 100
						}
						batch.Add(llama.Token(1000+i), pos, []int{seq}, shape.seqs > 1 || i == shape.tokens-1)
					}
					if err := c.Decode(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(shape.tokens)*float64(b.N)/b.Elapsed().Seconds(), "tok/s")
			})
		}
	}
}

// BenchmarkLogSumExp: the per-token normaliser over a Qwen3-sized vocabulary.
func BenchmarkLogSumExp(b *testing.B) {
	x := make([]float32, 151936)
	for i := range x {
		x[i] = float32(i%1000) / 100
	}
	for b.Loop() {
		llama.LogSumExp(x)
	}
}

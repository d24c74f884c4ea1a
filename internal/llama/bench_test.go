package llama_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/llama"
)

// BenchmarkDecode measures one decode of n tokens (in n sequences for
// generation-like batches) on the full-shape Qwen3-0.6B Q4_0 fixture, without
// and with an official-shape LoRA adapter (lora=Q4_0, as published) or the same
// adapter stored as another type, with interp's batch sizes:
//
//	make bench-llama
func BenchmarkDecode(b *testing.B) {
	path, cfg := qwen3Q4(b)
	m := load(b, path)
	adapters := map[string]*llama.Adapter{}
	for _, typ := range []gguf.Type{gguf.TypeQ4_0, gguf.TypeQ8_0, gguf.TypeF16, gguf.TypeF32} {
		ap := filepath.Join(b.TempDir(), "a.gguf")
		fa := fixture.OfficialAdapter(1)
		fa.Type = typ
		if err := fixture.WriteAdapter(ap, cfg, fa); err != nil {
			b.Fatal(err)
		}
		a, err := llama.LoadAdapter(m, ap)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		adapters[typ.String()] = a
	}
	// prefix: tokens already in the KV cache (a program's pseudo-program); 38
	// tokens after 256 is a label-style call's prompt work. 8 vs 16 one-token
	// sequences: the repacked Q4_0 kernel's 512-bit path takes 16 rows at a
	// time, so 8 rows run its narrower path. idle: cells held by
	// other sequences (idle programs' prefixes, 256 each), which attention
	// spans too.
	for _, lora := range []string{"none", "Q4_0", "Q8_0", "F16", "F32"} {
		for _, shape := range []struct{ tokens, seqs, prefix, idle int }{
			{1, 1, 0, 0}, {8, 8, 0, 0}, {16, 16, 0, 0}, {45, 1, 0, 0}, {128, 1, 0, 0}, {38, 1, 256, 0}, {38, 1, 256, 768},
		} {
			b.Run(fmt.Sprintf("lora=%s/tokens=%d/seqs=%d/prefix=%d/idle=%d", lora, shape.tokens, shape.seqs, shape.prefix, shape.idle), func(b *testing.B) {
				c := newContext(b, m, llama.ContextParams{NCtx: 2048, NBatch: 512, NUBatch: 64, NSeqMax: 8})
				if a := adapters[lora]; a != nil {
					c.SetAdapter(a, 1)
				}
				batch := llama.NewBatch(max(shape.tokens, shape.prefix), 1)
				defer batch.Close()
				c.ClearKV()
				for i := range shape.prefix {
					batch.Add(llama.Token(2000+i), i, []int{0}, i == shape.prefix-1)
				}
				if shape.prefix > 0 {
					if err := c.Decode(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
				for j := 0; j < shape.idle; j += 256 {
					batch.Clear()
					for i := range 256 {
						batch.Add(llama.Token(3000+i), i, []int{1 + j/256}, i == 255)
					}
					if err := c.Decode(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for range b.N {
					if shape.prefix > 0 {
						c.SeqRemove(0, shape.prefix, -1)
					} else {
						c.ClearKV()
					}
					batch.Clear()
					for i := range shape.tokens {
						seq, pos := 0, shape.prefix+i
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
	b.Run("c", func(b *testing.B) {
		for b.Loop() {
			llama.LogSumExp(x)
		}
	})
	b.Run("go-math", func(b *testing.B) { // the scalar float64 loop it replaced
		for b.Loop() {
			logSumExpRef(x)
		}
	})
}

// BenchmarkInt8Peak: the CPU's int8 multiply-add peak on every core (512-bit
// VNNI dot products, nothing else), the ceiling for the Q4_0/Q8_0 matrix
// kernels that BenchmarkDecode exercises.
func BenchmarkInt8Peak(b *testing.B) {
	if llama.Int8Peak(1) == 0 {
		b.Skip("no AVX-512 VNNI in this build")
	}
	const rounds = 1 << 22
	var wg sync.WaitGroup
	var macs atomic.Int64
	for range b.N {
		for range runtime.NumCPU() {
			wg.Go(func() { macs.Add(llama.Int8Peak(rounds)) })
		}
		wg.Wait()
	}
	b.ReportMetric(2*float64(macs.Load())/b.Elapsed().Seconds()/1e9, "GOPS")
}

package llama_test

import (
	"cmp"
	"context"
	"slices"
	"testing"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/internal/llama"
)

// qwen3Q4 is the full-shape Qwen3-0.6B fixture with Q4_0 weights.
func qwen3Q4(b *testing.B) (string, fixture.Config) { return presetQ4(b, "qwen3-0.6b") }

func presetQ4(b *testing.B, preset string) (string, fixture.Config) {
	cfg, err := fixture.Preset(preset)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Type = gguf.TypeQ4_0
	return fixturetest.Cached(b, preset+"-Q4_0", cfg), cfg
}

// benchSeq is a 64-token sequence with the loss on its last 32 tokens.
func benchSeq() llama.Sequence {
	const n = 64
	s := llama.Sequence{Tokens: make([]llama.Token, n), Targets: make([]llama.Token, n)}
	for i := range n {
		s.Tokens[i] = llama.Token(1000 + 37*i)
		s.Targets[i] = -1
		if i >= n/2 {
			s.Targets[i] = llama.Token(2000 + 11*i)
		}
	}
	return s
}

// BenchmarkTrainStep measures one forward+backward+AdamW step of paw's
// training graph over a 64-token sequence (loss on its last 32 tokens) on the
// full-shape Qwen3-0.6B and GPT-2 124M Q4_0 fixtures with a rank-64 LoRA on
// every projection, as compile/lora trains by default:
//
//	go test -run '^$' -bench TrainStep -benchtime 3x ./internal/llama/
func BenchmarkTrainStep(b *testing.B) {
	for _, preset := range []string{"qwen3-0.6b", "gpt2-124m"} {
		b.Run(preset, func(b *testing.B) {
			path, _ := presetQ4(b, preset)
			tr, err := llama.NewTrainer(path, llama.TrainParams{Rank: 64, Alpha: 16})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			s := benchSeq()
			n := len(s.Tokens)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				if _, _, err := tr.Step(ctx, []llama.Sequence{s}, llama.AdamParams{LR: 1e-4, Clip: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// BenchmarkTrainStepOps logs where a training step's time goes: every op
// kind's share of one forward+backward pass on one thread (so that no time
// is spent waiting for the other thread), largest first:
//
//	go test -run '^$' -bench TrainStepOps -benchtime 1x -v ./internal/llama/
func BenchmarkTrainStepOps(b *testing.B) {
	for _, preset := range []string{"qwen3-0.6b", "gpt2-124m"} {
		b.Run(preset, func(b *testing.B) {
			path, _ := presetQ4(b, preset)
			tr, err := llama.NewTrainer(path, llama.TrainParams{Rank: 64, Alpha: 16, Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			s := benchSeq()
			ctx := context.Background()
			llama.Profile(tr, true)
			defer llama.Profile(tr, false)
			for range b.N {
				if _, err := tr.Backward(ctx, []llama.Sequence{s}); err != nil {
					b.Fatal(err)
				}
			}
			ops := llama.ProfileTimes(tr)
			slices.SortFunc(ops, func(x, y llama.OpTime) int { return cmp.Compare(y.Micros, x.Micros) })
			var total int64
			for _, o := range ops {
				total += o.Micros
			}
			for _, o := range ops {
				b.Logf("%-32s %8.1f ms/step %5.1f%% %6d nodes/step", o.Op, float64(o.Micros)/1e3/float64(b.N),
					100*float64(o.Micros)/float64(total), o.Runs/int64(b.N))
			}
			b.ReportMetric(float64(len(s.Tokens)*b.N)/(float64(total)/1e6), "tok/s")
		})
	}
}

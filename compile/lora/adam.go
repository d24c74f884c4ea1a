package lora

import (
	"context"
	"math"

	"github.com/paw-dev/paw/internal/llama"
)

// adam is AdamW over a trainer's LoRA tensors with global-norm clipping,
// kept in Go (not in the trainer) so that its moments can be checkpointed
// and a resumed compile continues exactly where it stopped.
type adam struct {
	m, v [][]float32 // first and second moments, per LoRA tensor
	step int64       // updates taken
}

func newAdam(tr *llama.Trainer) *adam {
	a := &adam{}
	for _, lt := range tr.LoRA() {
		a.m = append(a.m, make([]float32, lt.Ne0*lt.Ne1))
		a.v = append(a.v, make([]float32, lt.Ne0*lt.Ne1))
	}
	return a
}

// Step computes the gradient of batch and takes one AdamW step (defaults
// of llama.AdamParams, no weight decay). It returns the loss before it.
func (a *adam) Step(ctx context.Context, tr *llama.Trainer, batch []llama.Sequence, lr, clip float32) (float64, error) {
	loss, err := tr.Backward(ctx, batch)
	if err != nil {
		return 0, err
	}
	grads := make([][]float32, len(a.m))
	sq := 0.0
	for i := range grads {
		grads[i] = tr.Grad(i)
		for _, g := range grads[i] {
			sq += float64(g) * float64(g)
		}
	}
	gs := float32(1)
	if norm := math.Sqrt(sq); clip > 0 && norm > float64(clip) {
		gs = float32(float64(clip) / norm)
	}
	a.step++
	const b1, b2, eps = llama.DefaultBeta1, llama.DefaultBeta2, llama.DefaultEps
	bc1 := float32(1 - math.Pow(b1, float64(a.step)))
	bc2 := float32(1 - math.Pow(b2, float64(a.step)))
	for i, g := range grads {
		w := tr.Weights(i)
		m, v := a.m[i], a.v[i]
		for j := range w {
			gj := g[j] * gs
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			w[j] -= lr * (m[j] / bc1) / (float32(math.Sqrt(float64(v[j]/bc2))) + eps)
		}
		if err := tr.SetWeights(i, w); err != nil {
			return 0, err
		}
	}
	return loss, nil
}

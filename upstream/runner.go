package upstream

import (
	"context"

	"github.com/paw-dev/paw/eval"
)

// Runner answers eval cases with the hosted model, prompted with Spec: the
// baseline a compiled program is scored against. It satisfies eval.Runner.
type Runner struct {
	Client *Client
	Spec   string
	// Valid, when set, tells whether an output keeps the program's
	// contract (a label of its set, say); nil counts every answer valid.
	Valid func(output string) bool
}

// Run asks the hosted model about input.
func (r Runner) Run(ctx context.Context, input string) (eval.Answer, error) {
	comp, err := r.Client.Complete(ctx, r.Spec, input)
	if err != nil {
		return eval.Answer{}, err
	}
	return eval.Answer{Output: comp.Text, Valid: r.Valid == nil || r.Valid(comp.Text),
		Latency: comp.Latency, Tokens: comp.CompletionTokens, PromptTokens: comp.PromptTokens}, nil
}

package basemodel

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
)

// tinyModel is the gpt2-tiny fixture (1024-token context).
func tinyModel(t testing.TB) string {
	t.Helper()
	cfg, err := fixture.Preset("gpt2-tiny")
	if err != nil {
		t.Fatal(err)
	}
	return fixturetest.Cached(t, "gpt2-tiny", cfg)
}

func TestCheckSampling(t *testing.T) {
	for _, tt := range []struct {
		name        string
		maxTokens   int
		temperature float32
		ok          bool
	}{
		{"zero", 0, 0, true},
		{"set", 7, 0.8, true},
		{"negative max tokens", -1, 0, false},
		{"negative temperature", 0, -0.5, false},
		{"NaN temperature", 0, float32(math.NaN()), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckSampling(tt.maxTokens, tt.temperature); (err == nil) != tt.ok {
				t.Errorf("CheckSampling(%d, %v) = %v, want ok %v", tt.maxTokens, tt.temperature, err, tt.ok)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	path := tinyModel(t)
	ctx := context.Background()
	o := CompleteOptions{MaxTokens: 6, Threads: 1}
	c, err := Complete(ctx, path, "Once upon a time", o)
	if err != nil {
		t.Fatal(err)
	}
	if c.PromptTokens == 0 || c.Tokens == 0 || c.Tokens > o.MaxTokens || c.Elapsed <= 0 {
		t.Errorf("Complete = %+v, want a prompt, 1 to %d tokens and a duration", c, o.MaxTokens)
	}
	again, err := Complete(ctx, path, "Once upon a time", o)
	if err != nil || again.Text != c.Text || again.Tokens != c.Tokens {
		t.Errorf("greedy twice: %q (%d tokens), then %q (%d tokens), %v", c.Text, c.Tokens, again.Text, again.Tokens, err)
	}
	if _, err := Complete(ctx, path, strings.Repeat("word ", 3000), o); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("a prompt beyond the context: err = %v", err)
	}
}

func TestCompleteOptionsChecked(t *testing.T) {
	path := tinyModel(t)
	for _, o := range []CompleteOptions{{MaxTokens: -1}, {Temperature: -0.5}, {Temperature: float32(math.NaN())}} {
		if _, err := Complete(context.Background(), path, "x", o); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: err = %v, want ErrOptions", o, err)
		}
	}
}

package paw_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
)

// packFixture writes a .paw in the official layout for the qwen3-tiny fixture.
func packFixture(t *testing.T) (pawPath, basePath string) {
	t.Helper()
	cfg, _ := fixture.Preset("qwen3-tiny")
	basePath = fixturetest.Cached(t, "qwen3-tiny", cfg)
	dir := t.TempDir()
	adapter := filepath.Join(dir, "adapter.gguf")
	a := fixture.OfficialAdapter(3)
	a.Scale = 0.5
	if err := fixture.WriteAdapter(adapter, cfg, a); err != nil {
		t.Fatal(err)
	}
	pawPath = filepath.Join(dir, "triage.paw")
	_, err := program.Pack(program.PackOptions{Spec: "Route a support ticket", PseudoProgram: "Return ONLY one of: billing, technical.",
		Interpreter: "qwen3", AdapterPath: adapter, BasePath: basePath, Out: pawPath})
	if err != nil {
		t.Fatal(err)
	}
	return pawPath, basePath
}

// openFixture opens an offline engine on the fixture base and loads the
// fixture program from its .paw path; both close with the test.
func openFixture(t *testing.T) (*paw.Engine, *paw.Function) {
	t.Helper()
	return openFixtureWith(t, paw.Options{CacheDir: t.TempDir(), Offline: true})
}

// openFixtureWith is openFixture with o (its Model set to the fixture base).
func openFixtureWith(t *testing.T, o paw.Options) (*paw.Engine, *paw.Function) {
	t.Helper()
	pawPath, basePath := packFixture(t)
	o.Model = basePath
	eng, err := paw.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	fn, err := eng.Function(context.Background(), pawPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	return eng, fn
}

func TestFunctionFromPath(t *testing.T) {
	ctx := context.Background()
	eng, fn := openFixture(t)
	one, err := fn.Call(ctx, "I was charged twice", paw.WithMaxTokens(6))
	if err != nil {
		t.Fatal(err)
	}
	if one.Tokens == 0 || one.Program != fn.Program().Meta.ProgramID {
		t.Errorf("result %+v", one)
	}
	batch, err := fn.Batch(ctx, []string{"app crashes", "I was charged twice"}, paw.WithMaxTokens(6))
	if err != nil {
		t.Fatal(err)
	}
	if batch[1].Output != one.Output {
		t.Errorf("batched output %q differs from the single call %q", batch[1].Output, one.Output)
	}
	base, err := eng.Base(ctx, "qwen3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Call(ctx, "hello", paw.WithMaxTokens(3)); err != nil {
		t.Fatal(err)
	}
}

func TestOfflineMissingRuntime(t *testing.T) {
	pawPath, _ := packFixture(t)
	ctx := context.Background()
	eng, err := paw.Open(ctx, paw.Options{CacheDir: t.TempDir(), Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, err = eng.Function(ctx, pawPath)
	var missing *paw.MissingError
	if !errors.As(err, &missing) || !errors.Is(err, paw.ErrOffline) || !errors.Is(err, paw.ErrNotCached) {
		t.Fatalf("err = %v, want a hub.MissingError saying what to pull", err)
	}
	// Base mode: an interpreter's runtime is missing the same way; an unknown
	// name says which names are known.
	if _, err = eng.Base(ctx, "gpt2"); !errors.As(err, &missing) || missing.Ref != program.DefaultRuntimeGPT2 || strings.Contains(err.Error(), "neither") {
		t.Errorf("base gpt2: %v", err)
	}
	if _, err = eng.Base(ctx, "gpt3"); !errors.As(err, &missing) || !strings.Contains(err.Error(), "neither an interpreter, qwen3 or gpt2") {
		t.Errorf("base gpt3: %v", err)
	}
}

type priority string

type ticket struct {
	Team     string   `json:"team" jsonschema:"enum=billing,enum=tech"`
	Priority int      `json:"priority" jsonschema:"minimum=1,maximum=3"`
	Tags     []string `json:"tags,omitempty" jsonschema:"maxItems=2"`
}

func TestTyped(t *testing.T) {
	ctx := context.Background()
	_, fn := openFixture(t)
	cls, err := paw.Labels[priority](fn, "urgent", "normal", "low")
	if err != nil {
		t.Fatal(err)
	}
	p, probs, err := cls.Call(ctx, "server down")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := probs[p]; !ok || len(probs) != 3 {
		t.Errorf("label %q with probabilities %v", p, probs)
	}
	if _, err := paw.Labels[priority](fn); err == nil {
		t.Error("an empty label set was accepted")
	}
	j, err := paw.JSON[ticket](fn)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i := range 5 {
		tk, err := j.Call(ctx, "I was charged twice", paw.WithMaxTokens(64), paw.WithTemperature(0.8, uint32(i)))
		if err != nil {
			if errors.Is(err, paw.ErrNoValidOutput) {
				continue // random weights may not close the object in 64 tokens
			}
			t.Fatal(err)
		}
		if (tk.Team != "billing" && tk.Team != "tech") || tk.Priority < 1 || tk.Priority > 3 || len(tk.Tags) > 2 {
			t.Errorf("decoded %+v breaks the schema", tk)
		}
		ok++
	}
	if ok == 0 {
		t.Error("no JSON call produced a value")
	}
}

// TestCallErrors matches call errors with the root package's sentinels only.
func TestCallErrors(t *testing.T) {
	ctx := context.Background()
	_, fn := openFixture(t)
	if _, err := fn.Call(ctx, "x", paw.WithTemperature(-1, 0)); !errors.Is(err, paw.ErrOptions) {
		t.Errorf("negative temperature: %v, want paw.ErrOptions", err)
	}
	long := strings.Repeat("the ticket is long ", 2000) // past the fixture's 2048-token context
	if _, err := fn.Call(ctx, long, paw.WithMaxTokens(2)); !errors.Is(err, paw.ErrInputTooLong) {
		t.Errorf("long input: %v, want paw.ErrInputTooLong", err)
	}
	if _, err := fn.Call(ctx, "x", paw.Option{}, paw.WithMaxTokens(2)); err != nil {
		t.Errorf("a zero Option: %v", err)
	}
}

// TestOpenHub: a Hub excludes CacheDir and Offline (they would be ignored),
// and the engine keeps its prefix caches under the Hub's Dir.
func TestOpenHub(t *testing.T) {
	ctx := context.Background()
	for name, o := range map[string]paw.Options{
		"cache dir": {Hub: &hub.Client{}, CacheDir: t.TempDir()},
		"offline":   {Hub: &hub.Client{}, Offline: true},
	} {
		_, err := paw.Open(ctx, o)
		if !errors.Is(err, paw.ErrEngineOptions) || !strings.Contains(err.Error(), "Options.Hub is set together with Options.CacheDir or Options.Offline") {
			t.Errorf("%s: %v, want paw.ErrEngineOptions naming the fields", name, err)
		}
	}
	dir := t.TempDir()
	openFixtureWith(t, paw.Options{Hub: &hub.Client{Dir: dir, Offline: true}})
	if entries, err := os.ReadDir(filepath.Join(dir, "kv")); err != nil || len(entries) == 0 {
		t.Errorf("no prefix cache under the hub's dir: %v, %v", entries, err)
	}
}

// TestLabelsConcurrent: two classifiers share one options slice with spare
// capacity; each call must keep its own contract (and, under -race, no
// call may write into the shared array).
func TestLabelsConcurrent(t *testing.T) {
	ctx := context.Background()
	_, fn := openFixture(t)
	opts := make([]paw.Option, 1, 4)
	opts[0] = paw.WithMaxTokens(4)
	sets := [][]priority{{"urgent", "normal", "low"}, {"billing", "technical"}}
	var wg sync.WaitGroup
	for _, set := range sets {
		cls, err := paw.Labels(fn, set...)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range 20 {
				p, probs, err := cls.Call(ctx, "server down", opts...)
				if err != nil {
					t.Error(err)
					return
				}
				if _, ok := probs[p]; !ok || len(probs) != len(set) {
					t.Errorf("labels %v: answer %q with probabilities %v", set, p, probs)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestStream: Function.Stream hands over the tokens as they come, adding up
// to the output, with each token's logprob equal to the result's; an error
// from the callback stops the call and is returned.
func TestStream(t *testing.T) {
	ctx := context.Background()
	_, fn := openFixture(t)
	var text strings.Builder
	var lps []paw.TokenLogprob
	res, err := fn.Stream(ctx, "I was charged twice", func(tk paw.Token) error {
		text.WriteString(tk.Text)
		if tk.Logprob != nil {
			lps = append(lps, *tk.Logprob)
		}
		return nil
	}, paw.WithMaxTokens(24), paw.WithLogprobs(2))
	if err != nil {
		t.Fatal(err)
	}
	if text.String() != res.Output || len(lps) != res.Tokens || len(res.Logprobs) != res.Tokens || len(res.Logprobs[0].Top) != 2 {
		t.Fatalf("streamed %q (%d logprobs), result %+v", text.String(), len(lps), res)
	}
	for i := range lps {
		if lps[i].Token != res.Logprobs[i].Token || lps[i].Logprob != res.Logprobs[i].Logprob {
			t.Errorf("token %d: streamed %+v, result %+v", i, lps[i], res.Logprobs[i])
		}
	}
	stop := errors.New("enough")
	if _, err := fn.Stream(ctx, "I was charged twice", func(paw.Token) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("err = %v, want the callback's", err)
	}
}

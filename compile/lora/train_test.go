package lora_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/interp"
	"github.com/paw-dev/paw/program"
)

// stories converts the real pretrained stories260K to GGUF, or skips.
func stories(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "fixtures", "stories260K")
	if _, err := os.Stat(filepath.Join(dir, "stories260K.bin")); err != nil {
		t.Skipf("stories260K fixture not found beside the repository: %v", err)
	}
	path := filepath.Join(t.TempDir(), "stories260K.gguf")
	if err := fixture.Stories260K(dir, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// animalOrToy is the toy fuzzy function: whether a short sentence in
// TinyStories' words is about an animal or a toy. 300 sentences from
// templates, shuffled, 200 to train and 100 held out.
func animalOrToy() (train, held []lora.Example) {
	animals := []string{"dog", "cat", "bird", "fish", "bunny", "frog", "duck", "bear", "lion", "puppy",
		"kitten", "horse", "cow", "pig", "mouse", "owl", "monkey", "sheep", "fox", "turtle"}
	toys := []string{"ball", "doll", "car", "kite", "truck", "teddy", "block", "puzzle", "train", "robot",
		"boat", "drum", "balloon", "top", "plane", "yo-yo", "crayon", "rocket", "whistle", "jar"}
	templates := []string{
		"Lily saw a %s in the park.", "Tim had a big %s.", "The little %s was red.",
		"Mom gave her a %s.", "They found a %s under the tree.", "The %s was very happy.",
		"He looked at the old %s.", "Sue wanted the new %s.",
	}
	var all []lora.Example
	for _, tm := range templates {
		for i := range animals {
			all = append(all,
				lora.Example{Input: fmt.Sprintf(tm, animals[i]), Output: " animal"},
				lora.Example{Input: fmt.Sprintf(tm, toys[i]), Output: " toy"})
		}
	}
	r := rand.New(rand.NewPCG(16, 16))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:200], all[200:300]
}

var toyTemplate = program.Template{Prefix: "Sentence: ", Suffix: "\nIs it an animal or a toy? Answer:"}

// accuracy answers every example greedily with llama.cpp (the runtime's
// engine), with the adapter at adapterPath when it is not "".
func accuracy(t *testing.T, base, adapterPath string, exs []lora.Example) (float64, []string) {
	t.Helper()
	ctx := context.Background()
	m, err := llama.LoadModel(base, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: 256, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if adapterPath != "" {
		a, err := llama.LoadAdapter(m, adapterPath)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := c.SetAdapter(a, 1); err != nil {
			t.Fatal(err)
		}
	}
	b := llama.NewBatch(256, 1)
	defer b.Close()
	right := 0
	var answers []string
	for _, ex := range exs {
		prompt, err := m.Tokenize(toyTemplate.Render(ex.Input), true, true)
		if err != nil {
			t.Fatal(err)
		}
		c.ClearKV()
		b.Clear()
		if err := b.AddSeq(prompt, 0, 0, true); err != nil {
			t.Fatal(err)
		}
		var out []llama.Token
		for pos := len(prompt); len(out) < 8; pos++ {
			if err := c.Decode(ctx, b); err != nil {
				t.Fatal(err)
			}
			row, err := c.LogitsView(b.Len() - 1)
			if err != nil {
				t.Fatal(err)
			}
			best := 0
			for i, v := range row {
				if v > row[best] {
					best = i
				}
			}
			if tok := llama.Token(best); m.IsEOG(tok) || tok == m.EOS() {
				break
			}
			out = append(out, llama.Token(best))
			b.Clear()
			if _, err := b.Add(llama.Token(best), pos, []int{0}, true); err != nil {
				t.Fatal(err)
			}
		}
		text, err := m.Detokenize(out, false)
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, label(text))
		if answers[len(answers)-1] == strings.TrimSpace(ex.Output) {
			right++
		}
	}
	return float64(right) / float64(len(exs)), answers
}

// label is the class a generated text gives: stories260K never saw EOS
// (TinyStories separates stories with BOS), and its EOS embedding row is one
// of many identical untrained rows, so no adapter can make it the argmax;
// the answer is the label at the start of the text, followed by no further
// letter. What follows is a near-tie among those untrained rows, so kernels
// that differ in the last digits (llama.cpp's batched decode, the runtime's
// drafts) may continue it differently.
func label(text string) string {
	text = strings.TrimSpace(text)
	for _, l := range []string{"animal", "toy"} {
		if rest, ok := strings.CutPrefix(text, l); ok && (rest == "" || !unicode.IsLetter([]rune(rest)[0])) {
			return l
		}
	}
	return "?"
}

// TestCompileTeachesStories260K is the proof that compiling teaches: on the
// real pretrained stories260K, the held-out accuracy of a toy classifier
// with the prompt alone vs after LoRA training, checked through llama.cpp
// with the exported adapter.
func TestCompileTeachesStories260K(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for several seconds")
	}
	base := stories(t)
	train, held := animalOrToy()
	before, _ := accuracy(t, base, "", held)
	start := time.Now()
	c := &lora.Compiler{
		// One thread: at 260K parameters a second one only adds barrier
		// waits, which collapse when other processes share the cores
		// (measured: 163 instead of ~2,200 tok/s at a load of 4 on 2 cores).
		Options:  lora.Options{Base: base, Template: toyTemplate, Rank: 8, Alpha: 16, Epochs: 4, LR: 3e-3, BatchSize: 8, Threads: 1, Seed: 1},
		Examples: train,
		HeldOut:  held,
	}
	res, err := c.Compile(context.Background(), compile.Request{Spec: "Is the sentence about an animal or a toy?"})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	pawPath := filepath.Join(t.TempDir(), "animal-or-toy.paw")
	if err := res.Program.WriteFile(pawPath); err != nil {
		t.Fatal(err)
	}
	prog, err := program.Open(pawPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec lora.Training
	if err := json.Unmarshal(prog.Meta.Extra[lora.TrainingKey], &rec); err != nil {
		t.Fatal(err)
	}
	if prog.Meta.CompilerSnapshot != lora.CompilerSnapshot || rec.Examples != len(train) || rec.DataSHA256 == "" {
		t.Errorf("meta: snapshot %q, training record %+v", prog.Meta.CompilerSnapshot, rec)
	}
	path := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := os.WriteFile(path, prog.Adapter, 0o644); err != nil {
		t.Fatal(err)
	}
	after, answers := accuracy(t, base, path, held)
	t.Logf("held-out accuracy: %.0f%% with the prompt alone, %.0f%% after compile (paw's graph, teacher-forced: %.0f%% -> %.0f%%); compile %v (%d steps, loss %.3f -> %.3f, %.0f tok/s forward+backward)",
		100*before, 100*after, 100*rec.HeldOutBaseAccuracy, 100*rec.HeldOutAccuracy, elapsed.Round(time.Millisecond), rec.Steps, rec.FirstLoss, rec.FinalLoss, rec.TokensPerSec)
	if rec.HeldOut != len(held) || rec.HeldOutAccuracy != after || rec.HeldOutBaseAccuracy != before {
		t.Errorf("meta.json records %d held out, accuracy %.2f -> %.2f; llama.cpp measured %.2f -> %.2f",
			rec.HeldOut, rec.HeldOutBaseAccuracy, rec.HeldOutAccuracy, before, after)
	}
	if after < 0.9 {
		t.Errorf("held-out accuracy after compile %.2f, want >= 0.90 (answers %q)", after, answers[:10])
	}
	if after <= before {
		t.Errorf("training did not help: %.2f before, %.2f after", before, after)
	}
	// The .paw runs in the runtime with the same answers.
	e, err := interp.New(interp.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f, err := e.Load(context.Background(), prog, base)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inputs := make([]string, len(held))
	for i, ex := range held {
		inputs[i] = ex.Input
	}
	runStart := time.Now()
	rs, err := f.Batch(context.Background(), inputs, interp.CallOptions{MaxTokens: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("runtime: %d held-out calls in %v", len(rs), time.Since(runStart).Round(time.Millisecond))
	for i, r := range rs {
		if got := label(r.Output); got != answers[i] {
			t.Errorf("%q: runtime answers %q (%s), llama.cpp with the adapter %s", held[i].Input, r.Output, got, answers[i])
		}
	}
}

// Package lora compiles a fuzzy function offline: it trains a LoRA adapter
// on the user's CPU over examples rendered through the program's prompt
// template (loss on the output tokens and EOS only), with paw's own ggml
// training graph in internal/llama, and exports it as a GGUF adapter in the
// official layout and a .paw bundle.
package lora

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
)

// Defaults applied to zero Options fields.
const (
	DefaultRank      = 64 // as official PAW adapters
	DefaultAlpha     = 16
	DefaultEpochs    = 3
	DefaultLR        = 2e-4
	DefaultBatchSize = 8
	DefaultClip      = 1.0
	// DefaultWarmup is the fraction of steps over which the learning rate
	// rises linearly; it then decays along a cosine to a tenth.
	DefaultWarmup = 0.1
)

// Sentinel errors.
var (
	// ErrNoExamples means there is nothing to train on.
	ErrNoExamples = errors.New("lora: no training examples")
	// ErrExample means an example cannot be trained on.
	ErrExample = errors.New("lora: unusable example")
)

// Example is one input and the output the function must give for it.
type Example struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// Options configures Train. Zero fields take the defaults above.
type Options struct {
	Base     string           // base model GGUF (required)
	Template program.Template // the prompt around each input
	Rank     int
	Alpha    float32
	Targets  []string // block projections to adapt; default: every projection of the architecture
	Epochs   int
	LR       float32
	// BatchSize is the number of examples per optimizer step.
	BatchSize int
	Clip      float32 // global gradient norm limit
	Seed      uint64  // shuffling
	Threads   int     // 0: all cores
	// Progress, if set, is called after every step.
	Progress func(Progress)
	// CheckpointDir, when set, keeps the compile's checkpoint (see Train).
	CheckpointDir   string
	CheckpointEvery int // steps between checkpoints; 0: DefaultCheckpointEvery
}

// Progress reports one optimizer step.
type Progress struct {
	Step, Steps int
	Epoch       int
	Loss        float64 // mean cross-entropy of the step's batch, before the update
	LR          float32
	Elapsed     time.Duration // since this run started
	Resumed     int           // the step this run resumed from (0: none)
}

// EpochLoss is a point of the loss curve: the mean training loss of an
// epoch's steps and the held-out loss after it (epoch 0: before training).
type EpochLoss struct {
	Epoch   int     `json:"epoch"`
	Train   float64 `json:"train_loss,omitempty"`
	HeldOut float64 `json:"held_out_loss,omitempty"`
}

// Result is a trained adapter.
type Result struct {
	Adapter *Adapter
	Losses  []float64 // per step
	Curve   []EpochLoss
	// ResumedAt is the step a checkpoint resumed from (0: none).
	ResumedAt int
	Tokens    int           // tokens processed (forward and backward)
	Duration  time.Duration // training time, the resumed runs' included
	// BaseAccuracy and Accuracy are the held-out accuracies before and
	// after training (see Accuracy); both are 0 without held-out examples.
	BaseAccuracy, Accuracy float64
}

// TokensPerSecond is the training throughput.
func (r *Result) TokensPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.Duration.Seconds()
}

func (o Options) withDefaults() Options {
	o.Rank = cmp.Or(o.Rank, DefaultRank)
	o.Alpha = cmp.Or(o.Alpha, DefaultAlpha)
	o.Epochs = cmp.Or(o.Epochs, DefaultEpochs)
	o.LR = cmp.Or(o.LR, DefaultLR)
	o.BatchSize = cmp.Or(o.BatchSize, DefaultBatchSize)
	o.Clip = cmp.Or(o.Clip, DefaultClip)
	o.CheckpointEvery = cmp.Or(o.CheckpointEvery, DefaultCheckpointEvery)
	return o
}

// Train fits a LoRA adapter for the base model to examples and measures
// its accuracy on heldOut (never trained on), which may be empty. With
// Options.CheckpointDir it saves its state there every CheckpointEvery steps
// and when ctx ends, first resumes from a checkpoint of the same compile
// (same base, template, data and options) found there, and removes it when
// done.
func Train(ctx context.Context, o Options, examples, heldOut []Example) (*Result, error) {
	o = o.withDefaults()
	if len(examples) == 0 {
		return nil, ErrNoExamples
	}
	key, err := runKey(o, examples, heldOut)
	if err != nil {
		return nil, err
	}
	tok, err := newTokenizer(o.Base)
	if err != nil {
		return nil, err
	}
	defer tok.Close()
	seqs, err := tok.sequences(o.Template, examples)
	if err != nil {
		return nil, err
	}
	held, err := tok.sequences(o.Template, heldOut)
	if err != nil {
		return nil, fmt.Errorf("held out: %w", err)
	}
	tr, err := llama.NewTrainer(o.Base, llama.TrainParams{Rank: o.Rank, Alpha: o.Alpha, Targets: o.Targets, Threads: o.Threads})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer tr.Close()
	initLoRA(tr, o.Seed)
	opt := newAdam(tr)
	ck, err := loadCheckpoint(o.CheckpointDir, key)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if ck != nil {
		if err := ck.restore(tr, opt); err != nil {
			return nil, err
		}
		res.Losses, res.Curve, res.Tokens, res.BaseAccuracy, res.ResumedAt = ck.Losses, ck.Curve, ck.Tokens, ck.BaseAcc, ck.Step
	} else {
		ck = &checkpoint{Key: key}
		if res.BaseAccuracy, err = accuracy(ctx, tr, held, o.BatchSize); err != nil {
			return nil, err
		}
		if len(held) > 0 {
			l, err := meanLoss(ctx, tr, held, o.BatchSize)
			if err != nil {
				return nil, err
			}
			res.Curve = append(res.Curve, EpochLoss{Epoch: 0, HeldOut: l})
		}
	}
	perEpoch := (len(seqs) + o.BatchSize - 1) / o.BatchSize
	steps := perEpoch * o.Epochs
	prior := ck.Elapsed
	start := time.Now()
	save := func(step int) error {
		if o.CheckpointDir == "" {
			return nil
		}
		ck.Step, ck.Losses, ck.Curve, ck.Tokens, ck.BaseAcc = step, res.Losses, res.Curve, res.Tokens, res.BaseAccuracy
		ck.Elapsed = prior + time.Since(start)
		ck.capture(tr, opt)
		if err := ck.save(o.CheckpointDir); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		return nil
	}
	for step := len(res.Losses); step < steps; {
		epoch := step / perEpoch
		order := epochOrder(o.Seed, epoch, len(seqs))
		batch := make([]llama.Sequence, 0, o.BatchSize)
		b := (step % perEpoch) * o.BatchSize
		n := 0
		for _, i := range order[b:min(b+o.BatchSize, len(order))] {
			batch = append(batch, seqs[i])
			n += len(seqs[i].Tokens)
		}
		lr := schedule(o.LR, step, steps)
		loss, err := opt.Step(ctx, tr, batch, lr, o.Clip)
		if err != nil {
			if ctx.Err() != nil {
				// The failed step changed nothing: keep the state of the last.
				return nil, errors.Join(fmt.Errorf("train: step %d: %w", step, err), save(step))
			}
			return nil, fmt.Errorf("train: step %d: %w", step, err)
		}
		res.Losses = append(res.Losses, loss)
		res.Tokens += n
		step++
		if step%perEpoch == 0 || step == steps {
			e := EpochLoss{Epoch: epoch + 1, Train: mean(res.Losses[epoch*perEpoch:])}
			if len(held) > 0 {
				if e.HeldOut, err = meanLoss(ctx, tr, held, o.BatchSize); err != nil {
					return nil, errors.Join(err, save(step))
				}
			}
			res.Curve = append(res.Curve, e)
		}
		if step%o.CheckpointEvery == 0 || step == steps {
			if err := save(step); err != nil {
				return nil, err
			}
		}
		if o.Progress != nil {
			o.Progress(Progress{Step: step, Steps: steps, Epoch: epoch, Loss: loss, LR: lr, Elapsed: time.Since(start),
				Resumed: res.ResumedAt})
		}
	}
	res.Duration = prior + time.Since(start)
	if res.Accuracy, err = accuracy(ctx, tr, held, o.BatchSize); err != nil {
		return nil, err
	}
	res.Adapter = snapshot(tr, o)
	if o.CheckpointDir != "" {
		// Done: a rerun of the same compile starts afresh.
		if err := os.RemoveAll(filepath.Dir(checkpointPath(o.CheckpointDir, key))); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	return res, nil
}

// epochOrder is the order of the examples in epoch: a shuffle that depends
// only on the seed and the epoch, so a resumed compile takes the same batches.
func epochOrder(seed uint64, epoch, n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	r := rand.New(rand.NewPCG(seed, 0x9a3+uint64(epoch)))
	r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// meanLoss is the mean cross-entropy of seqs' output tokens, by batch.
func meanLoss(ctx context.Context, tr *llama.Trainer, seqs []llama.Sequence, batch int) (float64, error) {
	sum := 0.0
	for b := 0; b < len(seqs); b += batch {
		part := seqs[b:min(b+batch, len(seqs))]
		l, err := tr.Loss(ctx, part)
		if err != nil {
			return 0, fmt.Errorf("held-out loss: %w", err)
		}
		sum += l * float64(len(part))
	}
	return sum / float64(len(seqs)), nil
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(max(1, len(x)))
}

// accuracy is the fraction of seqs whose every output token is the most
// likely one after the prompt and the output before it: what greedy decoding
// would write. The final EOS is left out, as some base models never learned
// to emit it (stories260K) and the runtime can stop on a length or string.
func accuracy(ctx context.Context, tr *llama.Trainer, seqs []llama.Sequence, batch int) (float64, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	nv := tr.Info().Vocab
	right := 0
	for b := 0; b < len(seqs); b += batch {
		part := seqs[b:min(b+batch, len(seqs))]
		logits, err := tr.Logits(ctx, part)
		if err != nil {
			return 0, fmt.Errorf("accuracy: %w", err)
		}
		row := 0
		for _, s := range part {
			ok := true
			var targets []llama.Token
			for _, tg := range s.Targets {
				if tg >= 0 {
					targets = append(targets, tg)
				}
			}
			for i, tg := range targets {
				if i < len(targets)-1 && argmax(logits[(row+i)*nv:(row+i+1)*nv]) != int(tg) {
					ok = false
				}
			}
			row += len(targets)
			if ok {
				right++
			}
		}
	}
	return float64(right) / float64(len(seqs)), nil
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// schedule is linear warmup then cosine decay to a tenth of lr.
func schedule(lr float32, step, steps int) float32 {
	warm := max(1, int(DefaultWarmup*float64(steps)))
	if step < warm {
		return lr * float32(step+1) / float32(warm)
	}
	p := float64(step-warm) / float64(max(1, steps-warm))
	return lr * float32(0.1+0.9*0.5*(1+math.Cos(math.Pi*p)))
}

// initLoRA sets every lora_a uniform on ±1/sqrt(n_in) (PEFT's Kaiming
// init) and leaves lora_b zero, so training starts from the base model.
func initLoRA(tr *llama.Trainer, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x10a))
	for i, lt := range tr.LoRA() {
		if !isA(lt.Name) {
			continue
		}
		bound := 1 / math.Sqrt(float64(lt.Ne0))
		v := make([]float32, lt.Ne0*lt.Ne1)
		for j := range v {
			v[j] = float32((2*r.Float64() - 1) * bound)
		}
		_ = tr.SetWeights(i, v) // sizes come from the trainer itself
	}
}

func isA(name string) bool { return len(name) > 7 && name[len(name)-7:] == ".lora_a" }

// tokenizer turns examples into training sequences with the base model's
// own vocabulary, split exactly as the runtime (package interp) splits a
// call: BOS when the model adds one, the template prefix with special-token
// text parsed, then the input and the suffix's text before its first special
// token as plain text, then the rest of the suffix parsed. Tokenizing the
// whole rendered prompt at once instead trains on prompts the runtime never
// builds: SentencePiece starts every separately tokenized piece with a word
// space, so the runtime sees " Lily" where the whole text has "L" "ily".
type tokenizer struct {
	m        *llama.Model
	specials []string // texts of control and user-defined tokens
}

func newTokenizer(base string) (*tokenizer, error) {
	m, err := llama.LoadModel(base, llama.ModelParams{VocabOnly: true})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	t := &tokenizer{m: m}
	for id := range m.NVocab() {
		tok := llama.Token(id)
		if m.IsControl(tok) || m.IsUserDefined(tok) {
			if s := m.TokenText(tok); len(s) >= 2 {
				t.specials = append(t.specials, s)
			}
		}
	}
	return t, nil
}

func (t *tokenizer) Close() error { return t.m.Close() }

// Count is the number of tokens of plain text s.
func (t *tokenizer) Count(s string) int {
	toks, err := t.m.Tokenize(s, false, false)
	if err != nil {
		return len(s) // an upper bound: no tokenizer makes more tokens than bytes
	}
	return len(toks)
}

func (t *tokenizer) sequences(tmpl program.Template, exs []Example) ([]llama.Sequence, error) {
	seqs := make([]llama.Sequence, len(exs))
	for i, ex := range exs {
		var err error
		if seqs[i], err = t.sequence(tmpl, ex); err != nil {
			return nil, fmt.Errorf("train: example %d: %w", i, err)
		}
	}
	return seqs, nil
}

// prompt tokenizes the template around input as the runtime does.
func (t *tokenizer) prompt(tmpl program.Template, input string) ([]llama.Token, error) {
	var p []llama.Token
	if t.m.AddBOS() {
		p = append(p, t.m.BOS())
	}
	cut := len(tmpl.Suffix)
	for _, sp := range t.specials {
		if i := strings.Index(tmpl.Suffix, sp); i >= 0 && i < cut {
			cut = i
		}
	}
	for _, part := range []struct {
		text    string
		special bool
	}{{tmpl.Prefix, true}, {input + tmpl.Suffix[:cut], false}, {tmpl.Suffix[cut:], true}} {
		if part.text == "" {
			continue
		}
		toks, err := t.m.Tokenize(part.text, false, part.special)
		if err != nil {
			return nil, err
		}
		p = append(p, toks...)
	}
	return p, nil
}

// sequence renders ex: the prompt is masked, and the targets are the output
// tokens then EOS. The output, trimmed, is tokenized as plain text on its
// own, as the runtime tokenizes the labels it scores.
func (t *tokenizer) sequence(tmpl program.Template, ex Example) (llama.Sequence, error) {
	p, err := t.prompt(tmpl, ex.Input)
	if err != nil {
		return llama.Sequence{}, err
	}
	out, err := t.m.Tokenize(strings.TrimSpace(ex.Output), false, false)
	if err != nil {
		return llama.Sequence{}, err
	}
	if len(out) == 0 || len(p) == 0 {
		return llama.Sequence{}, fmt.Errorf("%w: empty prompt or output", ErrExample)
	}
	out = append(out, t.m.EOS())
	all := append(slices.Clone(p), out...)
	s := llama.Sequence{Tokens: all[:len(all)-1], Targets: make([]llama.Token, len(all)-1)}
	for i := range s.Targets {
		s.Targets[i] = -1
		if i >= len(p)-1 {
			s.Targets[i] = all[i+1]
		}
	}
	return s, nil
}

// Adapter is a trained adapter's tensors, in the official layout.
type Adapter struct {
	Arch    string
	Rank    int
	Alpha   float32
	Targets []string
	Tensors []Tensor
}

// Tensor is one lora_a or lora_b matrix.
type Tensor struct {
	Name     string
	Ne0, Ne1 int
	Data     []float32
}

func snapshot(tr *llama.Trainer, o Options) *Adapter {
	a := &Adapter{Arch: tr.Info().Arch, Rank: o.Rank, Alpha: o.Alpha, Targets: tr.Targets()}
	for i, lt := range tr.LoRA() {
		a.Tensors = append(a.Tensors, Tensor{Name: lt.Name, Ne0: lt.Ne0, Ne1: lt.Ne1, Data: tr.Weights(i)})
	}
	return a
}

// GGUF encodes the adapter as llama.cpp's LoRA GGUF (general.type adapter,
// adapter.type lora, adapter.lora.alpha), its matrices as typ (F32, F16,
// or Q4_0 when every row length is a multiple of 32).
func (a *Adapter) GGUF(typ gguf.Type) ([]byte, error) {
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range []struct {
		k string
		v any
	}{
		{"general.architecture", a.Arch},
		{"general.type", "adapter"},
		{"adapter.type", "lora"},
		{"adapter.lora.alpha", a.Alpha},
	} {
		if err := w.AddKV(kv.k, kv.v); err != nil {
			return nil, fmt.Errorf("adapter gguf: %w", err)
		}
	}
	for _, t := range a.Tensors {
		if err := w.AddTensor(t.Name, typ, uint64(t.Ne0), uint64(t.Ne1)); err != nil {
			return nil, fmt.Errorf("adapter gguf: %w", err)
		}
	}
	for _, t := range a.Tensors {
		b, err := gguf.Quantize(typ, t.Data)
		if err != nil {
			return nil, fmt.Errorf("adapter gguf: %s: %w", t.Name, err)
		}
		if err := w.WriteTensor(t.Name, b); err != nil {
			return nil, fmt.Errorf("adapter gguf: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("adapter gguf: %w", err)
	}
	return buf.Bytes(), nil
}

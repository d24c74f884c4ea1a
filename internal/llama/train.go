package llama

/*
#include <stdlib.h>
#include "train.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// ErrTrain means the training graph could not be built or computed.
var ErrTrain = errors.New("llama: training graph failed")

// TrainParams configures a Trainer. Zero fields take defaults.
type TrainParams struct {
	Rank  int     // LoRA rank (required)
	Alpha float32 // LoRA alpha; the adapter output is scaled by Alpha/Rank (0 means scale 1)
	// Targets are the block projections to adapt ("attn_q", "ffn_down", ...);
	// default: every projection of the architecture, as official PAW adapters.
	Targets []string
	Threads int // compute threads, clamped to [1, MaxThreads()]; 0 means all cores
}

// TrainInfo is the shape of the model a Trainer trains.
type TrainInfo struct {
	Arch                                                       string
	Layers, Embd, Heads, HeadsKV, HeadDim, FFN, Vocab, RopeDim int
	QKNorm, Tied                                               bool
}

// Trainer trains LoRA tensors on a frozen GGUF base model with paw's own
// ggml graph (llama and qwen3 layer math, no KV cache), differentiated by
// ggml's autodiff. It is not safe for concurrent use.
type Trainer struct {
	c    *C.paw_trainer
	info TrainInfo
	step int64
}

// LoRATensor is one LoRA matrix of a Trainer, in ggml shape order: lora_a
// is [n_in, rank], lora_b [rank, n_out].
type LoRATensor struct {
	Name     string // official layout: "blk.N.attn_q.weight.lora_a"
	Ne0, Ne1 int
}

// Sequence is one training example: Tokens, and for every position the
// token it must predict next (Targets[i] for Tokens[i]), or -1 where the
// position is masked out of the loss (the prompt).
type Sequence struct {
	Tokens  []Token
	Targets []Token
}

// NewTrainer reads the base model at path and creates zeroed LoRA tensors.
func NewTrainer(path string, p TrainParams) (*Trainer, error) {
	Init()
	targets := p.Targets
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	ctargets := C.CString(strings.Join(targets, ","))
	defer C.free(unsafe.Pointer(ctargets))
	var errBuf [256]C.char
	c := C.paw_trainer_new(cpath, ctargets, C.int32_t(p.Rank), C.float(p.Alpha), C.int32_t(clampThreads(p.Threads)),
		&errBuf[0], C.size_t(len(errBuf)))
	if c == nil {
		return nil, errorf(ErrTrain, "new trainer %s: %s", path, C.GoString(&errBuf[0]))
	}
	var ci C.paw_trainer_info
	C.paw_trainer_get_info(c, &ci)
	t := &Trainer{c: c, info: TrainInfo{
		Arch: C.GoString(&ci.arch[0]), Layers: int(ci.n_layer), Embd: int(ci.n_embd), Heads: int(ci.n_head),
		HeadsKV: int(ci.n_head_kv), HeadDim: int(ci.head_dim), FFN: int(ci.n_ff), Vocab: int(ci.n_vocab),
		RopeDim: int(ci.n_rot), QKNorm: ci.qk_norm != 0, Tied: ci.tied != 0,
	}}
	if n := len(targets); n > 0 && int(ci.n_lora) != 2*n*t.info.Layers {
		t.Close()
		return nil, fmt.Errorf("%w: targets %v: only %d of them are known", ErrInvalidParam, targets, int(ci.n_lora)/(2*t.info.Layers))
	}
	return t, nil
}

// Close frees the trainer.
func (t *Trainer) Close() error {
	if t == nil || t.c == nil {
		return nil
	}
	C.paw_trainer_free(t.c)
	t.c = nil
	return nil
}

// Targets returns the adapted projections, in block order.
func (t *Trainer) Targets() []string {
	var out []string
	for _, lt := range t.LoRA() {
		name, ok := strings.CutSuffix(lt.Name, ".weight.lora_a")
		if !ok || !strings.HasPrefix(name, "blk.0.") {
			continue
		}
		out = append(out, strings.TrimPrefix(name, "blk.0."))
	}
	return out
}

// Info returns the model's shape.
func (t *Trainer) Info() TrainInfo { return t.info }

// LoRA lists the LoRA tensors in a stable order (by block, then target, A before B).
func (t *Trainer) LoRA() []LoRATensor {
	if t.c == nil {
		return nil
	}
	var ci C.paw_trainer_info
	C.paw_trainer_get_info(t.c, &ci)
	out := make([]LoRATensor, int(ci.n_lora))
	for i := range out {
		name, ne0, ne1, _, _ := t.tensor(i)
		out[i] = LoRATensor{Name: name, Ne0: ne0, Ne1: ne1}
	}
	return out
}

func (t *Trainer) tensor(i int) (name string, ne0, ne1 int, data, grad []float32) {
	var cname *C.char
	var cne0, cne1 C.int64_t
	var d, g *C.float
	if C.paw_trainer_lora(t.c, C.int32_t(i), &cname, &cne0, &cne1, &d, &g) != 0 {
		return "", 0, 0, nil, nil
	}
	n := int(cne0 * cne1)
	return C.GoString(cname), int(cne0), int(cne1),
		unsafe.Slice((*float32)(unsafe.Pointer(d)), n), unsafe.Slice((*float32)(unsafe.Pointer(g)), n)
}

// Weights returns a copy of LoRA tensor i's values.
func (t *Trainer) Weights(i int) []float32 {
	_, _, _, d, _ := t.tensor(i)
	return append([]float32(nil), d...)
}

// SetWeights copies v into LoRA tensor i.
func (t *Trainer) SetWeights(i int, v []float32) error {
	_, _, _, d, _ := t.tensor(i)
	if len(d) != len(v) || d == nil {
		return fmt.Errorf("%w: LoRA tensor %d has %d values, got %d", ErrInvalidParam, i, len(d), len(v))
	}
	copy(d, v)
	return nil
}

// Grad returns a copy of LoRA tensor i's gradient from the last Backward.
func (t *Trainer) Grad(i int) []float32 {
	_, _, _, _, g := t.tensor(i)
	return append([]float32(nil), g...)
}

// pack lays the sequences out as one packed batch.
func pack(seqs []Sequence) (tokens, pos, seq, targets []C.int32_t, err error) {
	for s, sq := range seqs {
		if len(sq.Targets) != len(sq.Tokens) {
			return nil, nil, nil, nil, fmt.Errorf("%w: sequence %d has %d tokens and %d targets", ErrInvalidParam, s, len(sq.Tokens), len(sq.Targets))
		}
		for i, tok := range sq.Tokens {
			tokens = append(tokens, C.int32_t(tok))
			pos = append(pos, C.int32_t(i))
			seq = append(seq, C.int32_t(s))
			targets = append(targets, C.int32_t(sq.Targets[i]))
		}
	}
	if len(tokens) == 0 {
		return nil, nil, nil, nil, fmt.Errorf("%w: empty batch", ErrInvalidParam)
	}
	return tokens, pos, seq, targets, nil
}

func (t *Trainer) eval(ctx context.Context, seqs []Sequence, backward bool, logits bool) (float64, []float32, error) {
	if t.c == nil {
		return 0, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	tokens, pos, seq, targets, err := pack(seqs)
	if err != nil {
		return 0, nil, err
	}
	var out []float32
	var outPtr *C.float
	if logits {
		rows := 0
		for _, tg := range targets {
			if tg >= 0 {
				rows++
			}
		}
		out = make([]float32, rows*t.info.Vocab)
		if rows > 0 {
			outPtr = (*C.float)(unsafe.Pointer(&out[0]))
		}
	}
	var loss C.float
	var errBuf [256]C.char
	b := C.int(0)
	if backward {
		b = 1
	}
	if C.paw_trainer_eval(t.c, &tokens[0], &pos[0], &seq[0], &targets[0], C.int32_t(len(tokens)), b, &loss, outPtr,
		&errBuf[0], C.size_t(len(errBuf))) != 0 {
		return 0, nil, errorf(ErrTrain, "eval %d tokens: %s", len(tokens), C.GoString(&errBuf[0]))
	}
	return float64(loss), out, nil
}

// Loss returns the mean cross-entropy over the unmasked targets of seqs.
func (t *Trainer) Loss(ctx context.Context, seqs []Sequence) (float64, error) {
	l, _, err := t.eval(ctx, seqs, false, false)
	return l, err
}

// Backward computes the loss of seqs and leaves its gradient in the LoRA
// gradients (see Grad), replacing the previous one.
func (t *Trainer) Backward(ctx context.Context, seqs []Sequence) (float64, error) {
	l, _, err := t.eval(ctx, seqs, true, false)
	return l, err
}

// Logits returns the logits at every unmasked position of seqs, in order,
// Info().Vocab values each.
func (t *Trainer) Logits(ctx context.Context, seqs []Sequence) ([]float32, error) {
	_, out, err := t.eval(ctx, seqs, false, true)
	return out, err
}

// setAutodiffOnly makes later backward passes use ggml's autodiff for every
// op instead of the faster rewrite, so that tests can compare the two.
func (t *Trainer) setAutodiffOnly(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.paw_trainer_set_autodiff_only(t.c, v)
}

// opTime is the time spent in one op kind while profiling.
type opTime struct {
	Op           string // pass, op and first input's type: "bwd MUL_MAT q8_0"
	Micros, Runs int64
}

// profile starts (on) or stops timing the ops of later evaluations;
// profileTimes reads what was timed since it started.
func (t *Trainer) profile(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.paw_trainer_profile(t.c, v)
}

func (t *Trainer) profileTimes() []opTime {
	var out []opTime
	for i := C.int32_t(0); ; i++ {
		var key *C.char
		var us, n C.int64_t
		if C.paw_trainer_profile_row(t.c, i, &key, &us, &n) != 0 {
			return out
		}
		out = append(out, opTime{Op: C.GoString(key), Micros: int64(us), Runs: int64(n)})
	}
}

// AdamParams configures an AdamW update. Zero fields take the defaults
// below (LR has none).
type AdamParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Clip                               float32 // global gradient norm limit; 0: no clipping
}

// Default Adam hyperparameters.
const (
	DefaultBeta1 = 0.9
	DefaultBeta2 = 0.999
	DefaultEps   = 1e-8
)

// Step computes the gradient of seqs and takes one AdamW step. It returns
// the loss before the step and the gradient norm before clipping.
func (t *Trainer) Step(ctx context.Context, seqs []Sequence, p AdamParams) (loss, gradNorm float64, err error) {
	loss, err = t.Backward(ctx, seqs)
	if err != nil {
		return 0, 0, err
	}
	if p.Beta1 == 0 {
		p.Beta1 = DefaultBeta1
	}
	if p.Beta2 == 0 {
		p.Beta2 = DefaultBeta2
	}
	if p.Eps == 0 {
		p.Eps = DefaultEps
	}
	t.step++
	n := C.paw_trainer_adam(t.c, C.int64_t(t.step), C.float(p.LR), C.float(p.Beta1), C.float(p.Beta2), C.float(p.Eps),
		C.float(p.WeightDecay), C.float(p.Clip))
	return loss, float64(n), nil
}

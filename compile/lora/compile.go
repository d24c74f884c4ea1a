package lora

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/program"
)

// Identifiers written into compiled programs.
const (
	// CompilerName is the compiler's name in paw.yaml and compile.Result.
	CompilerName = "local-lora"
	// CompilerSnapshot is meta.json's compiler_snapshot of its programs.
	CompilerSnapshot = "paw-local-ft"
	// TrainingKey is the meta.json field with the training record.
	TrainingKey = "paw_training"
	// pseudoExamples is the most examples a default pseudo-program shows.
	pseudoExamples = 3
)

// ErrBase means the base model cannot be read or compiled for.
var ErrBase = errors.New("lora: unusable base model")

// Compiler compiles a spec and examples into a program by LoRA training on
// the base model in Options.Base, offline.
type Compiler struct {
	// Options configure training. A zero Options.Template is rendered from
	// the pseudo-program with the interpreter's official template (the GPT-2
	// form, with no chat turn, for other architectures).
	Options  Options
	Examples []Example
	// HeldOut are examples never trained on, to measure the accuracy
	// recorded in meta.json.
	HeldOut []Example
	// PseudoProgram is the program's instructions; default: written by
	// Teacher when there is one and its text fits, else assembled
	// deterministically by PseudoWithin from the spec and the first examples.
	PseudoProgram string
	// PseudoBudget is the pseudo-program's limit in the interpreter's
	// tokens: 0 means DefaultPseudoBudget, < 0 none.
	PseudoBudget int
	// Teacher, when set, writes the pseudo-program.
	Teacher Teacher
	// Contract is meta.json's paw_contract; default: a labels contract when
	// the examples' outputs are a few labels (see Labels), else none.
	Contract json.RawMessage
	// AdapterType is the exported tensor type; default: Q4_0 where every
	// row length allows it (as official adapters), else F16.
	AdapterType gguf.Type
	// Now stamps created_at; zero means time.Now().
	Now time.Time
}

var _ compile.Compiler = (*Compiler)(nil)

// Training is the record of a compile kept in meta.json's TrainingKey.
type Training struct {
	Rank         int      `json:"rank"`
	Alpha        float32  `json:"alpha"`
	Targets      []string `json:"targets"`
	Epochs       int      `json:"epochs"`
	LR           float32  `json:"lr"`
	BatchSize    int      `json:"batch_size"`
	Examples     int      `json:"examples"`
	DataSHA256   string   `json:"data_sha256"` // of the examples as JSON lines, in training order
	Steps        int      `json:"steps"`
	FirstLoss    float64  `json:"first_loss"`
	FinalLoss    float64  `json:"final_loss"`
	Seconds      float64  `json:"seconds"`
	TokensPerSec float64  `json:"tokens_per_second"`
	// HeldOut counts the held-out examples; the accuracies are theirs with
	// the prompt alone and with the adapter.
	HeldOut             int     `json:"held_out"`
	HeldOutBaseAccuracy float64 `json:"held_out_base_accuracy"`
	HeldOutAccuracy     float64 `json:"held_out_accuracy"`
	// PseudoBy says who wrote the pseudo-program: "teacher", "assembled"
	// or "given".
	PseudoBy  string      `json:"pseudo_program_by"`
	ResumedAt int         `json:"resumed_at_step,omitempty"`
	Curve     []EpochLoss `json:"curve"`
	// StepLosses are the per-step losses, every StepEvery-th (at most 200).
	StepLosses []float64 `json:"step_losses"`
	StepEvery  int       `json:"step_every"`
}

// Compile trains an adapter for req.Spec on c.Examples and returns the
// packed program in Result.Program.
func (c *Compiler) Compile(ctx context.Context, req compile.Request) (*compile.Result, error) {
	if strings.TrimSpace(req.Spec) == "" {
		return nil, fmt.Errorf("%w: empty spec", compile.ErrSpec)
	}
	arch, err := baseArch(c.Options.Base)
	if err != nil {
		return nil, err
	}
	interp, known := interpreterFor(arch)
	pseudo, by, err := c.pseudo(ctx, req.Spec)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	o := c.Options
	if o.Template == (program.Template{}) {
		if o.Template, err = program.RenderTemplate(cmp.Or(interp, program.InterpreterGPT2), pseudo); err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
	}
	res, err := Train(ctx, o, c.Examples, c.HeldOut)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	typ := c.AdapterType
	if typ == 0 {
		typ = res.Adapter.defaultType()
	}
	adapter, err := res.Adapter.GGUF(typ)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	var p *program.Program
	if known {
		p, err = program.Pack(program.PackOptions{Spec: req.Spec, PseudoProgram: pseudo, Interpreter: interp, Adapter: adapter,
			CompilerSnapshot: CompilerSnapshot, BasePath: o.Base, Now: c.Now})
		if err == nil {
			p.Template = o.Template
		}
	} else {
		p, err = rawProgram(req.Spec, pseudo, arch, o.Template, adapter, c.Now)
	}
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	o = o.withDefaults()
	every := max(1, (len(res.Losses)+199)/200)
	var sampled []float64
	for i := 0; i < len(res.Losses); i += every {
		sampled = append(sampled, res.Losses[i])
	}
	rec, err := json.Marshal(Training{
		PseudoBy: by, ResumedAt: res.ResumedAt, Curve: res.Curve, StepLosses: sampled, StepEvery: every,
		Rank: o.Rank, Alpha: o.Alpha, Targets: res.Adapter.Targets, Epochs: o.Epochs, LR: o.LR, BatchSize: o.BatchSize,
		Examples: len(c.Examples), DataSHA256: dataHash(c.Examples), Steps: len(res.Losses),
		FirstLoss: res.Losses[0], FinalLoss: res.Losses[len(res.Losses)-1],
		Seconds: res.Duration.Seconds(), TokensPerSec: res.TokensPerSecond(),
		HeldOut: len(c.HeldOut), HeldOutBaseAccuracy: res.BaseAccuracy, HeldOutAccuracy: res.Accuracy,
	})
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	if p.Meta.Extra == nil {
		p.Meta.Extra = map[string]json.RawMessage{}
	}
	p.Meta.Extra[TrainingKey] = rec
	contract := c.Contract
	if contract == nil {
		if labels := Labels(c.Examples); labels != nil {
			contract, _ = json.Marshal(map[string]any{"kind": "labels", "labels": labels}) // strings always marshal
		}
	}
	if contract != nil {
		p.Meta.Extra[program.ContractKey] = contract
	}
	p.Meta.ProgramID = program.NewID(p) // the template may differ from Pack's
	return &compile.Result{
		ProgramID: p.Meta.ProgramID, Status: "completed", Compiler: CompilerName, CompilerSnapshot: CompilerSnapshot,
		RuntimeID: p.Meta.RuntimeID, Timings: map[string]float64{"train_seconds": res.Duration.Seconds()}, Program: p,
	}, nil
}

// pseudo returns the pseudo-program and who wrote it.
func (c *Compiler) pseudo(ctx context.Context, spec string) (string, string, error) {
	if c.PseudoProgram != "" {
		return c.PseudoProgram, "given", nil
	}
	budget := cmp.Or(c.PseudoBudget, DefaultPseudoBudget)
	if budget < 0 {
		return Pseudo(spec, c.Examples[:min(pseudoExamples, len(c.Examples))]), "assembled", nil
	}
	tok, err := newTokenizer(c.Options.Base)
	if err != nil {
		return "", "", err
	}
	defer tok.Close()
	if c.Teacher != nil {
		if p, err := WritePseudo(ctx, c.Teacher, spec, c.Examples, budget, tok.Count); err == nil {
			return p, "teacher", nil
		} else if ctx.Err() != nil {
			return "", "", err
		}
		// A teacher's unusable text falls back to the assembled program.
	}
	p, err := PseudoWithin(spec, c.Examples, budget, tok.Count)
	return p, "assembled", err
}

// maxLabels is the most distinct outputs Labels takes for a classifier's.
const maxLabels = 16

// Labels returns the distinct outputs of exs, in first-seen order, when they
// look like a classifier's labels: 2 to 16 of them, one line each, each
// seen at least twice. Else nil.
func Labels(exs []Example) []string {
	count := map[string]int{}
	var labels []string
	for _, ex := range exs {
		o := strings.TrimSpace(ex.Output)
		if strings.ContainsRune(o, '\n') {
			return nil
		}
		if count[o] == 0 {
			labels = append(labels, o)
			if len(labels) > maxLabels {
				return nil
			}
		}
		count[o]++
	}
	for _, l := range labels {
		if count[l] < 2 {
			return nil
		}
	}
	if len(labels) < 2 {
		return nil
	}
	return labels
}

// rawProgram bundles an adapter for a base with no PAW interpreter (such as
// a llama model): meta.json names the architecture as the interpreter.
func rawProgram(spec, pseudo, arch string, tmpl program.Template, adapter []byte, now time.Time) (*program.Program, error) {
	r, err := gguf.NewReader(bytes.NewReader(adapter), int64(len(adapter)))
	if err != nil {
		return nil, err
	}
	l, err := r.LoRA()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(adapter)
	if now.IsZero() {
		now = time.Now()
	}
	p := &program.Program{Template: tmpl, PseudoProgram: pseudo, Adapter: adapter, AdapterSHA256: hex.EncodeToString(sum[:]), LoRA: l,
		Meta: program.Meta{Spec: spec, Interpreter: arch, CompilerSnapshot: CompilerSnapshot,
			CreatedAt: now.UTC().Format(time.RFC3339), LoRARank: l.Rank, LoRAAlpha: l.Alpha}}
	p.Meta.ProgramID = program.NewID(p)
	return p, p.Validate()
}

func baseArch(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: no base model given", ErrBase)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBase, err)
	}
	defer f.Close()
	return f.Architecture(), nil
}

// interpreterFor returns the PAW interpreter of a base architecture.
func interpreterFor(arch string) (string, bool) {
	for _, in := range []string{program.InterpreterQwen3, program.InterpreterGPT2} {
		if program.Arch(in) == arch {
			return in, true
		}
	}
	return "", false
}

// defaultType is Q4_0 when every row length is a multiple of its block,
// else F16.
func (a *Adapter) defaultType() gguf.Type {
	for _, t := range a.Tensors {
		if t.Ne0%gguf.TypeQ4_0.BlockSize() != 0 {
			return gguf.TypeF16
		}
	}
	return gguf.TypeQ4_0
}

// dataHash is the sha256 of the examples as JSON lines.
func dataHash(exs []Example) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, ex := range exs {
		_ = enc.Encode(ex) // a hash.Hash never fails to write
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Split removes repeated inputs (see Dedup) and holds out every
// round(1/frac)-th of the rest for evaluation; frac <= 0 holds out none.
// The split depends only on the examples' order.
func Split(exs []Example, frac float64) (train, heldOut []Example) {
	every := 0
	if frac > 0 {
		every = max(2, int(math.Round(1/frac)))
	}
	for _, ex := range Dedup(exs) {
		if every > 0 && (len(train)+len(heldOut)+1)%every == 0 {
			heldOut = append(heldOut, ex)
		} else {
			train = append(train, ex)
		}
	}
	return train, heldOut
}

package mapper

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/paw-dev/paw/compile"
	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
)

// StrategyKey is the meta.json key saying where the pseudo-program came
// from: "generated:<writer model file>" or "supplied".
const StrategyKey = "pseudo_program_strategy"

// Compiler is PAW's fast compiler run locally. Each model is loaded once per
// CompileAll and only one at a time (the pseudo-program writer, then the
// encoder), so memory stays bounded by the larger of the two plus the mapper.
type Compiler struct {
	Name        string // compiler_snapshot, e.g. "paw-4b-qwen3-0.6b"
	EncoderPath string // the compiler encoder GGUF (with the prefix tokens)
	MapperPath  string // lora_mapper.pt
	MetaPath    string // the compiler's meta.json
	WriterPath  string // the instruct GGUF that writes pseudo-programs; needed only for jobs without one
	// WriterHF, when set, is the writer's Hugging Face checkpoint, converted
	// to WriterPath as WriterType when a job first needs it.
	WriterHF   string
	WriterType gguf.Type
	// WriterMaxTokens bounds a written pseudo-program; 0 = MaxPseudoTokens.
	WriterMaxTokens int
	Threads         int // 0 = one per core
	// Progress, when set, is called as each stage of each job ends.
	Progress func(stage string, job int, elapsed time.Duration)
	Now      time.Time // created_at; zero means time.Now()

	mapper *Mapper
}

// Job is one spec to compile, with its pseudo-program if the user supplies it.
type Job struct {
	Spec          string
	PseudoProgram string
	// WriterMaxTokens bounds this job's written pseudo-program; 0 = the
	// Compiler's WriterMaxTokens.
	WriterMaxTokens int
}

var _ compile.Compiler = (*Compiler)(nil)

// Compile compiles one spec (its pseudo-program generated).
func (c *Compiler) Compile(ctx context.Context, req compile.Request) (*compile.Result, error) {
	res, err := c.CompileAll(ctx, []Job{{Spec: req.Spec}})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

func (c *Compiler) stage(name string, job int, start time.Time, timings map[string]float64) {
	d := time.Since(start)
	if timings != nil {
		timings[strings.NewReplacer(" ", "_", "-", "_").Replace(name)+"_seconds"] = d.Seconds()
	}
	if c.Progress != nil {
		c.Progress(name, job, d)
	}
}

// Mapper loads the mapper (once).
func (c *Compiler) Mapper() (*Mapper, error) {
	if c.mapper != nil {
		return c.mapper, nil
	}
	start := time.Now()
	meta, err := ReadMeta(c.MetaPath)
	if err != nil {
		return nil, err
	}
	sd, err := LoadCheckpoint(c.MapperPath)
	if err != nil {
		return nil, err
	}
	if c.mapper, err = New(sd, meta); err != nil {
		return nil, fmt.Errorf("mapper %s: %w", c.MapperPath, err)
	}
	c.stage("load mapper", -1, start, nil)
	return c.mapper, nil
}

// CompileAll compiles every job, loading each model once.
func (c *Compiler) CompileAll(ctx context.Context, jobs []Job) ([]*compile.Result, error) {
	for i, j := range jobs {
		if strings.TrimSpace(j.Spec) == "" {
			return nil, fmt.Errorf("%w: job %d: empty spec", compile.ErrSpec, i)
		}
	}
	mp, err := c.Mapper()
	if err != nil {
		return nil, err
	}
	timings := make([]map[string]float64, len(jobs))
	pseudo := make([]string, len(jobs))
	strategy := make([]string, len(jobs))
	var need []int
	for i, j := range jobs {
		timings[i] = map[string]float64{}
		pseudo[i], strategy[i] = j.PseudoProgram, "supplied"
		if j.PseudoProgram == "" {
			need = append(need, i)
		}
	}
	if len(need) > 0 {
		if err := c.writePseudo(ctx, jobs, need, pseudo, strategy, timings); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	enc, err := llama.LoadModel(c.EncoderPath, llama.ModelParams{})
	if err != nil {
		return nil, fmt.Errorf("compile: encoder: %w", err)
	}
	defer enc.Close()
	c.stage("load encoder", -1, start, nil)
	e, err := NewEncoder(enc, mp)
	if err != nil {
		return nil, fmt.Errorf("compile: encoder %s: %w", c.EncoderPath, err)
	}
	e.Threads = c.Threads
	out := make([]*compile.Result, len(jobs))
	for i, j := range jobs {
		start := time.Now()
		states, err := e.Encode(ctx, j.Spec, pseudo[i])
		if err != nil {
			return nil, fmt.Errorf("compile job %d: %w", i, err)
		}
		c.stage("encode", i, start, timings[i])
		start = time.Now()
		ad, err := mp.Map(ctx, states)
		if err != nil {
			return nil, fmt.Errorf("compile job %d: %w", i, err)
		}
		c.stage("map", i, start, timings[i])
		start = time.Now()
		if out[i], err = c.export(j.Spec, pseudo[i], strategy[i], ad, timings[i]); err != nil {
			return nil, fmt.Errorf("compile job %d: %w", i, err)
		}
		c.stage("export", i, start, timings[i])
	}
	return out, nil
}

// writePseudo generates the missing pseudo-programs with the writer model.
func (c *Compiler) writePseudo(ctx context.Context, jobs []Job, need []int, pseudo, strategy []string, timings []map[string]float64) error {
	if c.WriterPath == "" {
		return fmt.Errorf("%w: no pseudo-program and no model to write one", compile.ErrSpec)
	}
	start := time.Now()
	if _, err := os.Stat(c.WriterPath); err != nil && c.WriterHF != "" {
		if err := ConvertHF(c.WriterHF, c.WriterPath, c.WriterType); err != nil {
			return fmt.Errorf("compile: pseudo-program writer: %w", err)
		}
		c.stage("convert writer", -1, start, nil)
		start = time.Now()
	}
	wm, err := llama.LoadModel(c.WriterPath, llama.ModelParams{})
	if err != nil {
		return fmt.Errorf("compile: pseudo-program writer: %w", err)
	}
	defer wm.Close()
	c.stage("load writer", -1, start, nil)
	w := &Writer{Model: wm, Threads: c.Threads, MaxTokens: c.WriterMaxTokens}
	for _, i := range need {
		start := time.Now()
		w.MaxTokens = cmp.Or(jobs[i].WriterMaxTokens, c.WriterMaxTokens)
		if pseudo[i], err = w.Write(ctx, jobs[i].Spec); err != nil {
			return fmt.Errorf("compile job %d: %w", i, err)
		}
		strategy[i] = "generated:" + wm.Desc()
		c.stage("pseudo-program", i, start, timings[i])
		timings[i]["pseudo_program_tokens"] = float64(w.Tokens) // with the time, the writer's cost per token
	}
	return nil
}

// export packs the adapter into a program.
func (c *Compiler) export(spec, pseudo, strategy string, ad *Adapter, timings map[string]float64) (*compile.Result, error) {
	var buf bytes.Buffer
	if err := ad.WriteGGUF(&buf); err != nil {
		return nil, err
	}
	p, err := program.Pack(program.PackOptions{Spec: spec, PseudoProgram: pseudo, Interpreter: ad.Arch,
		Adapter: buf.Bytes(), CompilerSnapshot: c.Name, Now: c.Now})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	rec, err := json.Marshal(strategy)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if p.Meta.Extra == nil {
		p.Meta.Extra = map[string]json.RawMessage{}
	}
	p.Meta.Extra[StrategyKey] = rec
	p.Meta.ProgramID = program.NewID(p)
	return &compile.Result{ProgramID: p.Meta.ProgramID, Status: "completed", Compiler: "local-mapper",
		CompilerSnapshot: c.Name, RuntimeID: p.Meta.RuntimeID, Timings: timings, Program: p}, nil
}

package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/internal/basemodel"
	"github.com/paw-dev/paw/internal/config"
)

// programBench is `paw bench --program` output: one program on this machine.
type programBench struct {
	Program       string  `json:"program"`
	Calls         int     `json:"calls"`
	Concurrency   int     `json:"concurrency"`
	LoadMS        float64 `json:"load_ms"` // Engine.Function: adapter load and prefix evaluation or restore
	P50MS         float64 `json:"p50_ms"`  // warm calls one at a time
	P95MS         float64 `json:"p95_ms"`
	SerialPerS    float64 `json:"serial_calls_per_s"`
	ConcurrentPer float64 `json:"concurrent_calls_per_s"` // Concurrency callers at once
	Speedup       float64 `json:"speedup"`
	TokensPerCall float64 `json:"tokens_per_call"`
}

func newBenchCmd(cfg *config.Config) *cobra.Command {
	var (
		model, ref, input, inputsFile string
		o                             basemodel.BenchOptions
		asJSON, noDrafts, flash       bool
		calls, concurrency, maxTokens int
		labels, vary                  []string
		rounds                        int
	)
	cmd := &cobra.Command{
		Use:   "bench (--model FILE.gguf | --program REF)",
		Short: "Measure speed: the engine's tokens per second, or a program's call latency and throughput",
		Long: "With --model alone: prompt and generation tokens per second (medians after a warm-up).\n" +
			"With --program: the program's load time, then --calls warm calls one at a time (p50/p95\n" +
			"latency, calls/s) and the same calls from --concurrency callers at once (calls/s), over\n" +
			"--input or the inputs of --inputs FILE in turn; --model then picks the base model.\n" +
			"--vary flash-attn / --vary adapter measures the program with each switch off and on (every\n" +
			"combination), --rounds times in alternation, and prints the median of each combination's p50.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Threads == 0 {
				o.Threads = cfg.Threads
			}
			o.FlashAttn = flash
			if err := checkBenchMode(cmd, ref != ""); err != nil {
				return err
			}
			if ref == "" {
				if model == "" {
					return usagef("give --model FILE.gguf (engine speed) or --program REF (a program's calls)")
				}
				r, err := basemodel.BenchModel(cmd.Context(), model, o)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), r)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s (%d threads)\nprompt %d tokens:  %.1f tok/s\ngenerate %d tokens: %.1f tok/s\n",
					r.Desc, r.Threads, r.PromptTokens, r.PromptTPS, r.GenTokens, r.GenTPS)
				return err
			}
			if calls < 1 || concurrency < 1 || maxTokens < 1 {
				return usagef("--calls, --concurrency and --max-tokens must be at least 1")
			}
			if err := checkInputFlags(cmd, inputsFile); err != nil {
				return err
			}
			inputs := []string{input}
			if inputsFile != "" {
				var err error
				if inputs, err = readInputs(cmd.InOrStdin(), inputsFile); err != nil {
					return err
				}
				if len(inputs) == 0 {
					return fmt.Errorf("%s has no inputs", inputsFile)
				}
			}
			opts := []paw.Option{paw.WithMaxTokens(maxTokens)}
			contract, err := contractFlags(labels, "", "")
			if err != nil {
				return err
			}
			if contract != nil {
				opts = append(opts, paw.WithContract(*contract))
			}
			ctx := cmd.Context()
			po := paw.Options{Model: model, Threads: o.Threads, NoDrafts: noDrafts, FlashAttn: flash,
				Hub: newHubClient(cmd, cfg), KVCacheMax: cfg.KVCacheMax}
			if len(vary) > 0 || cmd.Flags().Changed("rounds") {
				if err := checkVary(vary, rounds, flash); err != nil {
					return err
				}
				return benchVariants(cmd, po, vary, rounds, func(eng *paw.Engine) (programBench, error) {
					return benchProgram(ctx, eng, ref, inputs, calls, concurrency, opts)
				}, asJSON)
			}
			eng, err := paw.Open(ctx, po)
			if err != nil {
				return err
			}
			defer eng.Close()
			r, err := benchProgram(ctx, eng, ref, inputs, calls, concurrency, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "program %s\nload:       %.0f ms\nlatency:    p50 %.1f ms, p95 %.1f ms (%d calls one at a time, %.1f tokens each)\n"+
				"throughput: %.2f calls/s one at a time, %.2f calls/s from %d callers (%.2fx)\n",
				r.Program, r.LoadMS, r.P50MS, r.P95MS, r.Calls, r.TokensPerCall, r.SerialPerS, r.ConcurrentPer, r.Concurrency, r.Speedup)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "GGUF model: measured alone, or the base model for --program")
	f.IntVar(&o.PromptTokens, "prompt-tokens", 128, "engine: tokens in the prompt batch")
	f.IntVar(&o.GenTokens, "gen-tokens", 32, "engine: tokens generated one at a time")
	f.IntVar(&o.PrefixTokens, "prefix-tokens", 0, "engine: tokens decoded untimed before the prompt (a program's cached prefix)")
	f.IntVar(&o.UBatch, "ubatch", 0, "engine: physical micro-batch (default: the whole prompt)")
	f.IntVar(&o.Reps, "reps", 5, "engine: repetitions after one warm-up")
	f.IntVar(&o.Threads, "threads", 0, "compute threads (default PAW_THREADS, or one per core; never more than the cores)")
	f.StringVar(&ref, "program", "", "program: .paw file or directory, program id, or slug")
	f.StringVar(&input, "input", "", "program: the input of every call")
	f.StringVar(&inputsFile, "inputs", "", "program: inputs taken in turn (one per line, or JSONL with \"input\")")
	f.IntVar(&calls, "calls", 20, "program: calls measured, one at a time and again concurrently")
	f.IntVar(&concurrency, "concurrency", 8, "program: callers at once")
	f.IntVar(&maxTokens, "max-tokens", 16, "program: most output tokens per call")
	f.StringArrayVar(&labels, "labels", nil, "program: "+labelsUsage)
	f.BoolVar(&noDrafts, "no-drafts", false, "program: decode without speculative drafts")
	f.BoolVar(&flash, "flash-attn", false, "flash attention (measured faster for long outputs, slower for label-style calls)")
	f.StringArrayVar(&vary, "vary", nil, "program: measure with this switch off and on, in alternation: flash-attn, adapter (repeatable)")
	f.IntVar(&rounds, "rounds", 3, "program: alternating rounds of every --vary combination")
	f.BoolVar(&asJSON, "json", false, "print one JSON line (engine: prompt_tps, gen_tps; program: p50_ms, serial_calls_per_s, ...)")
	return cmd
}

// The flags of each bench mode: giving one in the other mode is a usage
// error, since it would be ignored.
var (
	engineBenchFlags  = []string{"prompt-tokens", "gen-tokens", "prefix-tokens", "ubatch", "reps"}
	programBenchFlags = []string{"input", "inputs", "calls", "concurrency", "max-tokens", "labels", "no-drafts", "vary", "rounds"}
)

// checkBenchMode rejects the flags of the mode not chosen.
func checkBenchMode(cmd *cobra.Command, program bool) error {
	other, mode := programBenchFlags, "--model alone (engine speed)"
	if program {
		other, mode = engineBenchFlags, "--program"
	}
	for _, name := range other {
		if cmd.Flags().Changed(name) {
			return usagef("--%s does nothing with %s", name, mode)
		}
	}
	return nil
}

// benchProgram loads ref and measures its calls: a warm-up over every input,
// calls one at a time, then the same number from concurrency callers.
func benchProgram(ctx context.Context, eng *paw.Engine, ref string, inputs []string, calls, concurrency int, opts []paw.Option) (programBench, error) {
	start := time.Now()
	fn, err := eng.Function(ctx, ref)
	if err != nil {
		return programBench{}, err
	}
	defer fn.Close()
	r := programBench{Program: fn.Name(), Calls: calls, Concurrency: concurrency,
		LoadMS: ms(time.Since(start))}
	for _, in := range inputs[:min(len(inputs), 8)] {
		if _, err := fn.Call(ctx, in, opts...); err != nil {
			return r, fmt.Errorf("warm-up: %w", err)
		}
	}
	lat := make([]time.Duration, 0, calls)
	tokens := 0
	start = time.Now()
	for i := range calls {
		res, err := fn.Call(ctx, inputs[i%len(inputs)], opts...)
		if err != nil {
			return r, err
		}
		lat = append(lat, res.Latency)
		tokens += res.Tokens
	}
	r.SerialPerS = float64(calls) / time.Since(start).Seconds()
	slices.Sort(lat)
	r.P50MS, r.P95MS = ms(lat[(len(lat)-1)/2]), ms(lat[(len(lat)-1)*95/100])
	r.TokensPerCall = float64(tokens) / float64(calls)

	// The same calls from concurrency callers; the first error stops them.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	next := make(chan int)
	start = time.Now()
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				if _, err := fn.Call(cctx, inputs[i%len(inputs)], opts...); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		})
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}
	r.ConcurrentPer = float64(calls) / time.Since(start).Seconds()
	r.Speedup = r.ConcurrentPer / r.SerialPerS
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

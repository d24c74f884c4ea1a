package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/schema"
)

// runOutput is one line of `paw run --json` (and of --inputs output).
type runOutput struct {
	Input        string             `json:"input,omitempty"`
	Output       string             `json:"output"`
	Program      string             `json:"program"`
	Tokens       int                `json:"tokens_generated"`
	PromptTokens int                `json:"prompt_tokens"`
	FinishReason string             `json:"finish_reason"`
	LatencyMS    float64            `json:"latency_ms"`
	Probs        map[string]float64 `json:"probs,omitempty"`
	LogprobMean  float64            `json:"logprob_mean"`
	LogprobMin   float64            `json:"logprob_min"`
	Error        string             `json:"error,omitempty"`
}

func newRunCmd(cfg *config.Config) *cobra.Command {
	var (
		ref, input, inputsFile, model, interpreter string
		base, asJSON, noDrafts, flash              bool
		maxTokens, threads                         int
		temperature                                float32
		seed                                       uint32
		stop, labels                               []string
		schemaFile, regex, registryDSN             string
	)
	cmd := &cobra.Command{
		Use:   "run [--program] REF (--input TEXT | --inputs FILE)",
		Short: "Run a program on inputs",
		Long: "Run a program (a .paw file or directory, a program id, or a slug) on one input, or on a file\n" +
			"of inputs (one per line, or JSONL objects with an \"input\" field), printing one JSON line each.\n" +
			"Programs and base models are downloaded into the cache when missing (not with PAW_OFFLINE=1).\n" +
			"--base runs the interpreter itself (--interpreter qwen3|gpt2) with no program.\n" +
			"A bare NAME or NAME@vN that the function registry (PAW_REGISTRY, or --registry) has runs that\n" +
			"function's live version, or its version N; other names go to the hub as programasweights/NAME.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if ref != "" {
					return usagef("give the program once: as an argument or with --program")
				}
				ref = args[0]
			}
			if (ref == "") == !base {
				return usagef("name a program (--program REF) or use --base --interpreter qwen3|gpt2")
			}
			if !base && cmd.Flags().Changed("interpreter") {
				return usagef("--interpreter picks the model of --base; a program names its own (--model overrides it)")
			}
			if err := checkInputFlags(cmd, inputsFile); err != nil {
				return err
			}
			// Bad options are reported before a model is loaded or downloaded.
			if err := checkSampling(cmd, maxTokens, temperature); err != nil {
				return err
			}
			opts := []paw.Option{paw.WithMaxTokens(maxTokens), paw.WithTemperature(temperature, seed), paw.WithStop(stop...)}
			contract, err := contractFlags(labels, schemaFile, regex)
			if err != nil {
				return err
			}
			if contract != nil {
				opts = append(opts, paw.WithContract(*contract))
			}
			var inputs []string
			if inputsFile != "" {
				if inputs, err = readInputs(cmd.InOrStdin(), inputsFile); err != nil {
					return err
				}
			}
			if threads == 0 {
				threads = cfg.Threads
			}
			ctx := cmd.Context()
			reg, closeReg, err := openRunRegistry(ctx, cfg, registryDSN)
			if err != nil {
				return err
			}
			defer closeReg()
			eng, err := paw.Open(ctx, paw.Options{Model: model, Threads: threads, NoDrafts: noDrafts, FlashAttn: flash,
				Hub: newHubClient(cmd, cfg), KVCacheMax: cfg.KVCacheMax, Registry: reg})
			if err != nil {
				return err
			}
			defer eng.Close()
			var fn *paw.Function
			if base {
				fn, err = eng.Base(ctx, interpreter)
			} else {
				fn, err = eng.Function(ctx, ref)
			}
			if errors.Is(err, paw.ErrNoRuntime) {
				return fmt.Errorf("%w (with paw: --model FILE.gguf)", err)
			} else if errors.Is(err, paw.ErrNoLive) {
				return fmt.Errorf("%w (paw fn promote %s@vN makes a version live; %s@vN runs one)", err, ref, ref)
			} else if err != nil {
				return err
			}
			defer fn.Close()
			out := cmd.OutOrStdout()
			if inputsFile != "" {
				return runInputs(cmd, fn, inputs, opts)
			}
			res, err := fn.Call(ctx, input, opts...)
			if err != nil {
				return err
			}
			if asJSON {
				return jsonLines(out).Encode(toRunOutput("", res, nil))
			}
			_, err = fmt.Fprintln(out, res.Output)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&ref, "program", "", "program: .paw file or directory, program id, or slug user/name[@vN]")
	f.StringVar(&input, "input", "", "the input text")
	f.StringVar(&registryDSN, "registry", "", "function registry file or postgres:// DSN to resolve names in (default PAW_REGISTRY, if that file exists)")
	f.StringVar(&inputsFile, "inputs", "", "file of inputs (one per line, or JSONL with \"input\"); - for stdin")
	f.StringVar(&model, "model", "", "base model GGUF to use instead of the program's runtime")
	f.BoolVar(&base, "base", false, "run the interpreter itself, without a program")
	f.StringVar(&interpreter, "interpreter", "qwen3", "interpreter for --base: qwen3 or gpt2")
	f.IntVar(&maxTokens, "max-tokens", 512, "most output tokens")
	f.Float32Var(&temperature, "temperature", 0, "sampling temperature; 0 = greedy")
	f.Uint32Var(&seed, "seed", 0, "random seed for temperature > 0")
	f.StringArrayVar(&stop, "stop", nil, "stop the output before this string (repeatable; commas are part of the string)")
	f.IntVar(&threads, "threads", 0, "compute threads (default PAW_THREADS, or one per core)")
	f.BoolVar(&flash, "flash-attn", false, "flash attention: measured faster for long outputs, slower for label-style calls")
	f.BoolVar(&noDrafts, "no-drafts", false, "decode one token per step (no speculative drafts): bit-identical to a lone step-by-step decode")
	f.StringArrayVar(&labels, "labels", nil, labelsUsage+", with probabilities")
	f.StringVar(&schemaFile, "schema", "", "answer JSON valid against this JSON Schema file")
	f.StringVar(&regex, "regex", "", "answer text matching this regular expression as a whole")
	f.BoolVar(&asJSON, "json", false, "print one JSON line: output, probs (labels), logprob_mean, logprob_min, tokens_generated, latency_ms, program (--inputs always prints JSON lines)")
	return cmd
}

func toRunOutput(input string, r paw.Result, err error) runOutput {
	o := runOutput{Input: input, Output: r.Output, Program: r.Program, Tokens: r.Tokens, PromptTokens: r.PromptTokens,
		FinishReason: r.FinishReason, LatencyMS: float64(r.Latency.Microseconds()) / 1000,
		Probs: r.Probs, LogprobMean: r.LogprobMean, LogprobMin: r.LogprobMin}
	if err != nil {
		o.Error = err.Error()
	}
	return o
}

// runInputs runs every input of the file concurrently (batched by the engine)
// and writes one JSON line per input, in order. A failed input gets an
// "error" field; the command fails if any did.
func runInputs(cmd *cobra.Command, fn *paw.Function, inputs []string, opts []paw.Option) error {
	type res struct {
		r   paw.Result
		err error
	}
	// A window of calls in flight (the engine batches them), answered in
	// input order: the goroutines stay bounded however long the file is
	// (the inputs themselves are read and checked first).
	const window = 64
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	results := make(chan chan res, window)
	go func() {
		defer close(results)
		for _, in := range inputs {
			ch := make(chan res, 1)
			select {
			case results <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				r, err := fn.Call(ctx, in, opts...)
				ch <- res{r, err}
			}()
		}
	}()
	enc := jsonLines(cmd.OutOrStdout())
	failed := 0
	i := 0
	for ch := range results {
		r := <-ch
		if r.err != nil {
			failed++
		}
		if err := enc.Encode(toRunOutput(inputs[i], r.r, r.err)); err != nil {
			return err
		}
		i++
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs failed (see their \"error\" fields)", failed, len(inputs))
	}
	return nil
}

// checkSampling checks --max-tokens, --temperature and --seed.
func checkSampling(cmd *cobra.Command, maxTokens int, temperature float32) error {
	if maxTokens < 1 {
		return usagef("--max-tokens %d: want at least 1", maxTokens)
	}
	if !(temperature >= 0) {
		return usagef("--temperature %v: want 0 (greedy) or more", temperature)
	}
	if temperature == 0 && cmd.Flags().Changed("seed") {
		return usagef("--seed seeds sampling: give --temperature above 0 too (0 decodes greedily)")
	}
	return nil
}

// checkInputFlags checks that exactly one of --input and --inputs is given.
func checkInputFlags(cmd *cobra.Command, inputsFile string) error {
	if cmd.Flags().Changed("input") == (inputsFile != "") {
		return usagef("give --input TEXT or --inputs FILE (one of them)")
	}
	return nil
}

// readInputs reads one input per line, or JSONL objects with an "input" field.
func readInputs(stdin io.Reader, path string) ([]string, error) {
	r, name := stdin, "stdin"
	if path != "-" {
		name = path
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var inputs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "{") {
			var v struct {
				Input *string `json:"input"`
			}
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				return nil, fmt.Errorf("%s line %d: %w (a line starting with { is read as JSON)", name, n, err)
			}
			if v.Input == nil {
				return nil, fmt.Errorf("%s line %d: a JSON line needs a string \"input\" field", name, n)
			}
			line = *v.Input
		}
		inputs = append(inputs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return inputs, nil
}

// labelsUsage documents --labels, the same in every command.
const labelsUsage = "answer exactly one of these labels: repeat the flag per label (--labels yes --labels no; a comma is part of a label)"

// contractFlags builds the output contract from --labels, --schema, --regex;
// every error is a usage error but a schema file that cannot be read.
func contractFlags(labels []string, schemaFile, regex string) (*schema.Contract, error) {
	n := 0
	for _, set := range []bool{len(labels) > 0, schemaFile != "", regex != ""} {
		if set {
			n++
		}
	}
	var c schema.Contract
	var err error
	switch {
	case n > 1:
		return nil, usagef("give at most one of --labels, --schema, --regex")
	case len(labels) == 1:
		// A set of one is always that label; most likely a comma list
		// from before --labels was repeatable.
		return nil, usagef("--labels %q is one label: repeat --labels once per label (a comma is part of a label)", labels[0])
	case len(labels) > 0:
		if c, err = schema.Labels(labels...); err != nil {
			return nil, usagef("--labels: %w", err)
		}
	case schemaFile != "":
		raw, rerr := os.ReadFile(schemaFile)
		if rerr != nil {
			return nil, fmt.Errorf("--schema: %w", rerr)
		}
		if c, err = schema.JSON(raw); err != nil {
			return nil, usagef("--schema %s: %w", schemaFile, err)
		}
	case regex != "":
		if c, err = schema.Regex(regex); err != nil {
			return nil, usagef("--regex: %w", err)
		}
	default:
		return nil, nil
	}
	return &c, nil
}

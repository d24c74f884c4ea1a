package interp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/llama"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

// Func is a program loaded on a base model, ready to call. It is safe for
// concurrent use: concurrent calls are batched into shared decodes.
type Func struct {
	b          *base
	name       string
	adapter    *llama.Adapter // nil in base mode
	adapterSHA string
	prefix     []llama.Token // evaluated once, shared by every call
	suffix     string
	key        [32]byte         // prefix cache key
	contract   *schema.Contract // the program's own, or nil

	// state is the prefix's saved KV (nil while it waits on disk) and hist the
	// outputs drafts are guessed from; both owned by the base's worker.
	state  []byte
	onDisk bool // state is saved in the cache directory too
	hist   *history
	closed bool // set by the worker on Close: calls fail from then on

	closeOnce sync.Once
}

// CallOptions tune one call. The zero value decodes greedily up to
// DefaultMaxTokens tokens.
type CallOptions struct {
	MaxTokens   int     // 0 = DefaultMaxTokens; clipped to the context left
	Temperature float32 // 0 = greedy
	Seed        uint32  // for Temperature > 0: the same seed gives the same output
	Stop        []string
	// Grammar constrains the output (raw GBNF, root rule "root"); prefer Contract.
	Grammar string
	// Contract is the output contract; nil means the program's own (meta.json
	// "paw_contract"), if any. Labels are scored exactly (Result.Probs);
	// JSON and regex contracts are enforced while decoding, and every result is
	// validated: a call never returns an output that breaks its contract.
	Contract *schema.Contract
	// Logprobs fills Result.Logprobs with each output token's
	// log-probability; TopLogprobs (at most MaxTopLogprobs) adds that many
	// most probable tokens at each step, to Result.Logprobs and to streamed
	// Tokens.
	Logprobs    bool
	TopLogprobs int
	// OnToken, when set, streams a free-text call: it gets a Token as each
	// token is accepted (guesses from drafts included), on the caller's
	// goroutine while the decode goes on, so a slow OnToken delays no other
	// call. An error from it cancels the call, which returns that error. A
	// call under a contract streams its whole validated output as one Token
	// once it is done: a partial answer could still break the contract.
	OnToken func(Token) error
}

// ErrNoValidOutput reports a constrained call that found no valid output.
var ErrNoValidOutput = errors.New("interp: no output satisfying the contract")

// errNonFinite fails a call whose logits are NaN or infinite: the weights
// (a broken adapter, usually) cannot give an answer, and NaN probabilities
// would break every caller that encodes them (JSON has no NaN).
var errNonFinite = fmt.Errorf("%w: the model produced non-finite logits (NaN or Inf); the program's adapter or the base model is broken: recompile the program or pull it again", ErrNoValidOutput)

// Finish reasons.
const (
	FinishStop    = "stop"    // the model ended its output
	FinishLength  = "length"  // MaxTokens reached
	FinishContext = "context" // the model's context is full
	FinishString  = "stop_string"
)

// Result is one call's output and accounting.
type Result struct {
	Output       string `json:"output"`
	Program      string `json:"program"`
	PromptTokens int    `json:"prompt_tokens"` // prefix + input + suffix
	InputTokens  int    `json:"input_tokens"`
	Tokens       int    `json:"tokens_generated"`
	FinishReason string `json:"finish_reason"`
	// Probs is each label's probability (labels contracts only).
	Probs map[string]float64 `json:"probs,omitempty"`
	// LogprobMean and LogprobMin summarise the model's log-probabilities of
	// the output tokens (0 for an empty output).
	LogprobMean float64 `json:"logprob_mean"`
	LogprobMin  float64 `json:"logprob_min"`
	// Logprobs is each output token's log-probability (CallOptions.Logprobs).
	Logprobs   []TokenLogprob `json:"logprobs,omitempty"`
	Latency    time.Duration  `json:"-"`
	FirstToken time.Duration  `json:"-"` // queueing + prompt processing
}

// Load prepares prog to run on the base model at basePath: it checks the
// adapter fits the model, loads it (once per base) and evaluates the
// template's prefix (or restores it from the cache directory).
func (e *Engine) Load(ctx context.Context, prog *program.Program, basePath string) (*Func, error) {
	if err := checkBase(prog, basePath); err != nil {
		return nil, err
	}
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.leave()
	b, err := e.base(ctx, basePath)
	if err != nil {
		return nil, err
	}
	contract, err := programContract(prog)
	if err != nil {
		return nil, err
	}
	var a *llama.Adapter
	sha := ""
	if !e.opts.NoAdapter {
		sha = prog.AdapterSHA256
		if a, err = b.adapter(sha, prog.Adapter); err != nil {
			return nil, fmt.Errorf("program %s: %w", prog.Meta.ProgramID, err)
		}
	}
	f, err := b.newFunc(ctx, prog.Meta.ProgramID, prog.Template.Prefix, prog.Template.Suffix, a, sha)
	if err != nil {
		return nil, err
	}
	f.contract = contract
	return f, nil
}

// LoadBase prepares base mode: no program, the interpreter's own chat template
// around the input (none for models without one, such as GPT-2).
func (e *Engine) LoadBase(ctx context.Context, basePath string) (*Func, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.leave()
	b, err := e.base(ctx, basePath)
	if err != nil {
		return nil, err
	}
	prefix, suffix := "", ""
	if strings.Contains(b.model.ChatTemplate(), "<|im_start|>") {
		prefix = "<|im_start|>user\n"
		suffix = "<|im_end|>\n<|im_start|>assistant\n"
		if b.model.Arch() == "qwen3" {
			suffix += "<think>\n\n</think>\n\n"
		}
	}
	return b.newFunc(ctx, "base:"+b.model.Arch(), prefix, suffix, nil, "")
}

// programContract reads the contract stored in meta.json, if any.
func programContract(prog *program.Program) (*schema.Contract, error) {
	raw := prog.Meta.Contract()
	if raw == nil {
		return nil, nil
	}
	var c schema.Contract
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("program %s: meta.json %s: %w", prog.Meta.ProgramID, program.ContractKey, err)
	}
	if _, err := c.Grammar(); err != nil {
		return nil, fmt.Errorf("program %s: meta.json %s: %w", prog.Meta.ProgramID, program.ContractKey, err)
	}
	return &c, nil
}

// Contract is the program's stored output contract, or nil.
func (f *Func) Contract() *schema.Contract { return f.contract }

func checkBase(prog *program.Program, basePath string) error {
	r, err := gguf.Open(basePath)
	if err != nil {
		return fmt.Errorf("base model: %w", err)
	}
	defer r.Close()
	if err := prog.CheckBase(&r.Reader); err != nil {
		return fmt.Errorf("%w: program %s on %s: %w", ErrBaseMismatch, prog.Meta.ProgramID, basePath, err)
	}
	return nil
}

// newFunc makes a Func with its prefix ready. It takes over the caller's
// reference to adapter a: the Func keeps it, or it is released on failure.
func (b *base) newFunc(ctx context.Context, name, prefix, suffix string, a *llama.Adapter, sha string) (_ *Func, err error) {
	handedOver := false // to the worker, which then releases a
	defer func() {
		if err != nil && !handedOver && a != nil {
			b.releaseAdapter(sha)
		}
	}()
	toks, err := b.tok.template(prefix)
	if err != nil {
		return nil, err
	}
	if b.model.AddBOS() {
		toks = append([]llama.Token{b.model.BOS()}, toks...)
	}
	if len(toks) >= b.limit {
		return nil, fmt.Errorf("%w: program %s: template prefix of %d tokens leaves no room in the %d-token context", ErrInputTooLong, name, len(toks), b.limit)
	}
	f := &Func{b: b, name: name, adapter: a, adapterSHA: sha, prefix: toks, suffix: suffix,
		key: prefixKey(b.e.opts.FlashAttn, b.id, sha, toks), hist: newHistory()}
	// Unbuffered: the worker's answer passes only while this Load waits, and
	// a Load that left hands the half-made Func to the worker, which undoes
	// it once its prefix job ends (see handle). So exactly one side owns it,
	// the adapter is never released while the worker decodes with it, and
	// Load returns as soon as ctx ends.
	done := make(chan error)
	if err := b.submit(ctx, job{prepare: f, ctx: ctx, done: done}); err != nil {
		return nil, err
	}
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("program %s: evaluate prefix: %w", name, err)
		}
		return f, nil
	case <-ctx.Done():
		handedOver = true
		return nil, ctx.Err()
	}
}

// Name is the program id (or "base:ARCH" in base mode).
func (f *Func) Name() string { return f.name }

// PrefixTokens is the number of template tokens evaluated once for all calls.
func (f *Func) PrefixTokens() int { return len(f.prefix) }

// PrefixStateBytes is the size of the prefix's saved KV state.
func (f *Func) PrefixStateBytes() int {
	done := make(chan error, 1)
	var n int
	if f.b.submit(context.Background(), job{inspect: func(*worker) { n = len(f.state) }, done: done}) == nil {
		<-done
	}
	return n
}

// Call runs the function on one input. It fails with ErrFuncClosed once the
// function is closed, and with ErrClosed once the engine is.
func (f *Func) Call(ctx context.Context, input string, o CallOptions) (Result, error) {
	start := time.Now()
	if err := checkSampling(o.MaxTokens, o.Temperature); err != nil {
		return Result{}, err
	}
	if o.TopLogprobs < 0 || o.TopLogprobs > MaxTopLogprobs {
		return Result{}, fmt.Errorf("%w: top logprobs %d: want 0 to %d", ErrOptions, o.TopLogprobs, MaxTopLogprobs)
	}
	if err := f.b.e.enter(); err != nil {
		return Result{}, err
	}
	defer f.b.e.leave()
	toks, nIn, err := f.b.tok.call(input, f.suffix)
	if err != nil {
		return Result{}, err
	}
	prompt := len(f.prefix) + len(toks)
	if prompt >= f.b.limit {
		return Result{}, fmt.Errorf("%w: %d prompt tokens (%d template + %d input) but the context holds %d; shorten the input by at least %d tokens",
			ErrInputTooLong, prompt, prompt-nIn, nIn, f.b.limit, prompt-f.b.limit+1)
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	contract := o.Contract
	if contract == nil {
		contract = f.contract
	}
	ctx, cancel := context.WithCancel(ctx) // an OnToken error stops the call
	defer cancel()
	r := &request{fn: f, ctx: ctx, toks: toks, opts: o, res: make(chan result, 1), start: start,
		keep: o.Logprobs || o.TopLogprobs > 0}
	var st *streamer
	if o.OnToken != nil && contract == nil {
		st = &streamer{b: f.b, stop: o.Stop, on: o.OnToken}
		r.tokens = make(chan tokenEvent, min(o.MaxTokens, f.b.limit)+1)
	}
	if contract != nil {
		switch contract.Kind {
		case schema.KindLabels:
			if r.trie, err = f.b.tok.labelTrie(contract.Labels); err != nil {
				return Result{}, err
			}
		case schema.KindJSON, schema.KindRegex:
			if r.opts.Grammar, err = contract.Grammar(); err != nil {
				return Result{}, err
			}
		}
	}
	if err := f.b.submit(ctx, job{call: r}); err != nil {
		return Result{}, err
	}
	res, err := f.wait(ctx, r, st)
	if err != nil {
		return Result{}, err
	}
	res.r.InputTokens = nIn
	res.r.Latency = time.Since(start)
	if r.keep {
		for _, ev := range res.toks {
			res.r.Logprobs = append(res.r.Logprobs, f.b.tokenLogprob(ev))
		}
	}
	if res.err != nil {
		return res.r, res.err
	}
	if contract != nil {
		if r.opts.Grammar != "" && res.r.FinishReason != FinishStop {
			return res.r, fmt.Errorf("%w: %s contract not complete after %d tokens (finish %s); raise max tokens",
				ErrNoValidOutput, contract.Kind, res.r.Tokens, res.r.FinishReason)
		}
		if err := contract.Validate(res.r.Output); err != nil {
			return res.r, fmt.Errorf("%w: %w", ErrNoValidOutput, err)
		}
	}
	switch {
	case st != nil:
		err = st.end(res.r.Output)
	case o.OnToken != nil && res.r.Output != "":
		err = o.OnToken(Token{Text: res.r.Output})
	}
	return res.r, err
}

// wait waits for r's result, passing its tokens to st as they come.
func (f *Func) wait(ctx context.Context, r *request, st *streamer) (result, error) {
	for {
		select {
		case res := <-r.res:
			// The worker sends every token before the result.
			for st != nil && len(r.tokens) > 0 {
				if err := st.push(<-r.tokens); err != nil {
					return result{}, err
				}
			}
			return res, nil
		case ev := <-r.tokens: // nil channel (no stream): never ready
			if err := st.push(ev); err != nil {
				return result{}, err
			}
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
}

// Batch runs the function on several inputs at once (decoded together, at
// most the engine's MaxBatch calls at a time) and returns the results in
// input order. It stops at the first error: the calls running are cancelled
// and later inputs are not run; it returns the failed input with the lowest
// index (the cancelled ones aside) and the results finished so far.
func (f *Func) Batch(ctx context.Context, inputs []string, o CallOptions) ([]Result, error) {
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]Result, len(inputs))
	errs := make([]error, len(inputs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(f.b.e.opts.MaxBatch, len(inputs)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(inputs) && stop.Err() == nil; i = int(next.Add(1) - 1) {
				if out[i], errs[i] = f.Call(stop, inputs[i], o); errs[i] != nil {
					cancel()
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		// Calls cancelled by Batch itself fail with context.Canceled while
		// ctx is still live: the error that stopped them is reported instead.
		if err != nil && (ctx.Err() != nil || !errors.Is(err, context.Canceled)) {
			return out, fmt.Errorf("input %d: %w", i, err)
		}
	}
	return out, nil
}

// Close releases the function's adapter and prefix cache slot.
func (f *Func) Close() error {
	f.closeOnce.Do(func() {
		done := make(chan error, 1)
		if f.b.submit(context.Background(), job{forget: f, done: done}) == nil {
			<-done
		}
		if f.adapter != nil {
			f.b.releaseAdapter(f.adapterSHA)
		}
	})
	return nil
}

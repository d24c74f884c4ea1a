package interp

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/paw-dev/paw/internal/llama"
)

// job is one message to a base model's worker goroutine, which owns the
// llama.cpp context: every decode, KV-cache edit and prefix state runs there.
type job struct {
	call    *request
	prepare *Func           // evaluate or restore the prefix
	ctx     context.Context // prepare: the Load's
	forget  *Func           // drop the prefix from the cache
	inspect func(*worker)   // read worker-owned state
	done    chan error
}

type request struct {
	trie  *labelTrie // labels contract: score instead of sampling
	fn    *Func
	ctx   context.Context
	toks  []llama.Token // input + suffix
	opts  CallOptions
	res   chan result
	start time.Time
	// tokens, when set, gets each token as it is accepted; its buffer holds
	// the call's whole budget, so the worker never waits on a slow reader.
	tokens chan tokenEvent
	keep   bool // keep each token's logprob for the result
}

type result struct {
	r    Result
	err  error
	toks []tokenEvent // with request.keep
}

// slot is a sequence holding one program's evaluated prefix in the KV cache.
type slot struct {
	seq  int
	fn   *Func
	used uint64
}

// call is a request being decoded in its own sequence.
type call struct {
	req      *request
	seq      int
	fed      int // tokens of req.toks decoded so far
	pos      int // position of the next token
	budget   int // most tokens to generate
	reason   string
	gen      []llama.Token
	sampler  *llama.Sampler
	logit    int // batch index of this call's logits in the current step, or -1
	first    time.Duration
	reserved int // KV cells reserved: own prompt + budget
	lp       logprobStats
	toks     []tokenEvent // with req.keep

	// Speculative guesses (draft.go) decoded after this call's last token in
	// the current step, at positions pos, pos+1, …, and their batch indices.
	spec     bool // greedy and unconstrained: guessing allowed
	draft    []llama.Token
	draftIdx []int

	// Label scoring: after the prompt, every node of the trie is decoded once
	// (in one step), each label in its own sequence copied from seq.
	trie      *labelTrie
	root      []float32 // logits after the prompt
	scoring   bool      // the trie's nodes are in the current batch
	nodeIdx   []int     // batch index of each node
	labelSeqs []int
	probs     []float64
	label     int
}

type worker struct {
	b         *base
	slots     []slot
	free      []int // free call sequences
	labelFree []int // free label-scoring sequences
	pending   map[*Func][]*request
	active    map[*Func][]*call
	ring      []*Func // programs with work, served round-robin: one decode each in turn
	turn      int
	clock     uint64
	cur       *llama.Adapter
	curSet    bool
	batch     *llama.Batch
	// first is the program whose prefix went first into an emptied cache, so
	// it sits at the cache's start (see compact); nil once it is dropped.
	first *Func
	// held lists the programs whose prefix state is in memory, least
	// recently used first (see hold).
	held []*Func
}

func newWorker(b *base, resident, calls int) *worker {
	w := &worker{b: b, pending: map[*Func][]*request{}, active: map[*Func][]*call{},
		batch: llama.NewBatch(b.lctx.NBatch(), MaxLabels+1)} // a prompt token can be in a call's sequence and every label's
	for i := range resident {
		w.slots = append(w.slots, slot{seq: i})
	}
	for i := range calls {
		w.free = append(w.free, resident+i)
	}
	for i := range MaxLabels {
		w.labelFree = append(w.labelFree, resident+calls+i)
	}
	return w
}

func (w *worker) run(ctx context.Context) {
	defer w.batch.Close()
	for {
		if !w.busy() {
			select {
			case j := <-w.b.jobs:
				w.handle(j)
			case <-ctx.Done():
				w.failAll(ErrClosed)
				return
			}
		}
	drain:
		for {
			select {
			case j := <-w.b.jobs:
				w.handle(j)
			default:
				break drain
			}
		}
		if ctx.Err() != nil {
			w.failAll(ErrClosed)
			return
		}
		w.step(ctx)
	}
}

func (w *worker) busy() bool { return len(w.ring) > 0 }

func (w *worker) handle(j job) {
	switch {
	case j.call != nil:
		fn := j.call.fn
		if fn.closed {
			// Its adapter may be freed: never decode for it.
			j.call.res <- result{err: ErrFuncClosed}
			return
		}
		if !slices.Contains(w.ring, fn) {
			w.ring = append(w.ring, fn)
		}
		w.pending[fn] = append(w.pending[fn], j.call)
	case j.prepare != nil:
		fn := j.prepare
		_, err := w.ensurePrefix(j.ctx, fn)
		select {
		case j.done <- err: // Load took it: the Func (or the error) is its own
		case <-j.ctx.Done():
			// Load left: undo it here, where nothing decodes with the adapter.
			w.forget(fn)
			if fn.adapter != nil {
				w.b.releaseAdapter(fn.adapterSHA)
			}
		}
	case j.forget != nil:
		w.forget(j.forget)
		j.done <- nil
	case j.inspect != nil:
		j.inspect(w)
		j.done <- nil
	}
}

// forget drops every trace of fn: its prefix, state and calls, which fail
// with ErrFuncClosed. Its caller frees the adapter once this returns.
func (w *worker) forget(fn *Func) {
	fn.closed = true
	for i := range w.slots {
		if w.slots[i].fn == fn {
			w.drop(&w.slots[i])
		}
	}
	for _, r := range w.pending[fn] {
		r.res <- result{err: ErrFuncClosed}
	}
	for _, c := range slices.Clone(w.active[fn]) {
		w.finish(fn, c, ErrFuncClosed)
	}
	if w.cur == fn.adapter {
		// The adapter may be freed next: no pointer to it stays in the
		// context, and none is reused if its memory is reallocated.
		w.b.lctx.ClearAdapters()
		w.cur, w.curSet = nil, true
	}
	w.retire(fn)
	kvPins.Unpin(fn)
	fn.state = nil
	w.held = slices.DeleteFunc(w.held, func(f *Func) bool { return f == fn })
}

// step runs one decode for the next program in turn.
func (w *worker) step(ctx context.Context) {
	if len(w.ring) == 0 {
		return
	}
	w.turn %= len(w.ring)
	fn := w.ring[w.turn]
	w.turn++
	w.reap(fn)
	w.compact(fn)
	w.admit(fn)
	calls := w.active[fn]
	if len(calls) == 0 {
		if len(w.pending[fn]) == 0 {
			w.retire(fn)
		}
		return
	}
	if err := w.setAdapter(fn.adapter); err != nil {
		// Decoding without it would answer with the base model's output.
		for _, c := range slices.Clone(calls) {
			w.finish(fn, c, err)
		}
		return
	}
	w.batch.Clear()
	room := w.batch.Cap()
	// Calls left out of a full batch must not read the last step's logits.
	for _, c := range calls {
		c.logit = -1
		c.draft, c.draftIdx = c.draft[:0], c.draftIdx[:0]
	}
	for _, c := range calls {
		if room == 0 {
			break
		}
		if c.fed < len(c.req.toks) {
			n := min(len(c.req.toks)-c.fed, room)
			last := c.fed+n == len(c.req.toks)
			if last && c.trie != nil && len(c.trie.inner) > 0 && n+len(c.trie.inner) <= room && len(c.trie.labels) <= len(w.labelFree) {
				// The prompt's end and the label trie in one decode.
				if err := w.addTrie(c, c.req.toks[c.fed:]); err != nil {
					w.finish(fn, c, err)
					continue
				}
				c.fed += n
				c.pos += n
				room -= n + len(c.trie.inner)
				continue
			}
			if err := w.batch.AddSeq(c.req.toks[c.fed:c.fed+n], c.pos, c.seq, last); err != nil {
				w.finish(fn, c, err)
				continue
			}
			c.fed += n
			c.pos += n
			room -= n
			if last {
				c.logit = w.batch.Len() - 1
				room -= w.addDraft(fn, c, room, true, len(calls))
			}
			continue
		}
		if c.trie != nil {
			if n := len(c.trie.inner); n <= room && len(c.trie.labels) <= len(w.labelFree) {
				if err := w.addTrie(c, nil); err != nil {
					w.finish(fn, c, err)
					continue
				}
				room -= n
			}
			continue
		}
		i, err := w.batch.Add(c.gen[len(c.gen)-1], c.pos, []int{c.seq}, true)
		if err != nil {
			w.finish(fn, c, err)
			continue
		}
		c.pos++
		room--
		c.logit = i
		room -= w.addDraft(fn, c, room, false, len(calls))
	}
	t0 := time.Now()
	err := w.decode(ctx)
	slog.Debug("decode", "program", fn.name, "tokens", w.batch.Len(), "calls", len(calls), "ms", time.Since(t0).Milliseconds())
	if err == nil {
		w.b.e.count(func(s *Stats) { s.Decodes++; s.DecodeCalls += len(calls); s.DecodeTokens += w.batch.Len() })
	}
	if err != nil {
		err = fmt.Errorf("decode: %w", err)
		if ctx.Err() != nil {
			err = ErrClosed // the engine's Close aborted it
		}
		for _, c := range slices.Clone(w.active[fn]) {
			w.finish(fn, c, err)
		}
		return
	}
	for _, c := range slices.Clone(w.active[fn]) {
		switch {
		case c.scoring:
			if c.logit >= 0 { // the prompt ended in this decode too
				row, err := w.b.lctx.LogitsView(c.logit)
				if err != nil {
					w.finish(fn, c, err)
					continue
				}
				c.first = time.Since(c.req.start)
				c.root = row
			}
			w.scoreLabels(fn, c)
		case c.logit >= 0 && c.trie != nil:
			row, err := w.b.lctx.LogitsView(c.logit)
			if err != nil {
				w.finish(fn, c, err)
				continue
			}
			c.first = time.Since(c.req.start)
			if len(c.trie.inner) == 0 {
				c.root = row // no label continues another: score now
				w.scoreLabels(fn, c)
				continue
			}
			c.root = slices.Clone(row)
		case c.logit >= 0:
			w.sample(fn, c)
		}
	}
}

// addTrie puts the internal nodes of c's label trie into the batch, each in
// the sequences of the labels through it, copied from c's prompt. With tail,
// the rest of c's prompt goes first, in c's sequence and every label's, so
// that the prompt and the labels take one decode; c.pos is where tail starts.
func (w *worker) addTrie(c *call, tail []llama.Token) error {
	n := len(w.labelFree) - len(c.trie.labels)
	c.labelSeqs = slices.Clone(w.labelFree[n:]) // not aliased: the pool grows back by append
	w.labelFree = w.labelFree[:n]
	for _, s := range c.labelSeqs {
		w.b.lctx.SeqCopy(c.seq, s, -1, -1)
	}
	at := c.pos
	if len(tail) > 0 {
		seqs := append([]int{c.seq}, c.labelSeqs...)
		for j, t := range tail {
			i, err := w.batch.Add(t, at+j, seqs, j == len(tail)-1)
			if err != nil {
				return err
			}
			c.logit = i
		}
		at += len(tail)
	}
	c.nodeIdx = make([]int, len(c.trie.nodes))
	seqs := make([]int, 0, len(c.trie.labels))
	for _, i := range c.trie.inner {
		n := c.trie.nodes[i]
		seqs = seqs[:0]
		for _, l := range n.seqs {
			seqs = append(seqs, c.labelSeqs[l])
		}
		idx, err := w.batch.Add(n.tok, at+n.depth, seqs, true)
		if err != nil {
			return err
		}
		c.nodeIdx[i] = idx
	}
	c.scoring = true
	return nil
}

// scoreLabels turns the decoded trie into label probabilities and finishes c
// with the most probable label.
func (w *worker) scoreLabels(fn *Func, c *call) {
	var err error
	sc := c.trie.score(c.root, func(i int) []float32 {
		row, e := w.b.lctx.LogitsView(c.nodeIdx[i])
		if e != nil {
			err = e
			return c.root
		}
		return row
	}, w.b.tok.eog)
	if err == nil && slices.ContainsFunc(sc.logp, math.IsNaN) {
		err = errNonFinite
	}
	if err != nil {
		w.finish(fn, c, err)
		return
	}
	c.probs = softmax(sc.logp)
	best := 0
	for i, p := range c.probs {
		if p > c.probs[best] {
			best = i
		}
	}
	c.label = best
	for i, lp := range sc.toklp[best] {
		c.lp.add(lp)
		if c.req.keep {
			c.toks = append(c.toks, tokenEvent{id: c.trie.toks[best][i], lp: lp})
		}
	}
	c.gen = c.trie.toks[best]
	c.reason = FinishStop
	w.finish(fn, c, nil)
}

func (w *worker) decode(ctx context.Context) error {
	w.b.e.compute.Lock()
	defer w.b.e.compute.Unlock()
	return w.b.lctx.Decode(ctx, w.batch)
}

// addDraft puts c's guesses of the tokens after its last one into the batch
// (at most room) and returns how many it added.
func (w *worker) addDraft(fn *Func, c *call, room int, prompt bool, calls int) int {
	if !c.spec {
		return 0
	}
	// Every guess kept plus the token after it must fit the budget.
	k := min(room, c.budget-len(c.gen)-1, fn.hist.limit(prompt, calls))
	for j, t := range fn.hist.guess(c.gen, c.req.toks, k) {
		i, err := w.batch.Add(t, c.pos+j, []int{c.seq}, true)
		if err != nil {
			break
		}
		c.draft = append(c.draft, t)
		c.draftIdx = append(c.draftIdx, i)
	}
	return len(c.draft)
}

// sample picks c's next token from the logits at batch index c.logit, then
// keeps each guess that equals the token picked before it, picking again from
// the guess's logits; it drops the KV of the guesses that failed and
// finishes the call when it is done.
func (w *worker) sample(fn *Func, c *call) {
	idx, kept := c.logit, 0
	defer func() {
		if len(c.draft) > 0 {
			// Guesses after the first miss (or the end) were never tried.
			fn.hist.observe(min(kept+1, len(c.draft)), kept)
			w.b.e.count(func(st *Stats) { st.Drafted += len(c.draft); st.DraftAccepted += kept })
		}
	}()
	for {
		if w.next(fn, c, idx) {
			return
		}
		if kept == len(c.draft) || c.gen[len(c.gen)-1] != c.draft[kept] {
			break
		}
		idx = c.draftIdx[kept]
		kept++
	}
	if kept < len(c.draft) {
		w.b.lctx.SeqRemove(c.seq, c.pos+kept, -1)
	}
	c.pos += kept
}

// next picks one token from the logits at batch index i and reports whether
// the call finished.
func (w *worker) next(fn *Func, c *call, i int) bool {
	t := c.sampler.Sample(w.b.lctx, i)
	if t < 0 {
		w.finish(fn, c, fmt.Errorf("%w: no token satisfies the grammar", ErrNoValidOutput))
		return true
	}
	if len(c.gen) == 0 {
		c.first = time.Since(c.req.start)
	}
	if w.b.model.IsEOG(t) {
		c.reason = FinishStop
		w.finish(fn, c, nil)
		return true
	}
	ev := tokenEvent{id: t}
	if row, err := w.b.lctx.LogitsView(i); err == nil {
		// The model's own (unconstrained) probability of the chosen token.
		lse := logSumExp(row)
		ev.lp = float64(row[t]) - lse
		if math.IsNaN(ev.lp) || math.IsInf(lse, 0) {
			w.finish(fn, c, errNonFinite)
			return true
		}
		c.lp.add(ev.lp)
		if k := c.req.opts.TopLogprobs; k > 0 {
			ev.top = topLogprobs(row, lse, k)
		}
	}
	c.gen = append(c.gen, t)
	if c.req.keep {
		c.toks = append(c.toks, ev)
	}
	if c.req.tokens != nil {
		select {
		case c.req.tokens <- ev:
		default: // cannot happen (the buffer holds the budget); never block the batch
		}
	}
	if len(c.req.opts.Stop) > 0 {
		text, _ := w.b.model.Detokenize(c.gen, false)
		for _, s := range c.req.opts.Stop {
			if s != "" && strings.Contains(text, s) {
				c.reason = FinishString
				w.finish(fn, c, nil)
				return true
			}
		}
	}
	if len(c.gen) >= c.budget {
		if c.reason == "" {
			c.reason = FinishLength
		}
		w.finish(fn, c, nil)
		return true
	}
	return false
}

// finish frees c's sequence and delivers its result.
func (w *worker) finish(fn *Func, c *call, err error) {
	w.b.lctx.SeqRemove(c.seq, -1, -1)
	w.free = append(w.free, c.seq)
	for _, s := range c.labelSeqs {
		w.b.lctx.SeqRemove(s, -1, -1)
	}
	w.labelFree = append(w.labelFree, c.labelSeqs...)
	c.labelSeqs = nil
	c.sampler.Close()
	w.active[fn] = slices.DeleteFunc(w.active[fn], func(x *call) bool { return x == c })
	if len(w.active[fn]) == 0 {
		delete(w.active, fn)
	}
	res := result{err: err}
	if err == nil {
		res.r, res.toks = w.result(fn, c), c.toks
		if c.spec {
			fn.hist.add(c.gen)
		}
	}
	c.req.res <- res
}

func (w *worker) result(fn *Func, c *call) Result {
	text, _ := w.b.model.Detokenize(c.gen, false)
	if c.reason == FinishString {
		for _, s := range c.req.opts.Stop {
			if i := strings.Index(text, s); s != "" && i >= 0 {
				text = text[:i]
			}
		}
	}
	var probs map[string]float64
	if c.trie != nil {
		text = c.trie.labels[c.label]
		probs = make(map[string]float64, len(c.probs))
		for i, p := range c.probs {
			probs[c.trie.labels[i]] = p
		}
	}
	return Result{
		Probs: probs,
		// Byte tokens can leave a partial UTF-8 sequence; keep the output valid text.
		Output: strings.ToValidUTF8(strings.TrimSpace(text), "\uFFFD"), Program: fn.name,
		PromptTokens: len(fn.prefix) + len(c.req.toks), Tokens: len(c.gen),
		FinishReason: c.reason, FirstToken: c.first,
		LogprobMean: c.lp.mean(), LogprobMin: c.lp.min,
	}
}

// reap fails calls whose caller gave up, freeing their sequences.
func (w *worker) reap(fn *Func) {
	for _, c := range slices.Clone(w.active[fn]) {
		if err := c.req.ctx.Err(); err != nil {
			w.finish(fn, c, err)
		}
	}
	w.pending[fn] = slices.DeleteFunc(w.pending[fn], func(r *request) bool {
		if err := r.ctx.Err(); err != nil {
			r.res <- result{err: err}
			return true
		}
		return false
	})
}

// retire drops fn from the rotation once it has no work.
func (w *worker) retire(fn *Func) {
	delete(w.pending, fn)
	if i := slices.Index(w.ring, fn); i >= 0 {
		w.ring = slices.Delete(w.ring, i, i+1)
	}
}

// cellsInUse counts the KV cells held: prefixes that are resident or shared
// by running calls, plus what running calls reserved.
func (w *worker) cellsInUse() int {
	n := 0
	for fn, calls := range w.active {
		if !w.resident(fn) {
			n += len(fn.prefix)
		}
		for _, c := range calls {
			n += c.reserved
		}
	}
	for _, s := range w.slots {
		if s.fn != nil {
			n += len(s.fn.prefix)
		}
	}
	return n
}

func (w *worker) resident(fn *Func) bool {
	return slices.ContainsFunc(w.slots, func(s slot) bool { return s.fn == fn })
}

// admit starts pending calls of fn while sequences and KV cells allow.
func (w *worker) admit(fn *Func) {
	for len(w.pending[fn]) > 0 && len(w.free) > 0 {
		r := w.pending[fn][0]
		budget := min(r.opts.MaxTokens, w.b.limit-len(fn.prefix)-len(r.toks))
		if r.trie != nil {
			budget = len(r.trie.nodes)
		}
		need := len(r.toks) + budget
		if !w.resident(fn) {
			need += len(fn.prefix)
		}
		if w.cellsInUse()+need > w.b.lctx.NCtx() {
			switch {
			case len(w.active) > 0:
				return // wait for running calls to free cells
			case w.evictIdle(fn):
				continue
			}
			w.pending[fn] = w.pending[fn][1:]
			r.res <- result{err: fmt.Errorf("%w: call needs %d KV cells, the cache has %d (raise the engine's KV cells or lower max tokens)", ErrInputTooLong, need, w.b.lctx.NCtx())}
			continue
		}
		src, err := w.ensurePrefix(context.Background(), fn)
		if err != nil {
			w.pending[fn] = w.pending[fn][1:]
			r.res <- result{err: fmt.Errorf("prefix: %w", err)}
			continue
		}
		s, err := llama.NewSampler(w.b.model, llama.SamplerParams{Temperature: r.opts.Temperature, Seed: r.opts.Seed, Grammar: r.opts.Grammar})
		if err != nil {
			w.pending[fn] = w.pending[fn][1:]
			r.res <- result{err: err}
			continue
		}
		w.pending[fn] = w.pending[fn][1:]
		seq := w.free[len(w.free)-1]
		w.free = w.free[:len(w.free)-1]
		if src >= 0 {
			w.b.lctx.SeqCopy(src, seq, -1, -1)
		}
		c := &call{req: r, seq: seq, pos: len(fn.prefix), budget: budget, sampler: s, logit: -1,
			reserved: len(r.toks) + budget, trie: r.trie,
			spec: r.trie == nil && r.opts.Temperature == 0 && r.opts.Grammar == "" && !w.b.e.opts.NoDrafts}
		if budget < r.opts.MaxTokens && r.trie == nil {
			c.reason = FinishContext
		}
		w.active[fn] = append(w.active[fn], c)
	}
}

// drop removes a resident prefix from the KV cache (its state stays in memory).
func (w *worker) drop(s *slot) {
	w.b.lctx.SeqRemove(s.seq, -1, -1)
	if s.fn == w.first {
		w.first = nil
	}
	s.fn = nil
}

// compact empties a cache that holds no running call unless it already holds
// fn's prefix alone at its start, so that fn's prefix goes back in first
// (restored from memory in ~3 ms). Attention runs over every cell up to the
// last one in use (llama.cpp pads it to 256), so idle programs' prefixes, or
// fn's own placed high, slow every call: a 38-token prompt after a 256-token
// prefix measured 190 ms alone and 246 ms with three other prefixes resident.
func (w *worker) compact(fn *Func) {
	if len(w.active) > 0 || len(w.pending[fn]) == 0 {
		return
	}
	others := slices.ContainsFunc(w.slots, func(s slot) bool { return s.fn != nil && s.fn != fn })
	if !others && (len(fn.prefix) == 0 || w.first == fn && w.resident(fn)) {
		return
	}
	w.b.lctx.ClearKV()
	for i := range w.slots {
		w.slots[i].fn = nil
	}
	w.first = fn
}

// evictIdle drops resident prefixes of programs other than keep; it reports
// whether anything was freed.
func (w *worker) evictIdle(keep *Func) bool {
	freed := false
	for i := range w.slots {
		if s := &w.slots[i]; s.fn != nil && s.fn != keep {
			w.drop(s)
			freed = true
		}
	}
	return freed
}

// ensurePrefix makes fn's prefix resident in a slot and returns its sequence
// (-1 for an empty prefix): from memory, from the cache file, or evaluated.
// ctx aborts an evaluation.
func (w *worker) ensurePrefix(ctx context.Context, fn *Func) (int, error) {
	if len(fn.prefix) == 0 {
		return -1, nil
	}
	w.clock++
	victim := 0
	for i := range w.slots {
		s := &w.slots[i]
		if s.fn == fn {
			s.used = w.clock
			return s.seq, nil
		}
		if s.fn == nil || (w.slots[victim].fn != nil && s.used < w.slots[victim].used) {
			victim = i
		}
	}
	s := &w.slots[victim]
	if s.fn != nil {
		w.drop(s)
	}
	fromDisk := false
	if fn.state == nil {
		state, err := w.b.e.readPrefix(fn)
		if err != nil {
			slog.Warn("prefix cache unusable, recomputing", "program", fn.name, "err", err)
		}
		fn.state, fromDisk = state, state != nil
		fn.onDisk = fn.onDisk || fromDisk
	}
	if fn.state != nil {
		if err := w.b.lctx.SetSeqState(s.seq, fn.state); err != nil || w.b.lctx.SeqPosMax(s.seq) != len(fn.prefix)-1 {
			slog.Warn("prefix cache rejected by the engine, recomputing", "program", fn.name, "err", err)
			w.b.lctx.SeqRemove(s.seq, -1, -1)
			fn.state = nil
		} else if fromDisk {
			w.b.e.count(func(st *Stats) { st.PrefixRestored++ })
		}
	}
	if fn.state == nil {
		state, err := w.evalPrefix(ctx, fn, s.seq)
		if err != nil {
			w.b.lctx.SeqRemove(s.seq, -1, -1)
			return 0, err
		}
		fn.state = state
		w.b.e.count(func(st *Stats) { st.PrefixEvaluated++ })
		if err := w.b.e.writePrefix(fn, state); err != nil {
			slog.Warn("prefix cache not saved", "program", fn.name, "err", err)
		} else {
			fn.onDisk = true
		}
	}
	s.fn, s.used = fn, w.clock
	w.hold(fn)
	return s.seq, nil
}

// hold marks fn's prefix state as just used and lets go of the least
// recently used states beyond the engine's PrefixStates that are saved on
// disk (~28 MiB each for Qwen3-0.6B; they come back from the file, checked,
// in ~60 ms instead of ~3 ms from memory). A state that could not be saved
// stays in memory.
func (w *worker) hold(fn *Func) {
	w.held = append(slices.DeleteFunc(w.held, func(f *Func) bool { return f == fn }), fn)
	for i := 0; len(w.held) > w.b.e.opts.PrefixStates && i < len(w.held)-1; {
		if f := w.held[i]; f.onDisk {
			f.state = nil
			w.held = slices.Delete(w.held, i, i+1)
			continue
		}
		i++
	}
}

// evalPrefix decodes fn's prefix into seq with its adapter and saves the state.
func (w *worker) evalPrefix(ctx context.Context, fn *Func, seq int) ([]byte, error) {
	if err := w.setAdapter(fn.adapter); err != nil {
		return nil, err
	}
	for i := 0; i < len(fn.prefix); i += w.batch.Cap() {
		end := min(i+w.batch.Cap(), len(fn.prefix))
		w.batch.Clear()
		if err := w.batch.AddSeq(fn.prefix[i:end], i, seq, false); err != nil {
			return nil, err
		}
		if err := w.decode(ctx); err != nil {
			return nil, err
		}
	}
	return w.b.lctx.SeqState(seq)
}

// setAdapter switches the context to adapter a (nil: none).
func (w *worker) setAdapter(a *llama.Adapter) error {
	if w.curSet && w.cur == a {
		return nil
	}
	w.b.e.count(func(s *Stats) { s.AdapterSwitches++ })
	w.b.lctx.ClearAdapters()
	if a != nil {
		// Scale 1.0: llama.cpp applies alpha/rank itself, as the official runtime does.
		if err := w.b.lctx.SetAdapter(a, 1); err != nil {
			w.curSet = false
			return fmt.Errorf("set adapter: %w", err)
		}
	}
	w.cur, w.curSet = a, true
	return nil
}

func (w *worker) failAll(err error) {
	for fn, calls := range w.active {
		for _, c := range slices.Clone(calls) {
			w.finish(fn, c, err)
		}
	}
	for _, rs := range w.pending {
		for _, r := range rs {
			r.res <- result{err: err}
		}
	}
	w.pending = map[*Func][]*request{}
	w.ring = nil
}

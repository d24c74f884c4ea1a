package discover

import (
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Caps of the miner's memory; see Options.
const (
	DefaultSample       = 1000
	DefaultMaxGroups    = 4096
	DefaultMaxTemplates = 1024
	// MaxAnswers is the most distinct answers counted per template; past it
	// the answers are no label set.
	MaxAnswers = 64
	// maxPerGroup caps one group's templates; maxPending its unmatched
	// messages waiting for a partner.
	maxPerGroup = 32
	maxPending  = 16
	// maxRepeats caps the inputs remembered per template for consistency.
	maxRepeats = 4096
	// lateLoosen is the calls after which loosening a template is watched
	// as a possible prompt change.
	lateLoosen = 100
)

// example is a sampled call of a template.
type example struct {
	user, output string
	time         time.Time
}

// repeat is what one input was answered, over its calls.
type repeat struct {
	answer   uint64
	n        int32
	conflict bool
}

// cluster is one template and its aggregates.
type cluster struct {
	id    int
	group *group
	tmpl  template
	toks  []string // tmpl's literal tokens and their segments
	seg   []int

	n int
	span
	answers     map[string]int // trimmed answer → calls; nil once past MaxAnswers
	jsonAnswers int
	shape       *shape
	repeats     map[uint64]repeat
	tokens      int64 // prompt + completion tokens, logged or estimated
	sample      []example
	seen        int // calls offered to the sample

	// A template loosened after lateLoosen calls may be a prompt edited in
	// place (same system message, reworded): prev is the template before,
	// and the calls since are counted by whether they still fit it.
	prev               *template
	loosenedAt         time.Time
	sinceOld, sinceNew int
}

// group is the calls of one model and system context.
type group struct {
	model, system string
	clusters      []*cluster
	pending       []waiting
}

// waiting is a pending call with its message's tokens.
type waiting struct {
	Call
	toks []string
}

// miner mines templates from calls in bounded memory.
type miner struct {
	opts     Options
	groups   map[string]*group
	clusters []*cluster
	al       aligner
	rng      *rand.Rand
	seed     maphash.Seed
	dropped  int // calls past a cap or pushed out of pending
	calls    int
	span
}

// span is the time range of the calls seen.
type span struct{ first, last time.Time }

// add widens the span to t; a zero t (a call without a time) is skipped.
func (s *span) add(t time.Time) {
	if t.IsZero() {
		return
	}
	if s.first.IsZero() || t.Before(s.first) {
		s.first = t
	}
	if t.After(s.last) {
		s.last = t
	}
}

func newMiner(opts Options) *miner {
	return &miner{opts: opts, groups: map[string]*group{}, rng: rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)),
		seed: maphash.MakeSeed()}
}

// add mines one call.
func (m *miner) add(c Call) {
	m.calls++
	m.span.add(c.Time)
	key := c.Model + "\x00" + c.System
	g := m.groups[key]
	if g == nil {
		if len(m.groups) >= m.opts.MaxGroups {
			m.dropped++
			return
		}
		g = &group{model: c.Model, system: c.System}
		m.groups[key] = g
	}
	for i, cl := range g.clusters {
		if _, ok := cl.tmpl.match(c.User, nil); ok {
			// Busy templates move to the front: most calls take one check.
			if i > 0 {
				copy(g.clusters[1:i+1], g.clusters[:i])
				g.clusters[0] = cl
			}
			m.addTo(cl, c)
			return
		}
	}
	m.slowPath(g, c)
}

// slowPath places a call no template matched: it generalizes the template
// that keeps most of its literal text, else pairs with a pending message,
// else waits in pending.
func (m *miner) slowPath(g *group, c Call) {
	toks := tokenize(c.User)
	set := make(map[string]struct{}, len(toks))
	for _, t := range toks {
		set[t] = struct{}{}
	}
	var best *cluster
	var bestT template
	bestLit := -1
	for _, cl := range g.clusters {
		need := KeepLiteral * float64(cl.tmpl.literal())
		if cl.tmpl.slots() == 0 {
			need = MinLiteral
		}
		if !mayShare(cl.toks, set, need) {
			continue
		}
		t, ok := m.al.generalize(&cl.tmpl, cl.toks, cl.seg, toks)
		if ok && t.literal() > bestLit {
			best, bestT, bestLit = cl, t, t.literal()
		}
	}
	if best != nil {
		// A later loosening replaces the watched one unless that one
		// already looks like a change.
		if best.n >= lateLoosen && (best.prev == nil || best.sinceNew <= best.sinceOld) {
			old := best.tmpl
			best.prev, best.loosenedAt, best.sinceOld, best.sinceNew = &old, c.Time, 0, 0
		}
		best.setTemplate(bestT)
		m.addTo(best, c)
		m.absorb(g, best)
		return
	}
	if len(g.clusters) < maxPerGroup && len(m.clusters) < m.opts.MaxTemplates {
		for i, p := range g.pending {
			if !mayShare(p.toks, set, MinLiteral) {
				continue
			}
			t, ok := m.al.induce(p.toks, toks)
			if !ok {
				continue
			}
			cl := &cluster{id: len(m.clusters) + 1, group: g, answers: map[string]int{}, repeats: map[uint64]repeat{}}
			cl.setTemplate(t)
			m.clusters = append(m.clusters, cl)
			g.clusters = append(g.clusters, cl)
			g.pending = slices.Delete(g.pending, i, i+1)
			m.addTo(cl, p.Call)
			m.addTo(cl, c)
			m.absorb(g, cl)
			return
		}
	}
	if len(g.pending) == maxPending {
		g.pending = slices.Delete(g.pending, 0, 1)
		m.dropped++
	}
	g.pending = append(g.pending, waiting{c, toks})
}

// absorb moves g's pending messages that fit cl's (new or loosened)
// template into it.
func (m *miner) absorb(g *group, cl *cluster) {
	g.pending = slices.DeleteFunc(g.pending, func(q waiting) bool {
		if _, ok := cl.tmpl.match(q.User, nil); ok {
			m.addTo(cl, q.Call)
			return true
		}
		return false
	})
}

// mayShare is a cheap bound before an alignment: the non-space characters
// of a's tokens that also occur in the set of b's reach need.
func mayShare(a []string, in map[string]struct{}, need float64) bool {
	n := 0
	for _, t := range a {
		if _, ok := in[t]; ok {
			n += nonSpace(t)
		}
	}
	return float64(n) >= need
}

func (cl *cluster) setTemplate(t template) {
	cl.tmpl = t
	cl.toks, cl.seg = t.tokens()
}

// addTo adds c to cl's aggregates and sample.
func (m *miner) addTo(cl *cluster, c Call) {
	cl.n++
	if cl.prev != nil {
		if _, ok := cl.prev.match(c.User, nil); ok {
			cl.sinceOld++
		} else {
			cl.sinceNew++
		}
	}
	cl.span.add(c.Time)
	ans := strings.TrimSpace(c.Output)
	if cl.answers != nil {
		if _, ok := cl.answers[ans]; ok || len(cl.answers) < MaxAnswers {
			cl.answers[ans]++
		} else {
			cl.answers = nil
		}
	}
	if v, ok := parseJSONAnswer(ans); ok {
		cl.jsonAnswers++
		if cl.shape == nil {
			cl.shape = newShape()
		}
		cl.shape.add(v)
	}
	in, out := maphash.String(m.seed, c.User), maphash.String(m.seed, ans)
	if r, ok := cl.repeats[in]; ok {
		r.n++
		r.conflict = r.conflict || r.answer != out
		cl.repeats[in] = r
	} else if len(cl.repeats) < maxRepeats {
		cl.repeats[in] = repeat{answer: out, n: 1}
	}
	p, o := c.PromptTokens, c.CompletionTokens
	if p == 0 {
		p = estimateTokens(cl.group.system) + estimateTokens(c.User)
	}
	if o == 0 {
		o = estimateTokens(c.Output)
	}
	cl.tokens += int64(p + o)
	// Reservoir sampling (Algorithm R): every call is kept with equal chance.
	cl.seen++
	ex := example{user: c.User, output: c.Output, time: c.Time}
	if len(cl.sample) < m.opts.Sample {
		cl.sample = append(cl.sample, ex)
	} else if k := m.rng.IntN(cl.seen); k < m.opts.Sample {
		cl.sample[k] = ex
	}
}

// estimateTokens approximates a text's tokens as one per four bytes (the
// usual ratio for English under BPE vocabularies), at least one for any text.
func estimateTokens(s string) int {
	return (len(s) + 3) / 4
}

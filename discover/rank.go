package discover

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Ranking defaults.
const (
	// DefaultContextTokens is the interpreter's context a compiled call
	// shares (the engine's default KV cells per base, interp.DefaultKVCells).
	DefaultContextTokens = 4096
	// ProgramTokens is kept free of the context for the pseudo-program and
	// the answer.
	ProgramTokens = 1024
	// DefaultMinCalls: templates with fewer calls are not reported.
	DefaultMinCalls = 10
	// MaxLabels is the largest answer set called a label set.
	MaxLabels = 20
)

// Output kinds of a template's answers.
const (
	OutputLabels   = "labels"   // a small set of short answers
	OutputJSON     = "json"     // JSON objects or arrays
	OutputText     = "text"     // free text
	OutputConstant = "constant" // one answer, always
)

// RankOptions configure Report; the zero value works.
type RankOptions struct {
	PricePer1K    float64 // dollars per 1,000 tokens; 0 leaves cost_per_day 0
	ContextTokens int     // DefaultContextTokens when 0
	MinCalls      int     // DefaultMinCalls when 0
}

// Report is what a log holds: its counts and its templates, best first.
type Report struct {
	Stats       Stats
	Unclustered int       // calls in no reported template
	First, Last time.Time // the log's time span (zero without timestamps)
	Templates   []*Template
}

// Template is one discovered template, ranked.
type Template struct {
	Rank  int
	ID    int    // stable within one run, for --export
	Name  string // a suggested function name, unique in the report
	Model string
	// System is the system message (and fixed turns) the calls share.
	System string
	// Text is the user message with each slot as {name}; Segments the
	// literal text around the slots (len(Slots)+1 segments).
	Text     string
	Segments []string
	Slots    []string
	Calls    int
	// CallsPerDay is the calls over the log's time span (0 without
	// timestamps).
	CallsPerDay float64
	First, Last time.Time
	// Coverage is the share of the log's span between the template's first
	// and last call.
	Coverage float64
	Stable   bool
	Change   string // why not stable
	Output   string // OutputLabels, OutputJSON, OutputText or OutputConstant
	Labels   []LabelCount
	Schema   json.RawMessage // the inferred JSON Schema of OutputJSON
	Shapes   int             // distinct key sets of JSON answers (1: one shape)
	// InputTokens is the 95th percentile of the function input's tokens
	// (estimated at 4 bytes a token) over the sample; Fits says whether it
	// leaves ProgramTokens of the context.
	InputTokens int
	Fits        bool
	// Consistency is the share of repeated inputs always answered the same
	// (1 when no input repeats); Repeated counts those inputs.
	Consistency   float64
	Repeated      int
	TokensPerCall float64
	CostPerDay    float64
	Score         float64
	Examples      []Example // the sample, in time order
}

// LabelCount is one answer of a label set.
type LabelCount struct {
	Label string `json:"label"`
	Calls int    `json:"calls"`
}

// Example is one sampled call: its slot values, the function's input made
// of them, and the hosted model's answer.
type Example struct {
	Slots  []string
	Input  string
	Output string
	Time   time.Time
}

// Report ranks the templates mined so far.
func (d *Discoverer) Report(opts RankOptions) *Report {
	if opts.ContextTokens <= 0 {
		opts.ContextTokens = DefaultContextTokens
	}
	if opts.MinCalls <= 0 {
		opts.MinCalls = DefaultMinCalls
	}
	m := d.miner
	r := &Report{Stats: d.stats, First: m.first, Last: m.last, Unclustered: m.dropped}
	for _, g := range m.groups {
		r.Unclustered += len(g.pending)
	}
	span := m.last.Sub(m.first)
	for _, cl := range m.clusters {
		if cl.n < opts.MinCalls {
			r.Unclustered += cl.n
			continue
		}
		r.Templates = append(r.Templates, describe(cl, span, opts))
	}
	names := map[string]int{}
	for _, t := range r.Templates {
		t.Name = uniqueName(names, t.Name)
	}
	flagChanges(r.Templates, span)
	for _, t := range r.Templates {
		t.Score = score(t)
	}
	slices.SortStableFunc(r.Templates, func(a, b *Template) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID))
	})
	for i, t := range r.Templates {
		t.Rank = i + 1
	}
	return r
}

// describe measures one cluster.
func describe(cl *cluster, span time.Duration, opts RankOptions) *Template {
	t := &Template{ID: cl.id, Model: cl.group.model, System: cl.group.system, Calls: cl.n, First: cl.first, Last: cl.last,
		Segments: slices.Clone(cl.tmpl.segs), Stable: true, Coverage: 1}
	t.Slots = slotNames(cl.tmpl.segs)
	var text strings.Builder
	for i, s := range t.Segments {
		if i > 0 {
			text.WriteString("{" + t.Slots[i-1] + "}")
		}
		text.WriteString(s)
	}
	t.Text = text.String()
	t.Name = suggestName(t)
	if cl.prev != nil && cl.sinceNew > cl.sinceOld && cl.sinceNew >= opts.MinCalls {
		t.Stable = false
		t.Change = fmt.Sprintf("prompt reworded at %s: %d calls since have the new text, %d the old", cl.loosenedAt.Format(time.DateTime),
			cl.sinceNew, cl.sinceOld)
	}
	if span > 0 {
		t.CallsPerDay = float64(cl.n) / math.Max(span.Hours()/24, 1.0/24)
		t.Coverage = float64(cl.last.Sub(cl.first)) / float64(span)
	}
	t.TokensPerCall = float64(cl.tokens) / float64(cl.n)
	t.CostPerDay = t.CallsPerDay * t.TokensPerCall / 1000 * opts.PricePer1K
	t.Output = OutputText
	switch {
	case float64(cl.jsonAnswers) >= 0.95*float64(cl.n) && cl.shape != nil:
		t.Output, t.Schema, t.Shapes = OutputJSON, cl.shape.schema(), cl.shape.shapes()
	case cl.answers != nil && len(cl.answers) == 1:
		t.Output = OutputConstant
	case isLabelSet(cl.answers, cl.n):
		t.Output = OutputLabels
		for l, n := range cl.answers {
			t.Labels = append(t.Labels, LabelCount{l, n})
		}
		slices.SortFunc(t.Labels, func(a, b LabelCount) int { return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Label, b.Label)) })
	}
	consistent := 0
	for _, r := range cl.repeats {
		if r.n > 1 {
			t.Repeated++
			if !r.conflict {
				consistent++
			}
		}
	}
	t.Consistency = 1
	if t.Repeated > 0 {
		t.Consistency = float64(consistent) / float64(t.Repeated)
	}
	var lens []int
	for _, ex := range cl.sample {
		values := cl.tmpl.values(ex.user)
		if values == nil {
			continue // cannot happen: generalizing keeps every match
		}
		e := Example{Slots: values, Input: functionInput(t.Slots, values), Output: ex.output, Time: ex.time}
		t.Examples = append(t.Examples, e)
		lens = append(lens, estimateTokens(e.Input))
	}
	slices.SortStableFunc(t.Examples, func(a, b Example) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Input, b.Input)) })
	if len(lens) > 0 {
		slices.Sort(lens)
		t.InputTokens = lens[(len(lens)*95+99)/100-1]
	}
	t.Fits = t.InputTokens+ProgramTokens <= opts.ContextTokens
	return t
}

// isLabelSet says whether answers (nil: too many) are a label set: two to
// MaxLabels short one-line answers, each used three times on average.
func isLabelSet(answers map[string]int, n int) bool {
	if answers == nil || len(answers) < 2 || len(answers) > MaxLabels || n < 3*len(answers) {
		return false
	}
	for l := range answers {
		if l == "" || len(l) > 64 || strings.ContainsAny(l, "\n\r") {
			return false
		}
	}
	return true
}

// functionInput is the compiled function's input: the one slot's value, or
// each slot as "name: value" on its own line.
func functionInput(names, values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(names[i] + ": " + v)
	}
	return b.String()
}

// slotNames names each slot after the word its literal text ends with
// before it ("Review: {review}"), else input (one slot) or slot_N.
func slotNames(segs []string) []string {
	names := make([]string, len(segs)-1)
	used := map[string]bool{}
	for i := range names {
		name := ""
		before := strings.TrimRightFunc(segs[i], unicode.IsSpace)
		if w, ok := strings.CutSuffix(before, ":"); ok {
			toks := tokenize(strings.TrimRightFunc(w, unicode.IsSpace))
			if len(toks) > 0 && runeClass([]rune(toks[len(toks)-1])[0]) == 1 {
				name = strings.ToLower(toks[len(toks)-1])
			}
		}
		if name == "" || used[name] {
			name = "input"
			if len(names) > 1 || used[name] {
				name = fmt.Sprintf("slot_%d", i+1)
			}
		}
		used[name] = true
		names[i] = name
	}
	return names
}

// stopWords are left out of suggested names.
var stopWords = map[string]bool{"a": true, "an": true, "the": true, "this": true, "that": true, "of": true, "to": true,
	"is": true, "are": true, "you": true, "your": true, "and": true, "or": true, "for": true, "in": true, "on": true,
	"with": true, "as": true, "be": true, "it": true, "following": true, "please": true, "given": true, "from": true,
	"only": true, "one": true, "word": true, "answer": true, "reply": true, "return": true, "text": true, "input": true}

// suggestName names a template after the first words of its instruction
// (the user message's literal text, else the system message).
func suggestName(t *Template) string {
	var words []string
	for _, src := range []string{strings.Join(t.Segments, " "), t.System} {
		for _, tok := range tokenize(strings.ToLower(src)) {
			if runeClass([]rune(tok)[0]) == 1 && tok[0] < 0x80 && !stopWords[tok] && len(tok) > 1 && !slices.Contains(words, tok) {
				words = append(words, tok)
			}
			if len(words) == 3 {
				return strings.Join(words, "_")
			}
		}
	}
	if len(words) == 0 {
		return fmt.Sprintf("template_%d", t.ID)
	}
	return strings.Join(words, "_")
}

// uniqueName returns name, or name_2, name_3… when taken.
func uniqueName(taken map[string]int, name string) string {
	taken[name]++
	if n := taken[name]; n > 1 {
		return uniqueName(taken, fmt.Sprintf("%s_%d", name, n))
	}
	return name
}

// flagChanges marks pairs of templates of one model where one's calls stop
// where the other's start and they answer alike: the prompt changed.
func flagChanges(ts []*Template, span time.Duration) {
	if span <= 0 {
		return
	}
	slack := span / 20
	for _, a := range ts {
		for _, b := range ts {
			if a == b || a.Model != b.Model || !a.First.Before(b.First) || a.Last.After(b.First.Add(slack)) || !alike(a, b) {
				continue
			}
			when := b.First.Format(time.DateTime)
			a.Stable, b.Stable = false, false
			a.Change = fmt.Sprintf("replaced by %s (template %d) at %s", b.Name, b.ID, when)
			b.Change = fmt.Sprintf("replaces %s (template %d) from %s", a.Name, a.ID, when)
		}
	}
}

// alike says whether two templates look like one function: the same kind
// of answers from overlapping label sets, or much shared instruction text.
func alike(a, b *Template) bool {
	if a.Output != b.Output {
		return false
	}
	if a.Output == OutputLabels {
		var la, lb []string
		for _, l := range a.Labels {
			la = append(la, l.Label)
		}
		for _, l := range b.Labels {
			lb = append(lb, l.Label)
		}
		return jaccard(la, lb) >= 0.5
	}
	return jaccard(words(a.System+" "+strings.Join(a.Segments, " ")), words(b.System+" "+strings.Join(b.Segments, " "))) >= 0.3
}

func words(s string) []string {
	var out []string
	for _, tok := range tokenize(strings.ToLower(s)) {
		if runeClass([]rune(tok)[0]) == 1 {
			out = append(out, tok)
		}
	}
	return out
}

func jaccard(a, b []string) float64 {
	set := map[string]int{}
	for _, x := range a {
		set[x] |= 1
	}
	for _, x := range b {
		set[x] |= 2
	}
	both := 0
	for _, v := range set {
		if v == 3 {
			both++
		}
	}
	if len(set) == 0 {
		return 0
	}
	return float64(both) / float64(len(set))
}

// score ranks what compiles best first: volume (log scale) times
// narrowness, stability, fit and consistency, each in [0, 1].
func score(t *Template) float64 {
	volume := math.Log10(1 + float64(t.Calls))
	if t.CallsPerDay > 0 {
		volume = math.Log10(1 + t.CallsPerDay)
	}
	narrow := 0.15
	switch t.Output {
	case OutputLabels:
		narrow = 1 - 0.4*math.Max(0, float64(len(t.Labels)-8))/float64(MaxLabels-8)
	case OutputJSON:
		narrow = 0.5
		if t.Shapes == 1 {
			narrow = 0.9
		}
	case OutputConstant:
		narrow = 0.2
	}
	stable := 0.6 + 0.4*t.Coverage
	if !t.Stable {
		stable = 0.2
	}
	fit := 1.0
	if !t.Fits {
		fit = 0.1
	}
	return volume * narrow * stable * fit * t.Consistency
}

package eval

import (
	"math"
	"slices"
	"strings"
)

// Report is a scored run. Rates are in [0, 1]; accuracy figures are over
// the Scored cases (those with an expected answer) and use each case's
// Answer, while the invalid rate, latency, tokens and calibration are over
// all calls.
type Report struct {
	N                  int     `json:"n"`
	Scored             int     `json:"scored"`
	Calls              int     `json:"calls"`
	Accuracy           float64 `json:"accuracy"`
	AccuracyNormalized float64 `json:"accuracy_normalized"`
	InvalidRate        float64 `json:"invalid_rate"`
	Errors             int     `json:"errors"` // calls whose runner failed
	// Labels orders Confusion's rows and columns; Labels, Confusion and
	// PerLabel are set only for classification-like sets (see Options.Labels).
	Labels    []string              `json:"labels,omitempty"`
	Confusion [][]int               `json:"confusion"` // [expected][predicted]
	PerLabel  map[string]LabelStats `json:"per_label"`
	PerTag    map[string]TagStats   `json:"per_tag,omitempty"`
	// Latency percentiles are nearest-rank over the calls that answered.
	LatencyMSP50 float64 `json:"latency_ms_p50"`
	LatencyMSP95 float64 `json:"latency_ms_p95"`
	LatencyMSMax float64 `json:"latency_ms_max"`
	Tokens       int     `json:"tokens"` // generated, all calls
	PromptTokens int     `json:"prompt_tokens"`
	TokensMean   float64 `json:"tokens_mean"` // generated per answered call
	// Consistency is the mean of the cases' consistency (only when a case
	// was run more than once).
	Consistency *float64 `json:"consistency,omitempty"`
	// ECE is Calibration's expected calibration error; null when no call
	// with an expected answer had a known confidence.
	ECE         *float64     `json:"ece"`
	Calibration *Calibration `json:"calibration,omitempty"`
	Failing     []Failure    `json:"failing"`
	Results     []Result     `json:"results"`
}

// LabelStats are one label's figures, its precision, recall and F1 as a
// predicted class (0 where undefined: nothing predicted or expected).
type LabelStats struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`   // cases expecting it
	Predicted int     `json:"predicted"` // cases answering it
}

// TagStats are the accuracy figures of the scored cases with one tag.
type TagStats struct {
	N                  int     `json:"n"`
	Accuracy           float64 `json:"accuracy"`
	AccuracyNormalized float64 `json:"accuracy_normalized"`
}

// Failure is a scored case whose answer is not an exact match.
type Failure struct {
	Index    int      `json:"index"`
	Source   string   `json:"source,omitempty"`
	Input    string   `json:"input"`
	Expected string   `json:"expected"`
	Output   string   `json:"output"`
	Tags     []string `json:"tags,omitempty"`
	// NormalizedMatch marks a case that matches once normalized.
	NormalizedMatch bool   `json:"normalized_match"`
	Invalid         bool   `json:"invalid,omitempty"`
	Error           string `json:"error,omitempty"`
}

// Score computes a report from results (as Run recorded them, or read back
// from a saved report): it fills each result's Answer, Correct,
// CorrectNormalized and Consistency, and the report's figures.
func Score(results []Result, opts Options) *Report {
	r := &Report{N: len(results), Results: results, Failing: []Failure{}}
	tags := map[string]*[3]int{} // n, correct, correct normalized
	var latencies []float64
	var points []Point
	var consistency float64
	var answered int
	for i := range results {
		res := &results[i]
		res.score()
		consistency += res.Consistency
		for _, c := range res.Calls {
			r.Calls++
			if c.Error != "" {
				r.Errors++
			} else {
				latencies = append(latencies, c.LatencyMS)
				answered++
			}
			if !c.Valid {
				r.InvalidRate++
			}
			r.Tokens += c.Tokens
			r.PromptTokens += c.PromptTokens
			if c.Error == "" && c.Confidence != nil && res.Case.HasExpected {
				points = append(points, Point{Confidence: *c.Confidence, Correct: normKey(c.Output) == res.Case.expectedKey()})
			}
		}
		if !res.Case.HasExpected {
			continue
		}
		r.Scored++
		r.Accuracy += b2f(res.Correct)
		r.AccuracyNormalized += b2f(res.CorrectNormalized)
		for _, t := range res.Case.Tags {
			if tags[t] == nil {
				tags[t] = new([3]int)
			}
			tags[t][0]++
			tags[t][1] += int(b2f(res.Correct))
			tags[t][2] += int(b2f(res.CorrectNormalized))
		}
		if !res.Correct {
			r.Failing = append(r.Failing, res.failure(i))
		}
	}
	r.Accuracy = ratio(r.Accuracy, r.Scored)
	r.AccuracyNormalized = ratio(r.AccuracyNormalized, r.Scored)
	r.InvalidRate = ratio(r.InvalidRate, r.Calls)
	r.TokensMean = ratio(float64(r.Tokens), answered)
	if len(tags) > 0 {
		r.PerTag = map[string]TagStats{}
		for t, c := range tags {
			r.PerTag[t] = TagStats{N: c[0], Accuracy: ratio(float64(c[1]), c[0]), AccuracyNormalized: ratio(float64(c[2]), c[0])}
		}
	}
	slices.Sort(latencies)
	r.LatencyMSP50, r.LatencyMSP95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
	if len(latencies) > 0 {
		r.LatencyMSMax = latencies[len(latencies)-1]
	}
	if anyRepeated(results) {
		m := ratio(consistency, len(results))
		r.Consistency = &m
	}
	if len(points) > 0 {
		c := Calibrate(points, opts.Bins)
		if opts.TargetAccuracy > 0 {
			c.SetTarget(opts.TargetAccuracy)
		}
		r.Calibration, r.ECE = &c, &c.ECE
	}
	r.classify(opts)
	return r
}

func anyRepeated(results []Result) bool {
	return slices.ContainsFunc(results, func(r Result) bool { return len(r.Calls) > 1 })
}

// score sets the result's Answer (the modal output), correctness and
// consistency from its calls.
func (res *Result) score() {
	counts := map[string]int{}
	first := map[string]string{} // each key's first output, as written
	best, bestN := "", 0
	for _, c := range res.Calls {
		if c.Error != "" {
			continue
		}
		k := normKey(c.Output)
		if counts[k]++; counts[k] == 1 {
			first[k] = c.Output
		}
		if counts[k] > bestN {
			best, bestN = first[k], counts[k]
		}
	}
	res.Answer = best
	res.Consistency = ratio(float64(bestN), len(res.Calls))
	res.Correct = res.Case.HasExpected && bestN > 0 && res.Case.exactMatch(best)
	res.CorrectNormalized = res.Case.HasExpected && bestN > 0 && normKey(best) == res.Case.expectedKey()
}

func (res *Result) failure(i int) Failure {
	f := Failure{Index: i, Source: res.Case.Source, Input: res.Case.Input, Expected: res.Case.Expected,
		Output: res.Answer, Tags: res.Case.Tags, NormalizedMatch: res.CorrectNormalized}
	for _, c := range res.Calls {
		f.Invalid = f.Invalid || !c.Valid
		if f.Error == "" {
			f.Error = c.Error
		}
	}
	return f
}

// classify fills Labels, Confusion and PerLabel for a classification-like set.
func (r *Report) classify(opts Options) {
	display := map[string]string{} // normalized key → label as first written
	var order []string
	add := func(s string, json bool) string {
		k := normKey(s)
		if json {
			k = "json:" + s
		}
		if _, ok := display[k]; !ok {
			display[k] = strings.TrimSpace(s)
			order = append(order, k)
		}
		return k
	}
	for _, l := range opts.Labels {
		add(l, false)
	}
	known := len(order)
	maxLabels := opts.MaxLabels
	if maxLabels <= 0 {
		maxLabels = DefaultMaxLabels
	}
	type pair struct{ exp, got string }
	var pairs []pair
	for _, res := range r.Results {
		if !res.Case.HasExpected {
			continue
		}
		if len(opts.Labels) == 0 && !labelLike(res.Case) {
			return
		}
		pairs = append(pairs, pair{exp: add(res.Case.Expected, res.Case.ExpectedJSON)})
	}
	if len(pairs) == 0 || (len(opts.Labels) == 0 && len(order) > maxLabels) {
		return
	}
	i := 0
	for _, res := range r.Results {
		if res.Case.HasExpected {
			pairs[i].got = add(res.Answer, false)
			i++
		}
	}
	// Labels the program declares keep their order; the rest sort by name.
	rest := order[known:]
	slices.SortStableFunc(rest, func(a, b string) int { return strings.Compare(display[a], display[b]) })
	index := map[string]int{}
	for i, k := range order {
		index[k] = i
		r.Labels = append(r.Labels, display[k])
	}
	r.Confusion = make([][]int, len(order))
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, len(order))
	}
	for _, p := range pairs {
		r.Confusion[index[p.exp]][index[p.got]]++
	}
	r.PerLabel = perLabel(r.Labels, r.Confusion)
}

// perLabel derives each label's precision, recall and F1 from a confusion
// matrix ([expected][predicted]).
func perLabel(labels []string, confusion [][]int) map[string]LabelStats {
	m := map[string]LabelStats{}
	for i, l := range labels {
		var s LabelStats
		for j := range labels {
			s.Support += confusion[i][j]
			s.Predicted += confusion[j][i]
		}
		tp := confusion[i][i]
		s.Precision, s.Recall = ratio(float64(tp), s.Predicted), ratio(float64(tp), s.Support)
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		m[l] = s
	}
	return m
}

// labelLike reports whether a case's expected answer looks like a class
// label: one short line, not a JSON object or array.
func labelLike(c Case) bool {
	e := c.Expected
	return len(e) <= 64 && !strings.ContainsAny(e, "\n{[")
}

// percentile is the nearest-rank percentile of sorted values (0 if none).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ratio(num float64, den int) float64 {
	if den == 0 {
		return 0
	}
	return num / float64(den)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// CostPer1000 is what 1,000 calls like these cost at the given prices per
// million prompt and generated tokens: for a hosted baseline, the cost a
// local program avoids.
func (r *Report) CostPer1000(promptPerMillion, generatedPerMillion float64) float64 {
	answered := r.Calls - r.Errors
	return 1000 * (ratio(float64(r.PromptTokens), answered)*promptPerMillion +
		ratio(float64(r.Tokens), answered)*generatedPerMillion) / 1e6
}

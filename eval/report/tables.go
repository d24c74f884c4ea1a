package report

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/paw-dev/paw/eval"
)

type labelRow struct {
	Label string
	eval.LabelStats
}

// labelRows are the per-label figures in the confusion matrix's order.
func labelRows(r *eval.Report) []labelRow {
	rows := make([]labelRow, 0, len(r.Labels))
	for _, l := range r.Labels {
		rows = append(rows, labelRow{Label: l, LabelStats: r.PerLabel[l]})
	}
	return rows
}

type tagRow struct {
	Tag string
	eval.TagStats
}

// tagRows are the per-tag figures, weakest first.
func tagRows(r *eval.Report) []tagRow {
	return sortedRows(r.PerTag, func(t string, s eval.TagStats) tagRow { return tagRow{Tag: t, TagStats: s} },
		func(a, b tagRow) int { return cmp.Or(cmp.Compare(a.Accuracy, b.Accuracy), cmp.Compare(a.Tag, b.Tag)) })
}

type shiftRow struct {
	Label string
	eval.Shift
}

// shiftRows are the drift's per-label counts, biggest change first.
func shiftRows(d *eval.Drift) []shiftRow {
	return sortedRows(d.LabelShift, func(l string, s eval.Shift) shiftRow { return shiftRow{Label: l, Shift: s} },
		func(a, b shiftRow) int {
			return cmp.Or(cmp.Compare(abs(b.Delta), abs(a.Delta)), cmp.Compare(a.Label, b.Label))
		})
}

// sortedRows makes one table row per map entry, in order.
func sortedRows[V, R any](m map[string]V, row func(string, V) R, order func(a, b R) int) []R {
	rows := make([]R, 0, len(m))
	for k, v := range m {
		rows = append(rows, row(k, v))
	}
	slices.SortFunc(rows, order)
	return rows
}

func abs(n int) int { return max(n, -n) }

// comparison is the program against its hosted baseline.
type comparison struct {
	Rows []compareRow
	// Agreement is the share of cases both answer alike (normalized).
	Agreement float64
	Disagree  int
	// Cost is the hosted model's cost per 1,000 calls, which a local
	// program avoids; CostFallback is what it still avoids when calls
	// below the chosen threshold go to the hosted model (HostedShare).
	Cost, CostFallback string
	HostedShare        float64
	Threshold          float64
	HasFallback        bool
}

type compareRow struct {
	Metric, Program, Baseline string
	Better                    int // 1: program, 2: baseline, 0: neither
}

func compare(p Page) (*comparison, error) {
	r, b := p.Report, p.Baseline
	d, err := eval.Compare(b, r)
	if err != nil {
		return nil, fmt.Errorf("report: baseline: %w", err)
	}
	c := &comparison{Agreement: d.Agreement, Disagree: len(d.Flips), Rows: []compareRow{
		higher("accuracy", r.Accuracy, b.Accuracy, pct),
		higher("accuracy (normalized)", r.AccuracyNormalized, b.AccuracyNormalized, pct),
		lower("invalid outputs", r.InvalidRate, b.InvalidRate, pct),
		lower("latency p50", r.LatencyMSP50, b.LatencyMSP50, ms),
		lower("latency p95", r.LatencyMSP95, b.LatencyMSP95, ms),
		lower("generated tokens per call", r.TokensMean, b.TokensMean, num),
		lower("failed calls", float64(r.Errors), float64(b.Errors), num),
	}}
	if pr := p.Price; pr != nil {
		cur := cmp.Or(pr.Currency, "$")
		cost := b.CostPer1000(pr.PromptPerMillion, pr.GeneratedPerMillion)
		c.Cost = money(cur, cost)
		if cal := r.Calibration; cal != nil && cal.Threshold != nil {
			c.HasFallback, c.Threshold, c.HostedShare = true, cal.Threshold.Threshold, cal.Threshold.HostedShare
			c.CostFallback = money(cur, cost*(1-cal.Threshold.HostedShare))
		}
	}
	return c, nil
}

func higher(metric string, prog, base float64, f func(float64) string) compareRow {
	return compareRow{Metric: metric, Program: f(prog), Baseline: f(base), Better: better(prog, base)}
}

func lower(metric string, prog, base float64, f func(float64) string) compareRow {
	return compareRow{Metric: metric, Program: f(prog), Baseline: f(base), Better: better(-prog, -base)}
}

func better(prog, base float64) int {
	switch {
	case prog > base:
		return 1
	case base > prog:
		return 2
	}
	return 0
}

func money(currency string, v float64) string {
	if v < 0.1 && v > 0 {
		return fmt.Sprintf("%s%.4f", currency, v)
	}
	return fmt.Sprintf("%s%.2f", currency, v)
}

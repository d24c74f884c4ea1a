// Package report renders an eval report as one self-contained HTML page
// for people: summary figures, the confusion-matrix heatmap, the
// reliability diagram, the fallback threshold curve, a latency histogram,
// the failing cases and, when given, the hosted baseline side by side and
// the drift between two runs. Charts are inline SVG; the page loads
// nothing (its Content-Security-Policy forbids it) and runs no script.
package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/internal/fsutil"
)

// ErrNoReport is returned for a Page without a Report.
var ErrNoReport = errors.New("report: page has no report")

// MaxRows caps the rows of the failing-cases and flips tables; the JSON
// report has them all.
const MaxRows = 500

// MaxCellRunes caps the text shown of one input or output in a table.
const MaxCellRunes = 600

// Page is what one HTML page shows. Only Report is required.
type Page struct {
	Title string // default "paw test report"
	// Name names the program (a ref such as "ticket-router@v3"); default "program".
	Name   string
	Report *eval.Report
	// Baseline, when set, is the hosted model scored on the same cases
	// (eval.Run with upstream.Runner), shown side by side.
	Baseline     *eval.Report
	BaselineName string // default "hosted model"
	// Price, when set with a Baseline, prices the hosted calls so the page
	// shows the cost a local program avoids.
	Price *Price
	// Drift, when set, is shown with every flipped case; OldName and
	// NewName name its sides (default "old" and "new").
	Drift            *eval.Drift
	OldName, NewName string
	// Generated, when not zero, is shown as the report's time.
	Generated time.Time
}

// Price is the hosted model's price in currency units per million tokens.
type Price struct {
	PromptPerMillion    float64
	GeneratedPerMillion float64
	Currency            string // symbol shown before amounts; default "$"
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"pct": pct, "ms": ms, "num": num, "f3": f3, "cut": cut, "n1": n1, "label": labelText,
	"deref": func(f *float64) float64 { return *f },
}).Parse(pageSource))

// Write renders p as HTML to w. The page is rendered in full before the
// first byte is written, so a failure writes nothing.
func Write(w io.Writer, p Page) error {
	v, err := newView(p)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	_, err = buf.WriteTo(w)
	return err
}

// WriteFile writes p's page to path atomically: readers see the old file
// or the whole new page, never part of it.
func WriteFile(path string, p Page) error {
	if err := fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error { return Write(w, p) }); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

// view is the template's data: the page plus what is derived from it.
type view struct {
	Page
	When        string // Generated, formatted
	Heatmap     *chart
	BaseHeatmap *chart
	PerLabel    []labelRow
	PerTag      []tagRow
	Reliability *chart
	Curve       *chart
	Latency     *chart // nil when no call answered
	Compare     *comparison
	Flips       []eval.Flip
	FlipsMore   int
	Shift       []shiftRow
	Failing     []eval.Failure
	FailingMore int
}

func newView(p Page) (*view, error) {
	if p.Report == nil {
		return nil, ErrNoReport
	}
	p.Title, p.Name = cmp.Or(p.Title, "paw test report"), cmp.Or(p.Name, "program")
	p.BaselineName = cmp.Or(p.BaselineName, "hosted model")
	p.OldName, p.NewName = cmp.Or(p.OldName, "old"), cmp.Or(p.NewName, "new")
	r := p.Report
	v := &view{Page: p, PerLabel: labelRows(r), PerTag: tagRows(r)}
	if !p.Generated.IsZero() {
		v.When = p.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	if len(r.Labels) > 0 {
		h := heatmap(r.Labels, r.Confusion)
		v.Heatmap = &h
	}
	if c := r.Calibration; c != nil {
		rel, curve := reliability(c), thresholdCurve(c)
		v.Reliability, v.Curve = &rel, &curve
	}
	series := [][]float64{latencies(r)}
	if b := p.Baseline; b != nil {
		c, err := compare(p)
		if err != nil {
			return nil, err
		}
		v.Compare = c
		series = append(series, latencies(b))
		if len(b.Labels) > 0 {
			h := heatmap(b.Labels, b.Confusion)
			v.BaseHeatmap = &h
		}
	}
	if len(series[0]) > 0 {
		h := latencyHistogram(series)
		v.Latency = &h
	}
	if d := p.Drift; d != nil {
		v.Flips, v.FlipsMore = capRows(d.Flips)
		v.Shift = shiftRows(d)
	}
	v.Failing, v.FailingMore = capRows(r.Failing)
	return v, nil
}

func capRows[T any](rows []T) ([]T, int) {
	if len(rows) > MaxRows {
		return rows[:MaxRows], len(rows) - MaxRows
	}
	return rows, 0
}

// latencies are the answered calls' latencies in milliseconds.
func latencies(r *eval.Report) []float64 {
	var ls []float64
	for _, res := range r.Results {
		for _, c := range res.Calls {
			if c.Error == "" {
				ls = append(ls, c.LatencyMS)
			}
		}
	}
	return ls
}

// pct formats a rate as a percentage.
func pct(f float64) string {
	switch {
	case f == 0 || f == 1:
		return fmt.Sprintf("%.0f%%", f*100)
	case f > 0.999 || f < 0.001:
		return fmt.Sprintf("%.2f%%", f*100)
	}
	return fmt.Sprintf("%.1f%%", f*100)
}

// ms formats a latency in milliseconds.
func ms(f float64) string {
	switch {
	case f >= 10000:
		return fmt.Sprintf("%.0f s", f/1000)
	case f >= 1000:
		return fmt.Sprintf("%.1f s", f/1000)
	case f >= 10 || f == 0:
		return fmt.Sprintf("%.0f ms", f)
	case f >= 1:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.2f ms", f)
}

// num formats a count or mean with at most one decimal.
func num(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

func f3(f float64) string { return fmt.Sprintf("%.3f", f) }

// n1 formats an SVG coordinate to 0.1 px.
func n1(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// cut shortens a table cell's text to MaxCellRunes, saying how much was left out.
func cut(s string) string {
	r := []rune(s)
	if len(r) <= MaxCellRunes {
		return s
	}
	return string(r[:MaxCellRunes]) + fmt.Sprintf("… (%d more characters)", len(r)-MaxCellRunes)
}

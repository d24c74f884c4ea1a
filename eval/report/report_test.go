package report_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/eval/report"
)

func render(t *testing.T, p report.Page) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// svgs returns the inline SVG drawings whose aria-label is label, in order.
func svgs(page, label string) []string {
	re := regexp.MustCompile(`(?s)<svg [^>]*aria-label="` + regexp.QuoteMeta(label) + `".*?</svg>`)
	return re.FindAllString(page, -1)
}

// shape is one <rect>'s attributes.
type shape map[string]string

var (
	rectRe = regexp.MustCompile(`<rect ([^>]*)>`)
	attrRe = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

// rects returns the <rect>s of svg whose class list contains class.
func rects(svg, class string) []shape {
	var out []shape
	for _, m := range rectRe.FindAllStringSubmatch(svg, -1) {
		s := shape{}
		for _, a := range attrRe.FindAllStringSubmatch(m[1], -1) {
			s[a[1]] = a[2]
		}
		if strings.Contains(" "+s["class"]+" ", " "+class+" ") {
			out = append(out, s)
		}
	}
	return out
}

func (s shape) num(t *testing.T, attr string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s[attr], 64)
	if err != nil {
		t.Fatalf("rect %v: %s: %v", s, attr, err)
	}
	return f
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

// TestPageSections: the fixture's page has every section, with the
// report's own figures in them.
func TestPageSections(t *testing.T) {
	p := fixturePage()
	page := render(t, p)
	r, b := p.Report, p.Baseline
	for _, id := range []string{"summary", "baseline", "confusion", "per-label", "calibration", "latency", "tags", "drift", "flips", "failing"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("no section %q", id)
		}
	}
	agree, err := eval.Compare(b, r)
	if err != nil {
		t.Fatal(err)
	}
	cost := b.CostPer1000(p.Price.PromptPerMillion, p.Price.GeneratedPerMillion)
	th := r.Calibration.Threshold
	for _, want := range []string{
		"<title>ticket-router v3 · test report</title>",
		pct(r.Accuracy), pct(b.Accuracy),
		fmt.Sprintf("agree on %s of cases (%d differ)", pct(agree.Agreement), len(agree.Flips)),
		fmt.Sprintf("$%.2f all local · $%.2f with fallback below %.3f (%s hosted)", cost, cost*(1-th.HostedShare), th.Threshold, pct(th.HostedShare)),
		fmt.Sprintf("Reliability · ECE %.3f", *r.ECE),
		fmt.Sprintf("threshold %.3g", th.Threshold),
		fmt.Sprintf("%d of %d scored cases", len(r.Failing), r.Scored),
		fmt.Sprintf("%s of %d cases agree; %d flipped", pct(p.Drift.Agreement), p.Drift.N, len(p.Drift.Flips)),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	failing := section(t, page, "failing")
	if got := strings.Count(failing, "<tr>") - 1; got != len(r.Failing) {
		t.Errorf("failing table has %d rows, want %d", got, len(r.Failing))
	}
	for _, f := range r.Failing {
		if !strings.Contains(failing, ">"+f.Source+"<") {
			t.Errorf("failing table lacks case %s", f.Source)
		}
	}
	if got := strings.Count(section(t, page, "flips"), "<tr>") - 1; got != len(p.Drift.Flips) {
		t.Errorf("flips table has %d rows, want %d", got, len(p.Drift.Flips))
	}
}

// section is the page from the element with id up to the next section.
func section(t *testing.T, page, id string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `id="`+id+`"`)
	if !ok {
		t.Fatalf("no element %q", id)
	}
	if i := strings.Index(rest, "<section"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestHeatmapCells: one cell per (expected, answered) pair, carrying the
// confusion matrix's counts row by row, for the program and the baseline.
func TestHeatmapCells(t *testing.T) {
	p := fixturePage()
	maps := svgs(render(t, p), "confusion matrix")
	if len(maps) != 2 {
		t.Fatalf("%d confusion heatmaps, want 2 (program and baseline)", len(maps))
	}
	for i, r := range []*eval.Report{p.Report, p.Baseline} {
		cells := rects(maps[i], "cell")
		if len(cells) != len(r.Labels)*len(r.Labels) {
			t.Errorf("heatmap %d: %d cells for %d labels", i, len(cells), len(r.Labels))
			continue
		}
		var got, want []string
		for _, c := range cells {
			got = append(got, c["data-value"])
		}
		for _, row := range r.Confusion {
			for _, n := range row {
				want = append(want, strconv.Itoa(n))
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("heatmap %d counts (-confusion +cells):\n%s", i, diff)
		}
	}
}

// TestReliabilityBars: one bar per non-empty bin, as tall as its accuracy.
func TestReliabilityBars(t *testing.T) {
	p := fixturePage()
	d := svgs(render(t, p), "reliability diagram")
	if len(d) != 1 {
		t.Fatalf("%d reliability diagrams", len(d))
	}
	bars := rects(d[0], "bar")
	var bins []eval.Bin
	for _, b := range p.Report.Calibration.Bins {
		if b.N > 0 {
			bins = append(bins, b)
		}
	}
	if len(bars) != len(bins) {
		t.Fatalf("%d bars for %d non-empty bins", len(bars), len(bins))
	}
	const plotHeight = 340 - 16 - 44 // the chart's height less its margins
	for i, b := range bins {
		if h := bars[i].num(t, "height"); math.Abs(h-b.Accuracy*plotHeight) > 0.1 {
			t.Errorf("bin %.1f–%.1f: bar height %g, want %g (accuracy %g)", b.Lo, b.Hi, h, b.Accuracy*plotHeight, b.Accuracy)
		}
	}
}

// TestLatencyBars: the histogram's bars add up to each side's answered calls.
func TestLatencyBars(t *testing.T) {
	p := fixturePage()
	h := svgs(render(t, p), "latency histogram")
	if len(h) != 1 {
		t.Fatalf("%d latency histograms", len(h))
	}
	for k, r := range []*eval.Report{p.Report, p.Baseline} {
		sum := 0
		for _, bar := range rects(h[0], fmt.Sprintf("series-%d", k)) {
			sum += int(bar.num(t, "data-value"))
		}
		if want := r.Calls - r.Errors; sum != want {
			t.Errorf("series %d: bars hold %d calls, want %d", k, sum, want)
		}
	}
}

const xss = `<script>alert(1)</script>`

// hostilePage puts markup in every string a user controls.
func hostilePage() report.Page {
	attr := `"><img src=x onerror=alert(1)>`
	cases := []eval.Case{
		{Input: xss, Expected: xss, HasExpected: true, Tags: []string{xss}, Source: xss},
		{Input: attr, Expected: "ok", HasExpected: true, Tags: []string{attr}, Source: attr},
		{Input: "fine", Expected: "ok", HasExpected: true},
	}
	conf := 0.7
	mk := func(outputs ...string) []eval.Result {
		rs := make([]eval.Result, len(cases))
		for i, c := range cases {
			rs[i] = eval.Result{Case: c, Calls: []eval.Call{{Output: outputs[i], Valid: true, Confidence: &conf, LatencyMS: 10}}}
		}
		rs[2].Calls[0] = eval.Call{Error: xss, LatencyMS: 3}
		return rs
	}
	r := eval.Score(mk(attr, xss, ""), eval.Options{TargetAccuracy: 0.9})
	old := eval.Score(mk(xss, attr, ""), eval.Options{})
	d, err := eval.Compare(old, r)
	if err != nil {
		panic(err)
	}
	return report.Page{Title: xss, Name: xss, Report: r, Baseline: old, BaselineName: attr, Drift: d, OldName: xss, NewName: attr,
		Price: &report.Price{PromptPerMillion: 1, GeneratedPerMillion: 1, Currency: xss}}
}

// TestEscaping: user strings show as text, never as markup.
func TestEscaping(t *testing.T) {
	p := hostilePage()
	if len(p.Report.Labels) == 0 || len(p.Report.Failing) == 0 || len(p.Drift.Flips) == 0 {
		t.Fatal("the hostile page should have labels, failing cases and flips")
	}
	page := render(t, p)
	for _, raw := range []string{"<script", "<img", xss} {
		if strings.Contains(strings.ToLower(page), raw) {
			t.Errorf("page contains %q raw", raw)
		}
	}
	if n := strings.Count(page, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 10 {
		t.Errorf("the hostile string shows escaped %d times; want it in the title, labels, tables and charts", n)
	}
}

// TestNoExternalReferences: the page fetches nothing: no attribute that
// loads a resource, no CSS url() or @import, and a policy forbidding it.
func TestNoExternalReferences(t *testing.T) {
	loads := regexp.MustCompile(`(?i)<[^>]*\s(src|href|srcset|xlink:href|action|formaction|poster|background)\s*=`)
	for name, p := range map[string]report.Page{"fixture": fixturePage(), "hostile": hostilePage()} {
		page := render(t, p)
		if m := loads.FindString(page); m != "" {
			t.Errorf("%s: a tag loads something: %s", name, m)
		}
		for _, s := range []string{"url(", "@import", "<link", "<iframe", "<object", "<embed", "<script"} {
			if strings.Contains(strings.ToLower(page), s) {
				t.Errorf("%s: page contains %q", name, s)
			}
		}
		if !strings.Contains(page, `content="default-src 'none'; style-src 'unsafe-inline'"`) {
			t.Errorf("%s: no Content-Security-Policy forbidding fetches", name)
		}
	}
	if page := render(t, fixturePage()); strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the fixture page names a URL")
	}
}

// TestMinimal: a free-text report without confidence or baseline still
// renders, saying what is missing.
func TestMinimal(t *testing.T) {
	r := eval.Score([]eval.Result{{Case: eval.Case{Input: "x", Expected: "a long answer\nover two lines", HasExpected: true},
		Calls: []eval.Call{{Output: "a long answer\nover two lines", Valid: true, LatencyMS: 12}}}}, eval.Options{})
	page := render(t, report.Page{Report: r})
	for _, want := range []string{"<title>paw test report</title>", "there is no calibration", "None: every scored case matched exactly."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, absent := range []string{`id="confusion"`, `id="baseline"`, `id="drift"`, `id="tags"`} {
		if strings.Contains(page, absent) {
			t.Errorf("page has %s", absent)
		}
	}
	failed := eval.Score([]eval.Result{{Case: eval.Case{Input: "x"}, Calls: []eval.Call{{Error: "boom"}}}}, eval.Options{})
	if page := render(t, report.Page{Report: failed}); !strings.Contains(page, "No call answered.") || len(svgs(page, "latency histogram")) != 0 {
		t.Error("a run without answers should say so instead of drawing a latency histogram")
	}
}

// TestLongTables: the failing cases and flips tables stop at MaxRows and
// say how many more there are.
func TestLongTables(t *testing.T) {
	n := report.MaxRows + 3
	mk := func(out string) *eval.Report {
		rs := make([]eval.Result, n)
		for i := range rs {
			rs[i] = eval.Result{Case: eval.Case{Input: strconv.Itoa(i), Expected: "a long expected answer\nover two lines", HasExpected: true},
				Calls: []eval.Call{{Output: out, Valid: true}}}
		}
		return eval.Score(rs, eval.Options{})
	}
	old, next := mk("x"), mk("y")
	d, err := eval.Compare(old, next)
	if err != nil {
		t.Fatal(err)
	}
	page := render(t, report.Page{Report: next, Drift: d})
	for _, id := range []string{"failing", "flips"} {
		if got := strings.Count(section(t, page, id), "<tr>") - 1; got != report.MaxRows {
			t.Errorf("%s: %d rows, want %d", id, got, report.MaxRows)
		}
	}
	for _, want := range []string{"… and 3 more in the JSON report.", "… and 3 more flips in the JSON report."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestWriteErrors: a page that cannot be rendered writes nothing, and
// WriteFile leaves the file it would replace as it was.
func TestWriteErrors(t *testing.T) {
	p := fixturePage()
	other := eval.Score(p.Baseline.Results[1:], eval.Options{})
	for name, tc := range map[string]struct {
		page report.Page
		want error
	}{
		"no report":        {report.Page{}, report.ErrNoReport},
		"another baseline": {report.Page{Report: p.Report, Baseline: other}, eval.ErrMismatch},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.Write(&buf, tc.page); !errors.Is(err, tc.want) {
				t.Errorf("Write: %v, want %v", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes", buf.Len())
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "report.html")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := report.WriteFile(path, tc.page); !errors.Is(err, tc.want) {
				t.Errorf("WriteFile: %v, want %v", err, tc.want)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("file is now %q", b)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("%d files left in the directory, want 1", len(entries))
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "report.html")
	if err := report.WriteFile(path, fixturePage()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := render(t, fixturePage()); string(b) != want {
		t.Error("the file differs from Write's page")
	}
}

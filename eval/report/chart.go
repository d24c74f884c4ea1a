package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paw-dev/paw/eval"
)

// chart is one inline SVG drawing as plain shapes; the page template
// renders every field through html/template, so user strings (labels) are
// escaped wherever they land. Classes are styled by the page's CSS.
type chart struct {
	W, H  float64
	Label string // aria-label
	Rects []rect
	Lines []line
	Paths []path
	Texts []text
}

type rect struct {
	X, Y, W, H float64
	Class      string
	Fill       string // overrides the class's fill when set
	Title      string // tooltip
	// Value is the figure the shape stands for (data-value), so tests can
	// check geometry against numbers.
	Value string
}

type line struct {
	X1, Y1, X2, Y2 float64
	Class          string
}

type path struct {
	D     string
	Class string
}

type text struct {
	X, Y   float64
	Text   string
	Anchor string // start, middle, end
	Class  string
	Rotate float64
	Title  string
}

// plot maps data coordinates into a W×H drawing with margins.
type plot struct {
	W, H                     float64
	Left, Right, Top, Bottom float64
}

func (p plot) x(f float64) float64 { return p.Left + f*(p.W-p.Left-p.Right) }
func (p plot) y(f float64) float64 { return p.H - p.Bottom - f*(p.H-p.Top-p.Bottom) }
func (p plot) innerH() float64     { return p.H - p.Top - p.Bottom }

// unitAxes draws a [0,1]×[0,1] frame with gridlines every 20%.
func (p plot) unitAxes(c *chart, xTitle, yTitle string) {
	for i := 0; i <= 5; i++ {
		f := float64(i) / 5
		c.Lines = append(c.Lines, line{X1: p.x(0), Y1: p.y(f), X2: p.x(1), Y2: p.y(f), Class: "grid"})
		c.Texts = append(c.Texts,
			text{X: p.x(0) - 6, Y: p.y(f) + 4, Text: fmt.Sprintf("%d%%", i*20), Anchor: "end", Class: "tick"},
			text{X: p.x(f), Y: p.y(0) + 16, Text: strconv.FormatFloat(f, 'f', 1, 64), Anchor: "middle", Class: "tick"})
	}
	p.titles(c, xTitle, yTitle)
}

func (p plot) titles(c *chart, xTitle, yTitle string) {
	c.Lines = append(c.Lines, line{X1: p.x(0), Y1: p.y(0), X2: p.x(1), Y2: p.y(0), Class: "axis"})
	c.Texts = append(c.Texts,
		text{X: p.x(0.5), Y: p.H - 6, Text: xTitle, Anchor: "middle", Class: "axis-title"},
		text{X: 14, Y: p.y(0.5), Text: yTitle, Anchor: "middle", Class: "axis-title", Rotate: -90})
}

// heatmap draws a confusion matrix ([expected][predicted]): one cell per
// pair, shaded by its share of the row (the expected label's cases), blue
// on the diagonal and red off it.
func heatmap(labels []string, confusion [][]int) chart {
	n := len(labels)
	cell := math.Max(28, math.Min(64, 440/float64(n)))
	const left, top = 120.0, 110.0
	c := chart{W: left + cell*float64(n) + 12, H: top + cell*float64(n) + 12, Label: "confusion matrix"}
	rowSum := make([]int, n)
	for i := range n {
		for j := range n {
			rowSum[i] += confusion[i][j]
		}
	}
	for i := range n {
		y := top + cell*float64(i)
		c.Texts = append(c.Texts, text{X: left - 8, Y: y + cell/2 + 4, Text: clip(labelText(labels[i]), 16), Anchor: "end", Class: "label", Title: labelText(labels[i])})
		for j := range n {
			x := left + cell*float64(j)
			count := confusion[i][j]
			share := 0.0
			if rowSum[i] > 0 {
				share = float64(count) / float64(rowSum[i])
			}
			c.Rects = append(c.Rects, rect{X: x, Y: y, W: cell - 2, H: cell - 2, Class: "cell", Fill: heat(share, i == j),
				Title: fmt.Sprintf("expected %s, answered %s: %d (%s of the row)", labelText(labels[i]), labelText(labels[j]), count, pct(share)),
				Value: strconv.Itoa(count)})
			if count > 0 {
				cls := "cell-text"
				if share > 0.5 {
					cls = "cell-text light"
				}
				c.Texts = append(c.Texts, text{X: x + cell/2 - 1, Y: y + cell/2 + 4, Text: strconv.Itoa(count), Anchor: "middle", Class: cls})
			}
		}
	}
	for j := range n {
		x := left + cell*float64(j) + cell/2
		c.Texts = append(c.Texts, text{X: x, Y: top - 8, Text: clip(labelText(labels[j]), 16), Anchor: "start", Class: "label", Rotate: -40, Title: labelText(labels[j])})
	}
	c.Texts = append(c.Texts,
		text{X: left + cell*float64(n)/2, Y: 14, Text: "answered", Anchor: "middle", Class: "axis-title"},
		text{X: 14, Y: top + cell*float64(n)/2, Text: "expected", Anchor: "middle", Class: "axis-title", Rotate: -90})
	return c
}

// heat is a cell colour: white shading to blue (right) or red (wrong).
func heat(share float64, diagonal bool) string {
	if share == 0 {
		return "#f4f5f7"
	}
	to := [3]float64{200, 55, 45}
	if diagonal {
		to = [3]float64{29, 95, 168}
	}
	from := [3]float64{250, 246, 244}
	if diagonal {
		from = [3]float64{236, 243, 251}
	}
	t := 0.15 + 0.85*share
	var rgb [3]int
	for k := range rgb {
		rgb[k] = int(math.Round(from[k] + (to[k]-from[k])*t))
	}
	return fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2])
}

// reliability draws the reliability diagram: per bin, the accuracy of its
// calls as a bar, the gap to their mean confidence, and the diagonal that a
// calibrated model would follow.
func reliability(cal *eval.Calibration) chart {
	p := plot{W: 480, H: 340, Left: 52, Right: 14, Top: 16, Bottom: 44}
	c := chart{W: p.W, H: p.H, Label: "reliability diagram"}
	p.unitAxes(&c, "confidence", "accuracy")
	for _, b := range cal.Bins {
		if b.N == 0 {
			continue
		}
		x, w := p.x(b.Lo)+1, p.x(b.Hi)-p.x(b.Lo)-2
		// The gap goes under the bar: above it when overconfident, and
		// hidden inside it otherwise, where the confidence mark shows it.
		lo, hi := math.Min(b.Accuracy, b.Confidence), math.Max(b.Accuracy, b.Confidence)
		if hi > lo {
			c.Rects = append(c.Rects, rect{X: x, Y: p.y(hi), W: w, H: (hi - lo) * p.innerH(), Class: "gap"})
		}
		c.Rects = append(c.Rects, rect{X: x, Y: p.y(b.Accuracy), W: w, H: b.Accuracy * p.innerH(), Class: "bar soft",
			Title: fmt.Sprintf("confidence %.2f–%.2f: %d calls, accuracy %s, mean confidence %.3f", b.Lo, b.Hi, b.N, pct(b.Accuracy), b.Confidence),
			Value: strconv.FormatFloat(b.Accuracy, 'g', -1, 64)})
		// Paths are drawn over the bars (lines go under).
		c.Paths = append(c.Paths, path{D: fmt.Sprintf("M%s %s H%s", n1(x), n1(p.y(b.Confidence)), n1(x+w)), Class: "confidence"})
		c.Texts = append(c.Texts, text{X: x + w/2, Y: p.y(hi) - 4, Text: strconv.Itoa(b.N), Anchor: "middle", Class: "count"})
	}
	c.Paths = append(c.Paths, path{D: fmt.Sprintf("M%s %s L%s %s", n1(p.x(0)), n1(p.y(0)), n1(p.x(1)), n1(p.y(1))), Class: "diagonal"})
	return c
}

// thresholdCurve draws, against the confidence threshold, the accuracy of
// the calls kept local and the share sent to the hosted model, with the
// target accuracy and the chosen threshold marked.
func thresholdCurve(cal *eval.Calibration) chart {
	p := plot{W: 480, H: 340, Left: 52, Right: 14, Top: 16, Bottom: 44}
	c := chart{W: p.W, H: p.H, Label: "fallback threshold curve"}
	p.unitAxes(&c, "confidence threshold (calls below it go to the hosted model)", "")
	// Between two distinct confidences the kept calls are those of the
	// higher one, so each point holds from the previous point up to itself.
	var acc, hosted strings.Builder
	prev := 0.0
	for i, pt := range cal.Curve {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&acc, "%s%.1f %.1f L%.1f %.1f ", cmd, p.x(prev), p.y(pt.LocalAccuracy), p.x(pt.Threshold), p.y(pt.LocalAccuracy))
		fmt.Fprintf(&hosted, "%s%.1f %.1f L%.1f %.1f ", cmd, p.x(prev), p.y(pt.HostedShare), p.x(pt.Threshold), p.y(pt.HostedShare))
		prev = pt.Threshold
	}
	c.Paths = append(c.Paths, path{D: strings.TrimSpace(acc.String()), Class: "series-acc"}, path{D: strings.TrimSpace(hosted.String()), Class: "series-hosted"})
	if cal.Target > 0 {
		c.Lines = append(c.Lines, line{X1: p.x(0), Y1: p.y(cal.Target), X2: p.x(1), Y2: p.y(cal.Target), Class: "target"})
		c.Texts = append(c.Texts, text{X: p.x(0) + 4, Y: p.y(cal.Target) - 5, Text: "target " + pct(cal.Target), Class: "note"})
	}
	if t := cal.Threshold; t != nil {
		x := p.x(t.Threshold)
		c.Lines = append(c.Lines, line{X1: x, Y1: p.y(0), X2: x, Y2: p.y(1), Class: "chosen"})
		anchor, dx := "start", 5.0
		if t.Threshold > 0.6 {
			anchor, dx = "end", -5
		}
		c.Texts = append(c.Texts,
			text{X: x + dx, Y: p.y(0.5) - 8, Text: fmt.Sprintf("threshold %.3g", t.Threshold), Anchor: anchor, Class: "note strong"},
			text{X: x + dx, Y: p.y(0.5) + 8, Text: pct(t.HostedShare) + " hosted", Anchor: anchor, Class: "note"})
	}
	return c
}

// latencyHistogram bins the answered calls' latencies of the program (at
// least one) and, when given, the baseline into shared bins: logarithmic
// when the spread is wide (a local program against a hosted model), linear
// otherwise.
func latencyHistogram(series [][]float64) chart {
	p := plot{W: 980, H: 300, Left: 52, Right: 14, Top: 16, Bottom: 44}
	c := chart{W: p.W, H: p.H, Label: "latency histogram"}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	sc := newLatencyScale(lo, hi)
	counts := make([][]int, len(series))
	peak := 1
	for k, s := range series {
		counts[k] = make([]int, sc.bins)
		for _, v := range s {
			b := sc.bin(v)
			counts[k][b]++
			peak = max(peak, counts[k][b])
		}
	}
	step := niceStep(float64(peak) / 4)
	top := step * math.Ceil(float64(peak)/step)
	bw := (p.W - p.Left - p.Right) / float64(sc.bins)
	sw := (bw - 2) / float64(len(series))
	for b := range sc.bins {
		for k := range series {
			n := counts[k][b]
			if n == 0 {
				continue
			}
			h := float64(n) / top * p.innerH()
			c.Rects = append(c.Rects, rect{X: p.Left + bw*float64(b) + 1 + sw*float64(k), Y: p.y(0) - h, W: sw, H: h,
				Class: fmt.Sprintf("bar series-%d", k), Title: fmt.Sprintf("%s: %d calls", sc.binLabel(b), n), Value: strconv.Itoa(n)})
		}
	}
	for _, t := range sc.ticks() {
		x := p.Left + bw*t.at
		c.Lines = append(c.Lines, line{X1: x, Y1: p.y(0), X2: x, Y2: p.y(0) + 4, Class: "axis"})
		c.Texts = append(c.Texts, text{X: x, Y: p.y(0) + 16, Text: t.label, Anchor: "middle", Class: "tick"})
	}
	for v := step; v <= top; v += step {
		c.Lines = append(c.Lines, line{X1: p.x(0), Y1: p.y(v / top), X2: p.x(1), Y2: p.y(v / top), Class: "grid"})
		c.Texts = append(c.Texts, text{X: p.x(0) - 6, Y: p.y(v/top) + 4, Text: strconv.FormatFloat(v, 'f', -1, 64), Anchor: "end", Class: "tick"})
	}
	xTitle := "latency per call"
	if sc.log {
		xTitle += " (log scale)"
	}
	p.titles(&c, xTitle, "calls")
	return c
}

// latencyScale places latencies in bins: 5 per decade on a log scale, or
// 24 equal ones from 0.
type latencyScale struct {
	log       bool
	bins      int
	lo, width float64 // log: decades; linear: ms
}

func newLatencyScale(lo, hi float64) latencyScale {
	if lo > 0 && hi/lo > 20 {
		d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi)+1e-9)
		return latencyScale{log: true, bins: int(d1-d0) * 5, lo: d0, width: 0.2}
	}
	step := niceStep(math.Max(hi, 1) / 24)
	return latencyScale{bins: int(math.Floor(hi/step)) + 1, width: step}
}

func (s latencyScale) bin(v float64) int {
	f := v / s.width
	if s.log {
		f = (math.Log10(math.Max(v, 1e-3)) - s.lo) / s.width
	}
	return min(max(int(f), 0), s.bins-1)
}

func (s latencyScale) edge(b int) float64 {
	if s.log {
		return math.Pow(10, s.lo+s.width*float64(b))
	}
	return s.width * float64(b)
}

func (s latencyScale) binLabel(b int) string {
	return fmt.Sprintf("%s–%s", ms(s.edge(b)), ms(s.edge(b+1)))
}

type tick struct {
	at    float64 // in bins
	label string
}

func (s latencyScale) ticks() []tick {
	var ts []tick
	every := 1
	if !s.log {
		every = max(1, s.bins/8)
	}
	for b := 0; b <= s.bins; b += every {
		if s.log && b%5 != 0 {
			continue
		}
		ts = append(ts, tick{at: float64(b), label: ms(s.edge(b))})
	}
	return ts
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// labelText shows an empty answer (a failed call's) as such.
func labelText(s string) string {
	if s == "" {
		return "(no answer)"
	}
	return s
}

// clip shortens s to n runes for a chart label (the full text goes in the
// tooltip).
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

package lora

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strings"

	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/program"
)

// Report is a compile's report, written beside the .paw: the training
// record and the held-out accuracy before (the pseudo-program alone) and
// after (with the adapter).
type Report struct {
	ProgramID string   `json:"program_id"`
	Spec      string   `json:"spec"`
	Compiler  string   `json:"compiler"`
	Training  Training `json:"training"`
}

// ReportOf reads the report of a program compiled by this package.
func ReportOf(p *program.Program) (Report, error) {
	raw, ok := p.Meta.Extra[TrainingKey]
	if !ok {
		return Report{}, fmt.Errorf("lora: program %s has no %s record", p.Meta.ProgramID, TrainingKey)
	}
	r := Report{ProgramID: p.Meta.ProgramID, Spec: p.Meta.Spec, Compiler: p.Meta.CompilerSnapshot}
	if err := json.Unmarshal(raw, &r.Training); err != nil {
		return Report{}, fmt.Errorf("lora: program %s: %s: %w", p.Meta.ProgramID, TrainingKey, err)
	}
	return r, nil
}

// WriteFiles writes the report as base+".json" and its loss curve as
// base+".svg", each atomically.
func (r Report) WriteFiles(base string) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(base+".json", append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("compile report: %w", err)
	}
	if err := fsutil.WriteAtomic(base+".svg", 0o644, r.WriteSVG); err != nil {
		return fmt.Errorf("compile report: %w", err)
	}
	return nil
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                 = 640.0, 360.0
	chartL, chartR, chartT, chartB = 56.0, 16.0, 64.0, 44.0
)

// WriteSVG draws the loss curve: every step's training loss (thin), the
// mean training loss per epoch and the held-out loss after each epoch
// (epoch 0: before training), with the held-out accuracy before and after.
func (r Report) WriteSVG(w io.Writer) error {
	t := r.Training
	steps := max(1, t.Steps)
	perEpoch := float64(steps) / float64(max(1, t.Epochs))
	hi := 0.0
	for _, l := range t.StepLosses {
		hi = math.Max(hi, l)
	}
	for _, e := range t.Curve {
		hi = math.Max(hi, math.Max(e.Train, e.HeldOut))
	}
	hi = math.Max(hi*1.05, 1e-6)
	x := func(step float64) float64 { return chartL + step/float64(steps)*(chartW-chartL-chartR) }
	y := func(l float64) float64 { return chartT + (1-l/hi)*(chartH-chartT-chartB) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", chartL, html.EscapeString(clip(r.Spec, 80)))
	fmt.Fprintf(&b, `<text x="%g" y="40">held-out accuracy %.0f%% with the pseudo-program alone, %.0f%% after compile (%d held out); %d steps in %.1f s</text>`+"\n",
		chartL, 100*t.HeldOutBaseAccuracy, 100*t.HeldOutAccuracy, t.HeldOut, t.Steps, t.Seconds)
	// Axes and ticks.
	fmt.Fprintf(&b, `<path d="M%g %g V%g H%g" fill="none" stroke="#444"/>`+"\n", chartL, chartT, chartH-chartB, chartW-chartR)
	for i := 0; i <= 4; i++ {
		l := hi * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end">%.2f</text>`+"\n", chartL-6, y(l)+4, l)
	}
	for e := 0; e <= t.Epochs; e++ {
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%d</text>`+"\n", x(float64(e)*perEpoch), chartH-chartB+16, e)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">epoch</text>`+"\n", (chartL+chartW-chartR)/2, chartH-8)
	fmt.Fprintf(&b, `<text transform="translate(14 %g) rotate(-90)" text-anchor="middle">loss (cross-entropy)</text>`+"\n", (chartT+chartH-chartB)/2)
	var steps1, train, held []string
	for i, l := range t.StepLosses {
		steps1 = append(steps1, fmt.Sprintf("%.1f,%.1f", x(float64(i*max(1, t.StepEvery))+0.5), y(l)))
	}
	for _, e := range t.Curve {
		if e.Epoch > 0 {
			train = append(train, fmt.Sprintf("%.1f,%.1f", x(float64(e.Epoch)*perEpoch), y(e.Train)))
		}
		if e.HeldOut > 0 {
			held = append(held, fmt.Sprintf("%.1f,%.1f", x(float64(e.Epoch)*perEpoch), y(e.HeldOut)))
		}
	}
	series := []struct {
		pts          []string
		color, label string
		width        float64
	}{{steps1, "#9ecae1", "train loss per step", 1}, {train, "#08519c", "train loss per epoch", 2.5}, {held, "#d94801", "held-out loss", 2.5}}
	for i, s := range series {
		if len(s.pts) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%g"/>`+"\n", strings.Join(s.pts, " "), s.color, s.width)
		if s.width > 1 {
			for _, p := range s.pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", xy[0], xy[1], s.color)
			}
		}
		lx := chartW - chartR - 170
		ly := chartT + 4 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="%g"/><text x="%g" y="%g">%s</text>`+"\n",
			lx, ly, lx+24, ly, s.color, s.width, lx+30, ly+4, s.label)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

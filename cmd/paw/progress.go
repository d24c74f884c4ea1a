package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/paw-dev/paw/hub"
)

// progress draws hub events on stderr: a bar (bytes, rate, ETA) when stderr
// is a terminal, plain lines otherwise, nothing when quiet.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	bar   *progressbar.ProgressBar
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

// trace is a hub.Client.Trace.
func (p *progress) trace(e hub.Event) {
	if p.quiet {
		return
	}
	switch e.Kind {
	case hub.EventResolve:
		fmt.Fprintf(p.w, "resolved %s → %s\n", e.Ref, e.ID)
	case hub.EventWait:
		fmt.Fprintf(p.w, "waiting for another paw process downloading %s\n", e.Item)
	case hub.EventStart:
		p.start(e)
	case hub.EventProgress:
		if p.bar != nil {
			_ = p.bar.Set64(e.Completed)
		}
	case hub.EventRetry:
		p.finishBar()
		fmt.Fprintf(p.w, "%s: attempt %d failed (%v); retrying in %s\n", e.Item, e.Attempt, e.Err, e.Wait.Round(time.Millisecond))
	case hub.EventVerify:
		p.finishBar()
		if !p.tty {
			fmt.Fprintf(p.w, "verifying %s (%s)\n", e.Item, humanBytes(e.Completed))
		}
	case hub.EventDone:
		p.finishBar()
	}
}

func (p *progress) start(e hub.Event) {
	p.finishBar()
	if !p.tty {
		verb := "downloading"
		if e.Completed > 0 {
			verb = fmt.Sprintf("resuming at %s", humanBytes(e.Completed))
		}
		size := "unknown size"
		if e.Total >= 0 {
			size = humanBytes(e.Total)
		}
		fmt.Fprintf(p.w, "%s %s (%s)\n", verb, e.Item, size)
		return
	}
	p.bar = progressbar.NewOptions64(e.Total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(e.Item),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
	_ = p.bar.Set64(e.Completed)
}

func (p *progress) finishBar() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

package report_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paw-dev/paw/eval/report"
	"github.com/paw-dev/paw/internal/browsertest"
)

var update = flag.Bool("update", false, "rewrite docs/report.png from the fixture's screenshot")

// docsShot is the committed screenshot of the fixture report.
const docsShot = "../../docs/report.png"

// minBlue is how many pixels of the charts' blues a drawn report shows at
// least.
const minBlue = 5000

// TestHTMLReportChromium opens the fixture report in headless Chromium
// from a file:// URL, with networking off: the page must log nothing to
// the console (no script error, no blocked fetch), its DOM must hold the
// charts, and its screenshot must not be blank.
func TestHTMLReportChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	p := fixturePage()
	if err := report.WriteFile(page, p); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	logs := browsertest.Run(t, bin, "--screenshot="+shot, "--window-size=1200,2000", "file://"+page)
	if errs := browsertest.ConsoleLines(logs); len(errs) > 0 {
		t.Errorf("console messages from the page:\n%s", strings.Join(errs, "\n"))
	}
	img := browsertest.DecodePNG(t, shot)
	if err := browsertest.NotBlank(img, minBlue); err != nil {
		t.Error(err)
	}
	dom := browsertest.Run(t, bin, "--dump-dom", "file://"+page)
	n := len(p.Report.Labels)
	if got := strings.Count(dom, `class="cell"`); got != n*n+len(p.Baseline.Labels)*len(p.Baseline.Labels) {
		t.Errorf("the DOM has %d heatmap cells, want %d + %d", got, n*n, len(p.Baseline.Labels)*len(p.Baseline.Labels))
	}
	for _, id := range []string{"summary", "baseline", "confusion", "calibration", "latency", "drift", "failing"} {
		if !strings.Contains(dom, `id="`+id+`"`) {
			t.Errorf("the DOM has no section %q", id)
		}
	}
	if *update {
		// Taller than the check's window, to show the calibration charts.
		docs := filepath.Join(dir, "docs.png")
		browsertest.Run(t, bin, "--screenshot="+docs, "--window-size=1200,2640", "file://"+page)
		browsertest.WriteDocsShot(t, docsShot, browsertest.DecodePNG(t, docs))
	}

	// The checks themselves: a page with a failing script is caught, and
	// so is a blank one.
	t.Run("a script error is caught", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.html")
		if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><p>x</p><script>console.error("e"); nosuch();</script>`), 0o644); err != nil {
			t.Fatal(err)
		}
		logs := browsertest.Run(t, bin, "--screenshot="+filepath.Join(dir, "bad.png"), "--window-size=400,300", "file://"+bad)
		if errs := browsertest.ConsoleLines(logs); len(errs) != 2 {
			t.Errorf("console lines %q, want the error and the uncaught exception", errs)
		}
	})
	t.Run("a blank page is caught", func(t *testing.T) {
		blank := filepath.Join(dir, "blank.html")
		if err := os.WriteFile(blank, []byte(`<!DOCTYPE html><title>blank</title>`), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "blank.png")
		browsertest.Run(t, bin, "--screenshot="+out, "--window-size=1200,2000", "file://"+blank)
		if err := browsertest.NotBlank(browsertest.DecodePNG(t, out), minBlue); err == nil {
			t.Error("a blank page's screenshot passed as not blank")
		}
	})
}

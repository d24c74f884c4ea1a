package report_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/eval/report"
	"github.com/paw-dev/paw/internal/fsutil"
)

var update = flag.Bool("update", false, "rewrite docs/report.png from the fixture's screenshot")

// docsShot is the committed screenshot of the fixture report.
const docsShot = "../../docs/report.png"

// TestHTMLReportChromium opens the fixture report in headless Chromium
// from a file:// URL, with networking off: the page must log nothing to
// the console (no script error, no blocked fetch), its DOM must hold the
// charts, and its screenshot must not be blank.
func TestHTMLReportChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	p := fixturePage()
	if err := report.WriteFile(page, p); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	logs := runChromium(t, bin, "--screenshot="+shot, "--window-size=1200,2000", "file://"+page)
	if errs := consoleLines(logs); len(errs) > 0 {
		t.Errorf("console messages from the page:\n%s", strings.Join(errs, "\n"))
	}
	img := decodePNG(t, shot)
	if err := notBlank(img); err != nil {
		t.Error(err)
	}
	dom := runChromium(t, bin, "--dump-dom", "file://"+page)
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
		runChromium(t, bin, "--screenshot="+docs, "--window-size=1200,2640", "file://"+page)
		writeDocsShot(t, decodePNG(t, docs))
	}

	// The checks themselves: a page with a failing script is caught, and
	// so is a blank one.
	t.Run("a script error is caught", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.html")
		if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><p>x</p><script>console.error("e"); nosuch();</script>`), 0o644); err != nil {
			t.Fatal(err)
		}
		logs := runChromium(t, bin, "--screenshot="+filepath.Join(dir, "bad.png"), "--window-size=400,300", "file://"+bad)
		if errs := consoleLines(logs); len(errs) != 2 {
			t.Errorf("console lines %q, want the error and the uncaught exception", errs)
		}
	})
	t.Run("a blank page is caught", func(t *testing.T) {
		blank := filepath.Join(dir, "blank.html")
		if err := os.WriteFile(blank, []byte(`<!DOCTYPE html><title>blank</title>`), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "blank.png")
		runChromium(t, bin, "--screenshot="+out, "--window-size=1200,2000", "file://"+blank)
		if err := notBlank(decodePNG(t, out)); err == nil {
			t.Error("a blank page's screenshot passed as not blank")
		}
	})
}

// chromium finds the browser; without it the test skips, except in CI.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not installed: .ci/run installs it")
	}
	t.Skip("chromium not installed")
	return ""
}

// runChromium runs headless Chromium with networking and background
// services off and a fresh profile, and returns its log (stderr).
func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(flags, args...)...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, tail(stderr.String()))
	}
	if strings.Contains(strings.Join(args, " "), "--dump-dom") {
		return stdout.String()
	}
	return stderr.String()
}

// consoleRe matches Chromium's log line for a page's console message
// ("INFO:CONSOLE:12] "Uncaught …", source: file://…"; older builds write
// "CONSOLE(12)"); any at all is a fault, as the page runs no script.
var consoleRe = regexp.MustCompile(`CONSOLE[:(]`)

func consoleLines(log string) []string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if consoleRe.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

// bluish tells the page's blues (heatmap diagonal, bars, lines) from the
// greys of text and of a browser's error page: seeing enough of them means
// the charts were drawn.
func bluish(c color.RGBA) bool { return int(c.B) > int(c.R)+60 && int(c.B) > int(c.G)+30 }

// notBlank checks that a screenshot shows a drawn page: many colours, a
// fair share of pixels off the background, and the charts' blues.
func notBlank(img image.Image) error {
	counts := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	background, blue := 0, 0
	for c, n := range counts {
		background = max(background, n)
		if bluish(c) {
			blue += n
		}
	}
	total := b.Dx() * b.Dy()
	ink := 1 - float64(background)/float64(total)
	if len(counts) < 32 || ink < 0.05 || blue < 5000 {
		return fmt.Errorf("screenshot looks blank: %d colours, %.1f%% of pixels off the background, %d blue pixels",
			len(counts), 100*ink, blue)
	}
	return nil
}

// writeDocsShot stores the screenshot for the README, compressed hard.
func writeDocsShot(t *testing.T, img image.Image) {
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	var buf bytes.Buffer
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 300<<10 {
		t.Fatalf("screenshot is %d KB, over 300 KB", buf.Len()>>10)
	}
	if err := fsutil.WriteFileAtomic(docsShot, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

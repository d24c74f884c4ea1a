// Package browsertest runs pages in headless Chromium for tests: it finds
// the browser (skipping without it, except in CI), runs it with networking
// to the outside off, reads the page's console messages from its log, and
// tells a drawn screenshot from a blank one.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/fsutil"
)

// Chromium finds the browser; without it the test skips, except in CI.
func Chromium(t testing.TB) string {
	t.Helper()
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

// Run runs headless Chromium with background networking and services off
// and a fresh profile, and returns its log (stderr), or the DOM (stdout)
// with --dump-dom.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
// "CONSOLE(12)").
var consoleRe = regexp.MustCompile(`CONSOLE[:(]`)

// ConsoleLines are the page's console messages in a Chromium log.
func ConsoleLines(log string) []string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if consoleRe.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

// DecodePNG reads a screenshot.
func DecodePNG(t testing.TB, path string) image.Image {
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

// bluish tells the pages' blues (heatmap diagonal, bars, lines) from the
// greys of text and of a browser's error page: seeing enough of them means
// the charts were drawn.
func bluish(c color.RGBA) bool { return int(c.B) > int(c.R)+60 && int(c.B) > int(c.G)+30 }

// NotBlank checks that a screenshot shows a drawn page: many colours, a
// fair share of pixels off the background, and at least minBlue pixels of
// the charts' blues.
func NotBlank(img image.Image, minBlue int) error {
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
	if len(counts) < 32 || ink < 0.05 || blue < minBlue {
		return fmt.Errorf("screenshot looks blank: %d colours, %.1f%% of pixels off the background, %d blue pixels",
			len(counts), 100*ink, blue)
	}
	return nil
}

// WriteDocsShot stores a screenshot for the docs at path, compressed hard;
// over 300 KB fails the test.
func WriteDocsShot(t testing.TB, path string, img image.Image) {
	t.Helper()
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	var buf bytes.Buffer
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 300<<10 {
		t.Fatalf("screenshot is %d KB, over 300 KB", buf.Len()>>10)
	}
	if err := fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

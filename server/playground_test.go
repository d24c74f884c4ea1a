package server

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/browsertest"
	"github.com/paw-dev/paw/registry"
)

var update = flag.Bool("update", false, "rewrite docs/playground.png from the playground's screenshot")

// openRegistry opens an empty registry for the test.
func openRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg, err := registry.Open(context.Background(), filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// register makes program id version 1 of function triage, tested and live.
func register(t *testing.T, reg *registry.Registry, id string) {
	t.Helper()
	ctx := context.Background()
	if err := reg.AddFunction(ctx, registry.Function{Name: "triage", Owner: "alice", Scope: "support tickets only"}, "alice"); err != nil {
		t.Fatal(err)
	}
	v, err := reg.AddVersion(ctx, registry.Version{Function: "triage", ProgramID: id, CreatedBy: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RecordTest(ctx, "triage", v.Number, json.RawMessage(`{"accuracy":0.94,"n":50}`), true, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Promote(ctx, "triage", v.Number, registry.PromoteOptions{Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
}

// TestProgramRegistry: with a registry, a registered program's detail
// carries its function's owner, scope, versions and last test; others
// none.
func TestProgramRegistry(t *testing.T) {
	reg := openRegistry(t)
	f := newFix(t, Config{Registry: reg}, nil)
	register(t, reg, f.labelsID)
	resp, body := f.do(t, "GET", "/api/v1/programs/alice/triage", nil)
	wantStatus(t, resp, body, 200)
	var info api.ProgramInfo
	mustJSON(t, body, &info)
	r := info.Registry
	if r == nil || r.Function != "triage" || r.Owner != "alice" || r.Scope != "support tickets only" || r.Version != 1 ||
		r.LiveVersion != 1 || r.LastTest == nil || !r.LastTest.Passed || r.LastTest.Accuracy == nil || *r.LastTest.Accuracy != 0.94 ||
		r.LastTest.N != 50 || r.LastTest.At == "" {
		t.Errorf("registry info %s", body)
	}
	resp, body = f.do(t, "GET", "/api/v1/programs/alice/notes", nil)
	wantStatus(t, resp, body, 200)
	if strings.Contains(string(body), `"registry"`) {
		t.Errorf("an unregistered program has registry info: %s", body)
	}
}

// docsShot is the committed screenshot of the playground.
const docsShot = "../docs/playground.png"

// TestPlaygroundAssets: the page and its assets are served from the
// binary, with a policy that allows only this server.
func TestPlaygroundAssets(t *testing.T) {
	f := newFix(t, Config{}, nil)
	for path, want := range map[string]string{"/": "<title>paw playground</title>", "/static/app.js": "/api/v1/infer",
		"/static/style.css": ".bar {"} {
		resp, body := f.do(t, "GET", path, nil)
		wantStatus(t, resp, body, 200)
		if !strings.Contains(string(body), want) || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: %q, CSP %q", path, body[:min(len(body), 80)], resp.Header.Get("Content-Security-Policy"))
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
			t.Errorf("GET %s refers to another site", path)
		}
	}
	resp, body := f.do(t, "GET", "/static/nosuch.js", nil)
	wantStatus(t, resp, body, 404)
}

var (
	outputRe = regexp.MustCompile(`<pre id="output">([^<]*)</pre>`)
	barRe    = regexp.MustCompile(`<div class="bar-row[^"]*" data-label="([^"]+)" data-p="([^"]+)">`)
	pathRe   = regexp.MustCompile(`<span id="path" class="path ([a-z]+)">`)
)

// TestPlaygroundChromium loads the playground in headless Chromium from
// the running server and drives a real call on the labels fixture program
// (?program=&demo= runs one on load): the rendered answer is the serial
// one, with a bar per label, the path that answered, and no console
// message; the screenshot is not blank.
func TestPlaygroundChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	reg := openRegistry(t)
	f := newFix(t, Config{Registry: reg}, nil)
	register(t, reg, f.labelsID)
	const input = "My invoice charged me twice this month."
	want := f.serial(t, "alice/triage", input)
	page := f.ts.URL + "/?program=alice/triage&demo=" + url.QueryEscape(input)
	// The virtual time budget makes Chromium wait for the page's fetches
	// before it dumps the DOM or takes the screenshot.
	wait := "--virtual-time-budget=15000"
	dom := browsertest.Run(t, bin, wait, "--dump-dom", page)
	if !strings.Contains(dom, `data-state="done"`) {
		t.Fatalf("the demo call did not finish; DOM:\n%s", dom)
	}
	if m := outputRe.FindStringSubmatch(dom); m == nil || m[1] != want.Output {
		t.Errorf("rendered answer %q, want the serial answer %q", m, want.Output)
	}
	bars := barRe.FindAllStringSubmatch(dom, -1)
	if len(bars) != len(triageLabels) {
		t.Fatalf("%d bars, want one per label %v; DOM:\n%s", len(bars), triageLabels, dom)
	}
	for _, b := range bars {
		got, err := strconv.ParseFloat(b[2], 64)
		if p, ok := want.Probs[b[1]]; !ok || err != nil || math.Abs(got-p) > 1e-9 {
			t.Errorf("bar %s = %s, want %v", b[1], b[2], want.Probs)
		}
	}
	if m := pathRe.FindStringSubmatch(dom); m == nil || m[1] != "local" {
		t.Errorf("path %q, want local", m)
	}
	for _, s := range []string{"<dd>alice</dd>", "<dd>support tickets only</dd>", "<dd>v1 (live: v1)</dd>",
		"<dd>passed, accuracy 94.0% on 50 cases, 20"} {
		if !strings.Contains(dom, s) {
			t.Errorf("the DOM lacks the registry's %q", s)
		}
	}
	shot := filepath.Join(t.TempDir(), "playground.png")
	logs := browsertest.Run(t, bin, wait, "--screenshot="+shot, "--window-size=1200,720", page)
	if errs := browsertest.ConsoleLines(logs); len(errs) > 0 {
		t.Errorf("console messages from the page:\n%s", strings.Join(errs, "\n"))
	}
	img := browsertest.DecodePNG(t, shot)
	if err := browsertest.NotBlank(img, 2000); err != nil {
		t.Error(err)
	}
	if *update {
		browsertest.WriteDocsShot(t, docsShot, img)
	}
}

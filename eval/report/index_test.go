package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/eval/report"
)

// TestIndex: each function's row links its page and shows its headline
// figures and gate status; user strings are escaped, a script URL is
// neutralized and the page loads nothing.
func TestIndex(t *testing.T) {
	conf := 0.9
	r := eval.Score([]eval.Result{
		{Case: eval.Case{Input: "a", Expected: "x", HasExpected: true}, Calls: []eval.Call{{Output: "x", Valid: true, Confidence: &conf, LatencyMS: 12}}},
		{Case: eval.Case{Input: "b", Expected: "y", HasExpected: true}, Calls: []eval.Call{{Output: "x", Valid: false, LatencyMS: 40}}},
	}, eval.Options{})
	x := report.Index{Generated: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Rows: []report.IndexRow{
		{Name: "triage", Href: "triage.html", ProgramID: "p1", Owner: "alice", Report: r},
		{Name: "intent", Href: "intent.html", Owner: xss, Expires: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Expired: true,
			Report: r, FailedGates: []string{xss, "latency p95 (ms) 40 > 1"}},
		{Name: "evil", Href: "javascript:alert(1)"},
		{Name: "untested"},
	}}
	var buf bytes.Buffer
	if err := report.WriteIndex(&buf, x); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{`<a href="triage.html">triage</a>`, `<a href="intent.html">intent</a>`, "<code>p1</code>", "alice",
		"50.0%", "40 ms", `<span class="pass">pass</span>`, `<span class="fail">failed</span>`, "latency p95 (ms) 40 &gt; 1",
		"2020-01-01 <span class=\"fail\">expired</span>", "not tested", "2026-11-30 12:00 UTC"} {
		if !strings.Contains(page, want) {
			t.Errorf("index lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "javascript:") {
		t.Errorf("index has markup or a script URL raw:\n%s", page)
	}
	if n := strings.Count(page, "&lt;script&gt;alert(1)&lt;/script&gt;"); n != 2 {
		t.Errorf("the hostile string shows escaped %d times, want 2 (owner, gate)", n)
	}
	loads := regexp.MustCompile(`(?i)<[^>]*\s(src|srcset|action|background)\s*=|url\(|@import|<link`)
	if m := loads.FindString(page); m != "" || !strings.Contains(page, `default-src 'none'`) {
		t.Errorf("the index may load something: %q", m)
	}

	path := filepath.Join(t.TempDir(), "index.html")
	if err := report.WriteIndexFile(path, x); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != page {
		t.Errorf("WriteIndexFile wrote other bytes than WriteIndex (%v)", err)
	}
}

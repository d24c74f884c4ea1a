package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/program"
)

// routeLabels and the programs of routePseudo on gpt2-tiny give varied
// answers that differ between adapter seeds 1 and 4 (qwen3-tiny's answer one label).
var routeLabels = []string{"a", "b", "c"}

const routePseudo = "Route the ticket."

// labelArgs are the --labels flags of routeLabels.
func labelArgs() []string {
	var args []string
	for _, l := range routeLabels {
		args = append(args, "--labels", l)
	}
	return args
}

var routeInputs = []string{
	"I was charged twice this month", "the app crashes on start", "where is your office",
	"refund my last invoice", "password reset link is broken", "do you sell gift cards",
	"my card was declined", "error 500 when I upload", "can I talk to a person",
	"cancel my subscription", "the page loads forever", "what are your opening hours",
}

// greedy runs fn on inputs with `paw run --inputs --json` and returns each line.
func greedy(t *testing.T, base, pawPath string, inputs []string, extra ...string) []runOutput {
	t.Helper()
	file := filepath.Join(t.TempDir(), "inputs.txt")
	os.WriteFile(file, []byte(strings.Join(inputs, "\n")+"\n"), 0o644)
	out, err := runPaw(t, append([]string{"run", pawPath, "--model", base, "--inputs", file, "--json"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	var res []runOutput
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var o runOutput
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatal(err)
		}
		res = append(res, o)
	}
	return res
}

// writeCases writes JSONL cases.
func writeCases(t *testing.T, cases []map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, c := range cases {
		line, _ := json.Marshal(c)
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func labelIndex(l string) int {
	for i, x := range routeLabels {
		if strings.EqualFold(strings.TrimSpace(l), x) {
			return i
		}
	}
	panic("not a label: " + l)
}

// TestMetricsExact builds cases from the program's own greedy answers plus
// deliberately wrong expectations, and checks paw test's figures are
// exactly those counted here.
func TestMetricsExact(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 1, routePseudo)
	got := greedy(t, base, pawPath, routeInputs, labelArgs()...)

	var cases []map[string]any
	n := len(routeLabels)
	confusion := make([][]int, n)
	for i := range confusion {
		confusion[i] = make([]int, n)
	}
	exact, normalized, tagged, taggedExact := 0, 0, 0, 0
	for i, g := range got {
		c := map[string]any{"input": routeInputs[i]}
		switch {
		case i < 5: // the program's own answer
			c["expected"] = g.Output
			exact++
			normalized++
		case i == 5: // right only once trimmed and case-folded
			c["expected"] = "  " + strings.ToUpper(g.Output) + "\n"
			normalized++
		case i == len(got)-1: // no expected answer: run, not scored
		default: // deliberately wrong
			c["expected"] = routeLabels[(labelIndex(g.Output)+1)%n]
		}
		if i%2 == 0 && c["expected"] != nil {
			c["tags"] = []string{"even"}
			tagged++
			if i < 5 {
				taggedExact++
			}
		}
		if e, ok := c["expected"].(string); ok {
			confusion[labelIndex(e)][labelIndex(g.Output)]++
		}
		cases = append(cases, c)
	}
	scored := len(got) - 1
	file := writeCases(t, cases)
	out, err := runPaw(t, append([]string{"test", pawPath, "--model", base, "--cases", file, "--json", "--concurrency", "3"}, labelArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var r testOutput
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("paw test --json %q: %v", out, err)
	}
	perLabel := map[string]eval.LabelStats{}
	for i, l := range routeLabels {
		var s eval.LabelStats
		for j := range n {
			s.Support += confusion[i][j]
			s.Predicted += confusion[j][i]
		}
		if s.Predicted > 0 {
			s.Precision = float64(confusion[i][i]) / float64(s.Predicted)
		}
		if s.Support > 0 {
			s.Recall = float64(confusion[i][i]) / float64(s.Support)
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		perLabel[l] = s
	}
	want := struct {
		N, Scored, Calls              int
		Accuracy, Normalized, Invalid float64
		Labels                        []string
		Confusion                     [][]int
		PerLabel                      map[string]eval.LabelStats
		PerTag                        map[string]eval.TagStats
	}{len(got), scored, len(got), float64(exact) / float64(scored), float64(normalized) / float64(scored), 0,
		routeLabels, confusion, perLabel,
		map[string]eval.TagStats{"even": {N: tagged, Accuracy: float64(taggedExact) / float64(tagged), AccuracyNormalized: float64(taggedExact) / float64(tagged)}}}
	gotFigures := want
	gotFigures.N, gotFigures.Scored, gotFigures.Calls = r.N, r.Scored, r.Calls
	gotFigures.Accuracy, gotFigures.Normalized, gotFigures.Invalid = r.Accuracy, r.AccuracyNormalized, r.InvalidRate
	gotFigures.Labels, gotFigures.Confusion, gotFigures.PerLabel, gotFigures.PerTag = r.Labels, r.Confusion, r.PerLabel, r.PerTag
	if diff := cmp.Diff(want, gotFigures); diff != "" {
		t.Errorf("paw test figures (-want +got):\n%s", diff)
	}
	if r.Program == "" || r.ECE == nil || *r.ECE < 0 || *r.ECE > 1 || r.LatencyMSP50 <= 0 || r.LatencyMSP95 < r.LatencyMSP50 {
		t.Errorf("program %q, ece %v, latency p50 %v p95 %v", r.Program, r.ECE, r.LatencyMSP50, r.LatencyMSP95)
	}
	if len(r.Failing) != scored-exact {
		t.Errorf("%d failing cases, want %d", len(r.Failing), scored-exact)
	}
	// The table for people has the same figures.
	table, err := runPaw(t, append([]string{"test", pawPath, "--model", base, "--cases", file}, labelArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"accuracy    " + pct(want.Accuracy), "normalized  " + pct(want.Normalized),
		fmt.Sprintf("even  %d      %s", tagged, pct(want.PerTag["even"].Accuracy)),
		fmt.Sprintf("failing cases (%d of %d)", min(10, scored-exact), scored-exact),
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	t.Log("\n" + table)
	// Each call's confidence is the probability of the label it chose (to
	// 1e-3: paw run batched all twelve calls, paw test three at a time, and
	// batch composition moves the probabilities by about 4e-5).
	for i, res := range r.Results {
		c := res.Calls[0]
		if c.Output != got[i].Output || c.Confidence == nil || math.Abs(*c.Confidence-got[i].Probs[got[i].Output]) > 1e-3 || !c.Valid {
			t.Errorf("case %d: call %+v (confidence %v), want output %q with confidence %v", i, c, deref(c.Confidence), got[i].Output, got[i].Probs[got[i].Output])
		}
	}
}

// TestDiffFlips: paw diff between two adapters reports exactly the flips
// found by running each with paw run.
func TestDiffFlips(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, oldPath, _ := packFixture(t, "gpt2-tiny", 1, routePseudo)
	_, newPath, _ := packFixture(t, "gpt2-tiny", 4, routePseudo)
	oldOut := greedy(t, base, oldPath, routeInputs, labelArgs()...)
	newOut := greedy(t, base, newPath, routeInputs, labelArgs()...)
	var cases []map[string]any
	want := []eval.Flip{}
	shift := map[string]eval.Shift{}
	for i, in := range routeInputs {
		cases = append(cases, map[string]any{"input": in})
		o, n := oldOut[i].Output, newOut[i].Output
		if o != n {
			want = append(want, eval.Flip{Index: i, Input: in, Old: o, New: n})
		}
		so := shift[o]
		so.Old++
		shift[o] = so
		sn := shift[n]
		sn.New++
		shift[n] = sn
	}
	for l, s := range shift {
		s.Delta = s.New - s.Old
		shift[l] = s
	}
	if len(want) == 0 || len(want) == len(routeInputs) {
		t.Fatalf("the fixtures flip %d of %d answers: pick seeds that flip some", len(want), len(routeInputs))
	}
	file := writeCases(t, cases)
	html := filepath.Join(t.TempDir(), "diff.html")
	args := append([]string{"diff", "--old", oldPath, "--new", newPath, "--model", base, "--cases", file, "--html", html}, labelArgs()...)
	out, err := runPaw(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var d diffOutput
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	for i := range d.Flips {
		d.Flips[i].Source = ""
	}
	if diff := cmp.Diff(want, d.Flips); diff != "" {
		t.Errorf("flips (-want +got):\n%s", diff)
	}
	if agree := float64(len(routeInputs)-len(want)) / float64(len(routeInputs)); d.Agreement != agree || d.N != len(routeInputs) {
		t.Errorf("agreement %v over %d cases, want %v over %d", d.Agreement, d.N, agree, len(routeInputs))
	}
	if diff := cmp.Diff(shift, d.LabelShift); diff != "" {
		t.Errorf("label shift (-want +got):\n%s", diff)
	}
	if page, err := os.ReadFile(html); err != nil || !strings.Contains(string(page), "<html") || !strings.Contains(string(page), want[0].Input) {
		t.Errorf("--html page (%v) lacks the page or the first flip", err)
	}
	// The agreement gate: exit status 1, the gate named, the report printed.
	out, err = runPaw(t, append(args, "--min-agreement", "1")...)
	if !errors.Is(err, eval.ErrGate) || exitCode(err) != exitFailure || !strings.Contains(err.Error(), "agreement") {
		t.Errorf("--min-agreement 1 with flips: exit %d, %v", exitCode(err), err)
	}
	if !strings.Contains(out, "flipped cases") || !strings.Contains(out, "GATE FAILED") {
		t.Errorf("the table lacks the flips or the failed gate:\n%s", out)
	}
}

// chatServer is an OpenAI-compatible endpoint answering every input with
// answer; it counts the requests and checks the API key.
func chatServer(t *testing.T, key, answer string) (*httptest.Server, *atomic.Int64, *atomic.Value) {
	var requests atomic.Int64
	var system atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+key {
			http.Error(w, "wrong path or key", http.StatusUnauthorized)
			return
		}
		var req struct {
			Model    string
			Messages []struct{ Role, Content string }
		}
		json.NewDecoder(r.Body).Decode(&req)
		system.Store(req.Messages[0].Content)
		fmt.Fprintf(w, `{"choices": [{"message": {"role": "assistant", "content": %q}}], "usage": {"prompt_tokens": 10, "completion_tokens": 1}}`, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &requests, &system
}

// TestBaseline scores a hosted model (a test server) beside the program;
// a rerun answers from the cache and sends nothing.
func TestBaseline(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	t.Setenv("BASELINE_KEY_FOR_TEST", "k-123")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 1, routePseudo)
	inputs := routeInputs[:6]
	got := greedy(t, base, pawPath, inputs, labelArgs()...)
	var cases []map[string]any
	hits, agree := 0, 0
	for i, in := range inputs {
		exp := routeLabels[i%3]
		cases = append(cases, map[string]any{"input": in, "expected": exp})
		hits += b2i(exp == "a")
		agree += b2i(got[i].Output == "a")
	}
	file := writeCases(t, cases)
	srv, requests, system := chatServer(t, "k-123", "a")
	args := append([]string{"test", pawPath, "--model", base, "--cases", file, "--baseline", srv.URL + "/v1", "--baseline-model", "gpt-test",
		"--baseline-key-env", "BASELINE_KEY_FOR_TEST", "--price-prompt", "1", "--price-output", "2"}, labelArgs()...)
	for run := range 2 {
		out, err := runPaw(t, append(args, "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		if n := requests.Load(); n != int64(len(inputs)) {
			t.Errorf("run %d: the server has had %d requests, want %d (the first run's only)", run+1, n, len(inputs))
		}
		var r testOutput
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		b := r.Baseline
		if b == nil {
			t.Fatalf("no baseline in %s", out)
		}
		wantCost := 1000 * (10*1.0 + 1*2.0) / 1e6
		if b.Model != "gpt-test" || b.N != len(inputs) || b.Accuracy != float64(hits)/float64(len(inputs)) ||
			b.Agreement != float64(agree)/float64(len(inputs)) || b.InvalidRate != 0 || b.Errors != 0 ||
			b.CostPer1000 == nil || math.Abs(*b.CostPer1000-wantCost) > 1e-12 {
			t.Errorf("run %d: baseline %+v (cost %v), want accuracy %d/%d, agreement %d/%d, cost %v",
				run+1, b, b.CostPer1000, hits, len(inputs), agree, len(inputs), wantCost)
		}
	}
	if s, _ := system.Load().(string); !strings.Contains(s, "a fixture program") || !strings.Contains(s, "a | b | c") {
		t.Errorf("system prompt %q lacks the spec or the labels", s)
	}
	html := filepath.Join(t.TempDir(), "report.html")
	out, err := runPaw(t, append(args, "--html", html)...)
	if err != nil || !strings.Contains(out, "against gpt-test") || !strings.Contains(out, "cost avoided per 1,000 calls") {
		t.Errorf("table (%v):\n%s", err, out)
	}
	if page, err := os.ReadFile(html); err != nil || !strings.Contains(string(page), "gpt-test") {
		t.Errorf("--html with a baseline (%v) does not name it", err)
	}
	if n := requests.Load(); n != int64(len(inputs)) {
		t.Errorf("%d requests after three runs, want %d", n, len(inputs))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestGates: failed gates exit 1, list every failed gate, and still print
// the report; passing gates exit 0.
func TestGates(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 4, "Say whether the text is about cats.")
	file := writeCases(t, []map[string]any{{"input": "my cat", "expected": "surely not this"}, {"input": "the market", "expected": "nor this"}})
	args := []string{"test", pawPath, "--model", base, "--cases", file, "--max-tokens", "4", "--json"}
	out, err := runPaw(t, append(args, "--min-accuracy", "0.5", "--max-p95-ms", "0.001", "--max-invalid", "0")...)
	if exitCode(err) != exitFailure || !errors.Is(err, eval.ErrGate) {
		t.Fatalf("failing gates: exit %d, %v", exitCode(err), err)
	}
	for _, want := range []string{"accuracy 0 < 0.5", "latency p95 (ms)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	var r testOutput
	if json.Unmarshal([]byte(out), &r) != nil || len(r.FailedGates) != 2 || r.N != 2 {
		t.Errorf("the report with failed gates: %s", out)
	}
	if _, err := runPaw(t, append(args, "--min-accuracy", "0", "--max-invalid", "0")...); err != nil {
		t.Errorf("passing gates: %v", err)
	}
	// A contract no output can keep in 2 tokens: every call is invalid, an
	// answer (with what it output), not a failed call.
	out, err = runPaw(t, append(args, "--regex", `[a-z]{5}-[0-9]{5}`, "--max-tokens", "2", "--max-invalid", "0.5")...)
	if exitCode(err) != exitFailure || !strings.Contains(fmt.Sprint(err), "invalid rate 1 > 0.5") {
		t.Errorf("--max-invalid: exit %d, %v", exitCode(err), err)
	}
	r = testOutput{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Results {
		if c := res.Calls[0]; c.Valid || c.Error != "" || c.Output == "" || c.Tokens != 2 {
			t.Errorf("a call breaking the contract: %+v, want an invalid answer with its 2 tokens of output", c)
		}
	}
	if r.Errors != 0 || r.InvalidRate != 1 {
		t.Errorf("%d failed calls, invalid rate %v; want 0 and 1", r.Errors, r.InvalidRate)
	}
}

// TestRepeat: with a temperature, each repeated call samples anew, so a
// case's consistency can fall below 1.
func TestRepeat(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 4, "Say whether the text is about cats.")
	file := writeCases(t, []map[string]any{{"input": "my cat", "expected": "yes"}, {"input": "the market", "expected": "no"}})
	out, err := runPaw(t, "test", pawPath, "--model", base, "--cases", file, "--max-tokens", "4", "--repeat", "4",
		"--temperature", "1.5", "--seed", "7", "--concurrency", "4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r testOutput
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Calls != 8 || r.Consistency == nil || *r.Consistency == 1 {
		t.Errorf("%d calls, consistency %v: want 8 calls and answers that differ", r.Calls, r.Consistency)
	}
}

// TestTestInputs: bad case files are named with their line, before any model
// loads (the model here does not exist), and nothing is written.
func TestTestInputs(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.gguf")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	malformed := write("malformed.jsonl", `{"input": "a", "expected": "b"}`+"\n"+`{"input": "c", "expected"`+"\n")
	noInput := write("noinput.jsonl", `{"input": "a"}`+"\n\n"+`{"expected": "b"}`+"\n")
	pq := filepath.Join(dir, "bench.parquet")
	type row struct {
		Question string `parquet:"question"`
		Answer   string `parquet:"answer"`
	}
	if err := parquet.WriteFile(pq, []row{{"2+2", "4"}, {"3+3", "6"}}); err != nil {
		t.Fatal(err)
	}
	old := write("report.html", "the old report")
	for _, c := range []struct {
		name string
		args []string
		is   error
		want string
	}{
		{"malformed JSONL", []string{"--cases", malformed}, nil, malformed + ":2: malformed JSON"},
		{"no input", []string{"--cases", noInput}, eval.ErrNoInput, noInput + ":3: eval: case has no input"},
		{"no column", []string{"--cases", pq, "--input-col", "prompt"}, eval.ErrNoColumn, pq + `: eval: no such column "prompt" (columns: question, answer)`},
		{"no file", []string{"--cases", filepath.Join(dir, "none.jsonl")}, os.ErrNotExist, "none.jsonl"},
		{"html dir", []string{"--cases", malformed, "--html", filepath.Join(dir, "nodir", "r.html")}, os.ErrNotExist, "--html " + filepath.Join(dir, "nodir", "r.html")},
		{"html kept", []string{"--cases", noInput, "--html", old}, eval.ErrNoInput, "case has no input"},
	} {
		_, err := runPaw(t, append([]string{"test", "p.paw", "--model", missing}, c.args...)...)
		if exitCode(err) != exitFailure || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%s: exit %d, %v; want %d, %q", c.name, exitCode(err), err, exitFailure, c.want)
		}
	}
	if b, _ := os.ReadFile(old); string(b) != "the old report" {
		t.Errorf("a failed run changed the existing --html file: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "nodir")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--html into a missing directory created it: %v", err)
	}
	// The columns that exist are read: the run gets as far as the program.
	_, err := runPaw(t, "test", "p.paw", "--model", missing, "--cases", pq, "--input-col", "question", "--expected-col", "answer")
	if err == nil || errors.Is(err, eval.ErrNoColumn) || !strings.Contains(err.Error(), "p.paw") {
		t.Errorf("parquet with its columns named: %v, want the missing program", err)
	}
}

// TestTestUsage: command lines that cannot run are usage errors (exit 2).
func TestTestUsage(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	t.Setenv("BASELINE_KEY_UNSET_FOR_TEST", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"test", "p.paw"}, "give --cases FILE or --from-spec"},
		{[]string{"test", "p.paw", "--cases", "c", "--from-spec"}, "give --cases FILE or --from-spec"},
		{[]string{"test", "p.paw", "--from-spec", "--input-col", "q"}, "--input-col names a column of --cases"},
		{[]string{"test", "--cases", "c"}, "name a program"},
		{[]string{"test", "p.paw", "--cases", "c", "--repeat", "3"}, "--repeat 3 at --temperature 0 gives the same greedy answer"},
		{[]string{"test", "p.paw", "--cases", "c", "--repeat", "0"}, "--repeat 0"},
		{[]string{"test", "p.paw", "--cases", "c", "--min-accuracy", "1.5"}, "--min-accuracy 1.5: want a rate in [0, 1]"},
		{[]string{"test", "p.paw", "--cases", "c", "--target-accuracy", "0"}, "--target-accuracy 0"},
		{[]string{"test", "p.paw", "--cases", "c", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"test", "p.paw", "--cases", "c", "--baseline-model", "m"}, "--baseline-model configures the hosted baseline"},
		{[]string{"test", "p.paw", "--cases", "c", "--price-output", "2"}, "--price-output configures the hosted baseline"},
		{[]string{"test", "p.paw", "--cases", "c", "--baseline", "http://x"}, "--baseline needs --baseline-model"},
		{[]string{"test", "p.paw", "--cases", "c", "--baseline", "http://x", "--baseline-model", "m", "--baseline-key-env", "BASELINE_KEY_UNSET_FOR_TEST"}, "BASELINE_KEY_UNSET_FOR_TEST: the variable is not set"},
		{[]string{"test", "p.paw", "--cases", "c", "--labels", "a", "--regex", "b"}, "at most one of"},
		{[]string{"test", "p.paw", "--cases", "c", "--function", "f"}, "--function is for paw.yaml's functions: leave out the program"},
		{[]string{"test", "--dir", "d", "--labels", "a"}, "--labels tests one program: name a program"},
		{[]string{"test", "--min-accuracy", "0.5"}, "--min-accuracy tests one program"},
		{[]string{"test", "--registry", "r.db"}, "--registry and --actor are for --record"},
		{[]string{"diff", "--old", "a", "--new", "b"}, `required flag(s) "cases" not set`},
		{[]string{"diff", "--old", "a", "--new", "b", "--cases", "c", "--min-agreement", "2"}, "--min-agreement 2"},
	} {
		_, err := runPaw(t, c.args...)
		if code := exitCode(err); code != exitUsage || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("paw %s: exit %d, %v; want %d, %q", strings.Join(c.args, " "), code, err, exitUsage, c.want)
		}
	}
}

// TestTestFromSpec: --from-spec takes the pseudo-program's examples; a
// stored labels contract is the default (its order orders the matrix); the
// table is for people and --html writes the page.
func TestTestFromSpec(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "qwen3-tiny", 5, "Route the ticket.\n\nExamples:\nInput: charged twice\nOutput: billing\n\n"+
		"Input: app crashes\nOutput: technical\n\nInput: office hours?\nOutput: other\n")
	p, err := program.Open(pawPath)
	if err != nil {
		t.Fatal(err)
	}
	stored := []string{"technical", "other", "billing"}
	raw, _ := json.Marshal(map[string]any{"kind": "labels", "labels": stored})
	if p.Meta.Extra == nil {
		p.Meta.Extra = map[string]json.RawMessage{}
	}
	p.Meta.Extra[program.ContractKey] = raw
	if err := p.WriteFile(pawPath); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(t.TempDir(), "report.html")
	out, err := runPaw(t, "test", pawPath, "--model", base, "--from-spec", "--json", "--html", html, "--target-accuracy", "0.9")
	if err != nil {
		t.Fatal(err)
	}
	var r testOutput
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.N != 3 || r.Scored != 3 || !cmp.Equal(r.Labels, stored) || r.Results[1].Case.Input != "app crashes" || r.Calibration == nil || r.Calibration.Target != 0.9 {
		t.Errorf("--from-spec: n %d, scored %d, labels %q, calibration %+v", r.N, r.Scored, r.Labels, r.Calibration)
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), "<html") || !strings.Contains(string(page), r.Program) {
		t.Errorf("--html: %v", err)
	}
	out, err = runPaw(t, "test", pawPath, "--model", base, "--from-spec", "--target-accuracy", "0.9")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accuracy", "normalized", "ECE", "threshold", "precision", "expected \\ answered", "technical"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestSpecColumn: of cases for several tasks (FuzzyBench rows), paw test
// runs those whose spec is the program's.
func TestSpecColumn(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 4, "Say whether the text is about cats.")
	file := writeCases(t, []map[string]any{
		{"input": "my cat", "task": "a fixture program"},
		{"input": "2+2", "task": "do sums"},
		{"input": "the market", "task": " a fixture program\n"},
		{"input": "no task", "task": nil},
	})
	out, err := runPaw(t, "test", pawPath, "--model", base, "--cases", file, "--spec-col", "task", "--max-tokens", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r testOutput
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, res := range r.Results {
		inputs = append(inputs, res.Case.Input)
	}
	if want := []string{"my cat", "the market", "no task"}; !cmp.Equal(inputs, want) {
		t.Errorf("ran cases %q, want %q", inputs, want)
	}
	other := writeCases(t, []map[string]any{{"input": "2+2", "spec": "do sums"}})
	if _, err := runPaw(t, "test", pawPath, "--model", base, "--cases", other); !errors.Is(err, eval.ErrNoCases) {
		t.Errorf("cases all for another spec: %v, want eval.ErrNoCases", err)
	}
}

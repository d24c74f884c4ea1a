package discover

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/discover/discovertest"
)

// synthLog writes the standard synthetic log (gzipped when gz) and returns
// its path, the truth and the malformed lines' numbers.
func synthLog(t *testing.T, calls int, gz bool) (string, map[time.Time]discovertest.Call, []int) {
	t.Helper()
	truth := map[time.Time]discovertest.Call{}
	var buf bytes.Buffer
	bad, err := discovertest.Write(&buf, discovertest.Config{Calls: calls, Seed: 7, Noise: 0.05, Malformed: 0.01, Repeat: 0.1, Truth: truth})
	if err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	name := "calls.jsonl"
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data, name = z.Bytes(), "calls.jsonl.gz"
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, truth, bad
}

// TestDiscoverSynthetic: on the synthetic log (plain and gzipped) the
// ranking puts the stable, narrow, busy templates first, flags the one that
// changes halfway on both sides, recovers every template's text and every
// sampled call's slot values exactly, and reports each malformed line.
func TestDiscoverSynthetic(t *testing.T) {
	for _, gz := range []bool{false, true} {
		path, truth, bad := synthLog(t, 3000, gz)
		d := New(Options{Sample: 5000})
		if err := d.ReadFiles(context.Background(), []string{path}); err != nil {
			t.Fatal(err)
		}
		r := d.Report(RankOptions{PricePer1K: 0.15})
		if r.Stats.Malformed != len(bad) || len(bad) == 0 {
			t.Errorf("gz=%v: %d malformed lines counted, want %d", gz, r.Stats.Malformed, len(bad))
		}
		var lines []int
		for _, e := range r.Stats.Errors {
			lines = append(lines, e.Line)
			if !errors.Is(e, ErrFormat) || e.File != path {
				t.Errorf("line error %v: want ErrFormat in %s", e, path)
			}
		}
		if want := bad[:min(len(bad), MaxLineErrors)]; !slices.Equal(lines, want) {
			t.Errorf("malformed lines reported %v, want %v", lines, want)
		}

		// A reworded template is mined as one with the template it rewords
		// (loosened where their texts differ): its calls count under that
		// one's key, and neither's text or slots are the truth's.
		group, reworded := map[string]string{}, map[string]bool{}
		for _, w := range discovertest.Templates {
			group[w.Key] = cmp.Or(w.Reworded, w.Key)
			if w.Reworded != "" {
				reworded[w.Reworded] = true
			}
		}
		byKey := map[string]*Template{}
		for _, tm := range r.Templates {
			keys := map[string]bool{}
			for _, ex := range tm.Examples {
				tc, ok := truth[ex.Time]
				if !ok {
					keys["noise"] = true
					continue
				}
				k := group[tc.Key]
				keys[k] = true
				if !reworded[k] && !slices.Equal(ex.Slots, tc.Slots) {
					t.Errorf("%s (template %d): slots %q, want %q", tc.Key, tm.ID, ex.Slots, tc.Slots)
				}
			}
			if len(keys) != 1 {
				t.Errorf("template %d %q mixes calls of %v", tm.ID, tm.Text, keys)
			}
			for k := range keys {
				if k != "noise" {
					if byKey[k] != nil {
						t.Errorf("%s split into templates %d and %d", k, byKey[k].ID, tm.ID)
					}
					byKey[k] = tm
				}
			}
		}
		counts := map[string]int{}
		for _, c := range truth {
			counts[group[c.Key]]++
		}
		for _, want := range discovertest.Templates {
			if want.Reworded != "" {
				continue
			}
			got := byKey[want.Key]
			if got == nil {
				t.Errorf("gz=%v: template %s not found", gz, want.Key)
				continue
			}
			if diff := gocmp.Diff(want.Segments, got.Segments); (diff != "" && !reworded[want.Key]) || got.System != want.System || got.Model != want.Model {
				t.Errorf("%s: template differs (-want +got):\n%s (system %q, model %q)", want.Key, diff, got.System, got.Model)
			}
			if got.Calls != counts[want.Key] || len(got.Examples) != got.Calls {
				t.Errorf("%s: %d calls, %d examples, want %d", want.Key, got.Calls, len(got.Examples), counts[want.Key])
			}
			stable := want.Half == 0
			if got.Stable != stable {
				t.Errorf("%s: stable = %v (%s), want %v", want.Key, got.Stable, got.Change, stable)
			}
			switch {
			case want.Labels != nil && (got.Output != OutputLabels || len(got.Labels) != len(want.Labels)):
				t.Errorf("%s: output %s %v, want labels %v", want.Key, got.Output, got.Labels, want.Labels)
			case want.JSON && (got.Output != OutputJSON || got.Shapes != 1):
				t.Errorf("%s: output %s, %d shapes, want one JSON shape", want.Key, got.Output, got.Shapes)
			case want.Labels == nil && !want.JSON && got.Output != OutputText:
				t.Errorf("%s: output %s, want text", want.Key, got.Output)
			}
			if want.Key != "summary" && (got.Consistency != 1 || got.Repeated == 0) {
				t.Errorf("%s: consistency %v over %d repeated inputs, want 1", want.Key, got.Consistency, got.Repeated)
			}
		}
		if s := byKey["intent_v1"]; s != nil && !strings.HasPrefix(s.Change, "prompt reworded at 2026-01-04") {
			t.Errorf("intent: change %q, want the rewording halfway", s.Change)
		}
		if s := byKey["summary"]; s != nil && s.Consistency >= 1 {
			t.Errorf("summary: consistency %v, want below 1 (repeats answered anew)", s.Consistency)
		}
		var order []string
		for _, tm := range r.Templates[:3] {
			for k, v := range byKey {
				if v == tm {
					order = append(order, k)
				}
			}
		}
		if !slices.Equal(order, []string{"sentiment", "ticket", "order"}) {
			for _, tm := range r.Templates {
				t.Logf("%d %s score %.3f calls %d %s stable=%v %q", tm.Rank, tm.Name, tm.Score, tm.Calls, tm.Output, tm.Stable, tm.Text)
			}
			t.Errorf("gz=%v: top three %v, want sentiment, ticket, order", gz, order)
		}
		if s := byKey["sentiment"]; s != nil && (s.CallsPerDay <= 0 || s.CostPerDay <= 0 || !s.Fits || s.Name != "classify_sentiment_review") {
			t.Errorf("sentiment: %.1f calls/day, $%.4f/day, fits %v, name %q", s.CallsPerDay, s.CostPerDay, s.Fits, s.Name)
		}
		if s := byKey["ticket"]; s != nil && !slices.Equal(s.Slots, []string{"customer", "subject", "message"}) {
			t.Errorf("ticket: slots %v", s.Slots)
		}
	}
}

// TestBounded: what a Discoverer keeps stays within its caps however many
// calls come: groups, pending messages, the sample, the answer histogram
// and the inputs remembered for consistency; what falls beyond is counted.
func TestBounded(t *testing.T) {
	d := New(Options{Sample: 50, MaxGroups: 3})
	for i := range 20000 {
		n := strconv.Itoa(i)
		d.Add(Call{Model: "m", System: "s" + strconv.Itoa(i%5), User: "Label this ticket for the queue: item " + n, Output: "answer " + n})
		d.Add(Call{Model: "m", System: "s0", User: n + strings.Repeat(" z", i%7)}) // never a template
	}
	m := d.miner
	if len(m.groups) != 3 {
		t.Errorf("%d groups, want the cap 3", len(m.groups))
	}
	for _, g := range m.groups {
		if len(g.pending) > maxPending {
			t.Errorf("%d pending messages", len(g.pending))
		}
	}
	for _, cl := range m.clusters {
		if len(cl.sample) > 50 || cl.answers != nil || len(cl.repeats) > maxRepeats {
			t.Errorf("template %q: sample %d, answers %d, repeats %d", cl.tmpl.segs, len(cl.sample), len(cl.answers), len(cl.repeats))
		}
	}
	r := d.Report(RankOptions{})
	if len(r.Templates) != 3 || r.Templates[0].Calls != 4000 || r.Templates[0].Output != OutputText || r.Unclustered != 40000-3*4000 {
		t.Errorf("%d templates (first %d calls, %s), %d calls in none", len(r.Templates), r.Templates[0].Calls, r.Templates[0].Output, r.Unclustered)
	}
}

package report_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/eval/report"
)

// The fixture is a support-ticket router with three labels, scored on 160
// cases: the compiled program (v3), its hosted baseline and the previous
// version (v2) for drift. Everything is drawn from a seeded generator, so
// the page — and docs/report.png — is reproducible.
var routerLabels = []string{"billing", "technical", "account"}

var tickets = map[string][]string{
	"billing": {
		"I was charged twice for my subscription this month",
		"Can I get a refund for the annual plan? We switched teams.",
		"My invoice shows the wrong VAT number",
		"Why was my card declined on renewal?",
		"Please send a receipt for order #4471",
		"The price went up without notice, what am I paying for now?",
		"Our PO number is missing from the last three invoices",
	},
	"technical": {
		"The app crashes when I upload a PDF larger than 10 MB",
		"Sync stopped working after the 3.2 update",
		"Getting error 502 on the dashboard since this morning",
		"Export to CSV produces an empty file",
		"Webhooks arrive twice for every event",
		"The search box ignores anything after an apostrophe",
		"Login page spins forever on Safari 17",
	},
	"account": {
		"How do I change the email on my account?",
		"I can't reset my password, the link expired",
		"Please delete my account and all my data",
		"Add a second admin to our workspace",
		"Transfer ownership of the org to my colleague",
		"Turn off the weekly summary emails",
		"Locked out after too many 2FA attempts",
	},
}

// confusable is the label a wrong answer most often picks.
var confusable = map[string]string{"billing": "account", "technical": "account", "account": "billing"}

type behaviour struct {
	accuracy      map[string]float64
	latencyMedian float64 // ms
	promptTokens  int
	confidence    bool
}

func fixturePage() report.Page {
	rng := rand.New(rand.NewPCG(7, 12))
	channels := []string{"email", "chat", "phone"}
	var cases []eval.Case
	for i := range 160 {
		label := routerLabels[rng.IntN(3)]
		text := tickets[label][rng.IntN(len(tickets[label]))]
		if rng.IntN(3) == 0 {
			text = "Hi! " + text + " Thanks."
		}
		tags := []string{channels[rng.IntN(3)]}
		if rng.IntN(8) == 0 {
			tags = append(tags, "enterprise")
		}
		cases = append(cases, eval.Case{Input: text, Expected: label, HasExpected: true, Tags: tags,
			Source: fmt.Sprintf("tickets.jsonl:%d", i+1)})
	}
	program := behaviour{accuracy: map[string]float64{"billing": 0.95, "technical": 0.93, "account": 0.85},
		latencyMedian: 38, promptTokens: 92, confidence: true}
	previous := behaviour{accuracy: map[string]float64{"billing": 0.9, "technical": 0.9, "account": 0.8},
		latencyMedian: 41, promptTokens: 92, confidence: true}
	hosted := behaviour{accuracy: map[string]float64{"billing": 0.97, "technical": 0.96, "account": 0.94},
		latencyMedian: 780, promptTokens: 431}
	opts := eval.Options{Labels: routerLabels, TargetAccuracy: 0.97}
	v3 := eval.Score(simulate(rng, cases, program, true), opts)
	v2 := eval.Score(simulate(rng, cases, previous, false), opts)
	base := eval.Score(simulate(rng, cases, hosted, false), opts)
	drift, err := eval.Compare(v2, v3)
	if err != nil {
		panic(err)
	}
	return report.Page{
		Title: "ticket-router v3 · test report", Name: "ticket-router v3", Report: v3,
		Baseline: base, BaselineName: "gpt-4o", Price: &report.Price{PromptPerMillion: 2.50, GeneratedPerMillion: 10},
		Drift: drift, OldName: "v2", NewName: "v3",
		Generated: time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC),
	}
}

// simulate answers cases as a runner with behaviour b would; with quirks,
// two answers fall outside the label set and one call times out.
func simulate(rng *rand.Rand, cases []eval.Case, b behaviour, quirks bool) []eval.Result {
	results := make([]eval.Result, len(cases))
	for i, c := range cases {
		right := rng.Float64() < b.accuracy[c.Expected]
		out := c.Expected
		if !right {
			out = confusable[c.Expected]
			if rng.IntN(3) == 0 {
				out = routerLabels[(slices.Index(routerLabels, c.Expected)+1)%3]
			}
		}
		call := eval.Call{Output: out, Valid: true, Tokens: 2, PromptTokens: b.promptTokens + len(c.Input)/4,
			LatencyMS: math.Round(b.latencyMedian*math.Exp(0.35*rng.NormFloat64())*100) / 100}
		if b.confidence {
			u := rng.Float64()
			conf := 0.99 - 0.4*math.Pow(u, 3)
			if !right {
				conf = 0.4 + 0.5*u
			}
			call.Confidence = &conf
		}
		switch {
		case quirks && (i == 17 || i == 88):
			call.Output, call.Valid = "refund", false
		case quirks && i == 120:
			call = eval.Call{Error: "interp: context deadline exceeded", LatencyMS: 5000}
		}
		results[i] = eval.Result{Case: c, Calls: []eval.Call{call}}
	}
	return results
}

// Package discovertest writes synthetic LLM call logs for tests and
// benchmarks of package discover: several templates with different volumes
// and answer kinds, one whose prompt changes halfway, noise calls and
// malformed lines, with the truth (each call's template and slot values)
// to check the mining against.
package discovertest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// Template is one synthetic template.
type Template struct {
	Key      string // the test's name for it
	Model    string
	System   string
	Segments []string // literal text around the slots
	Labels   []string // answers drawn from these; nil: JSON or free text
	JSON     bool     // answers are {"product", "quantity", "express"} objects
	Weight   int      // relative volume
	// Half: 1 only in the log's first half, 2 only in its second, 0 all
	// through.
	Half int
	// Reworded names the template this one rewords in place (same model
	// and system message): mining finds one template for both, loosened
	// where their texts differ.
	Reworded string
}

// Templates are the standard set: from busiest, narrowest to least.
var Templates = []Template{
	{Key: "sentiment", Model: "gpt-4o-mini", System: "You are a sentiment classifier for product reviews.",
		Segments: []string{"Classify the sentiment of this review as positive, negative or neutral.\n\nReview: ", ""},
		Labels:   []string{"positive", "negative", "neutral"}, Weight: 40},
	{Key: "ticket", Model: "gpt-4o-mini", System: "You route support tickets to teams.",
		Segments: []string{"Customer: ", "\nSubject: ", "\nMessage: ", "\n\nWhich team should handle this ticket? Answer billing, technical, account or sales."},
		Labels:   []string{"billing", "technical", "account", "sales"}, Weight: 25},
	{Key: "spam_v1", Model: "gpt-4o-mini", System: "You are a spam filter.",
		Segments: []string{"Is this message spam? Answer spam or ham.\nMessage: ", ""},
		Labels:   []string{"spam", "ham"}, Weight: 40, Half: 1},
	{Key: "spam_v2", Model: "gpt-4o-mini", System: "You are a strict spam filter for a bank's SMS gateway.",
		Segments: []string{"Decide whether the following SMS is spam. Reply with one word, spam or ham.\n\nSMS: ", "\nAnswer:"},
		Labels:   []string{"spam", "ham"}, Weight: 40, Half: 2},
	{Key: "intent_v1", Model: "gpt-4o-mini", System: "You triage incoming customer messages.",
		Segments: []string{"Classify the intent of this message as question, complaint or praise.\nMessage: ", ""},
		Labels:   []string{"question", "complaint", "praise"}, Weight: 15, Half: 1},
	{Key: "intent_v2", Model: "gpt-4o-mini", System: "You triage incoming customer messages.",
		Segments: []string{"Classify the intent of this customer message as question, complaint or praise.\nMessage: ", ""},
		Labels:   []string{"question", "complaint", "praise"}, Weight: 15, Half: 2, Reworded: "intent_v1"},
	{Key: "order", Model: "gpt-4o", System: "You extract structured order details from customer emails.",
		Segments: []string{"Extract the order from this email as JSON with product, quantity and express.\n\nEmail:\n", ""},
		JSON:     true, Weight: 12},
	{Key: "summary", Model: "gpt-4o", System: "You summarize support conversations for the weekly report.",
		Segments: []string{"Summarize this conversation in two sentences:\n\ncustomer: ", "\nagent: ", ""}, Weight: 10},
	{Key: "language", Model: "gpt-4o-mini", System: "You detect the language of short texts.",
		Segments: []string{"What language is this text written in? Answer with its ISO code.\nText: ", ""},
		Labels:   []string{"en", "fr", "de", "es"}, Weight: 2},
}

// NoiseSystem is the system message of the noise calls.
const NoiseSystem = "You are a helpful assistant."

// Config configures Write.
type Config struct {
	Calls     int // calls written (noise included)
	Seed      uint64
	Start     time.Time // the first call's time (2026-01-01 UTC when zero)
	Days      int       // the span the calls spread over (7 when 0)
	Noise     float64   // share of noise calls (one-off questions)
	Malformed float64   // share of malformed lines added
	Repeat    float64   // share of calls that repeat an earlier input of their template
	// Truth, when set, receives each template call's slot values, keyed by
	// the call's time (unique per call).
	Truth map[time.Time]Call
}

// Call is one template call's truth.
type Call struct {
	Key   string
	Slots []string
}

// Write writes an OpenAI-format log (one {"request", "response"} line a
// call) of cfg.Calls calls of Templates in time order, and returns the
// malformed lines' numbers (1-based).
func Write(w io.Writer, cfg Config) ([]int, error) {
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Days == 0 {
		cfg.Days = 7
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 42))
	step := time.Duration(cfg.Days) * 24 * time.Hour / time.Duration(max(cfg.Calls, 1))
	past := map[string][][]string{}
	var malformed []int
	line := 0
	var buf []byte
	for i := range cfg.Calls {
		at := cfg.Start.Add(time.Duration(i) * step)
		if rng.Float64() < cfg.Malformed {
			line++
			malformed = append(malformed, line)
			bad := []string{`{"request": {"model": "gpt-4o-mini"`, `not json at all`, `{"request": null, "response": null}`, `[1, 2]`}
			if _, err := fmt.Fprintln(w, bad[rng.IntN(len(bad))]); err != nil {
				return nil, err
			}
		}
		var model, system, user, answer string
		if rng.Float64() < cfg.Noise {
			model, system = "gpt-4o-mini", NoiseSystem
			user, answer = question(rng), sentence(rng, 8, 30)+"."
		} else {
			t := pick(rng, i*2 >= cfg.Calls)
			slots := slotValues(rng, t)
			if prev := past[t.Key]; len(prev) > 0 && rng.Float64() < cfg.Repeat {
				slots = prev[rng.IntN(len(prev))]
			} else if len(prev) < 1000 {
				past[t.Key] = append(prev, slots)
			}
			model, system, user, answer = t.Model, t.System, render(t, slots), answerFor(t, slots, rng)
			if cfg.Truth != nil {
				cfg.Truth[at] = Call{Key: t.Key, Slots: slots}
			}
		}
		rec := map[string]any{
			"request": map[string]any{"model": model, "messages": []map[string]string{
				{"role": "system", "content": system}, {"role": "user", "content": user}}},
			"response": map[string]any{"id": fmt.Sprintf("chatcmpl-%d", i), "object": "chat.completion", "created": at.Unix(),
				"model": model + "-2024-07-18", "choices": []map[string]any{{"index": 0, "finish_reason": "stop",
					"message": map[string]string{"role": "assistant", "content": answer}}},
				"usage": map[string]int{"prompt_tokens": (len(system)+len(user))/4 + 8, "completion_tokens": len(answer)/4 + 1}},
			"timestamp": at.Format(time.RFC3339Nano),
		}
		var err error
		if buf, err = json.Marshal(rec); err != nil {
			return nil, err
		}
		line++
		if _, err := w.Write(append(buf, '\n')); err != nil {
			return nil, err
		}
	}
	return malformed, nil
}

// pick draws a template by weight, among those of the log's half.
func pick(rng *rand.Rand, secondHalf bool) Template {
	total := 0
	var live []Template
	for _, t := range Templates {
		if t.Half == 0 || (t.Half == 2) == secondHalf {
			live = append(live, t)
			total += t.Weight
		}
	}
	k := rng.IntN(total)
	for _, t := range live {
		if k < t.Weight {
			return t
		}
		k -= t.Weight
	}
	return live[len(live)-1]
}

// render fills t's slots.
func render(t Template, slots []string) string {
	var b strings.Builder
	for i, s := range t.Segments {
		if i > 0 {
			b.WriteString(slots[i-1])
		}
		b.WriteString(s)
	}
	return b.String()
}

var vocabulary = strings.Fields(`order delivery arrived broken late quickly support refund invoice charged twice
password login account screen update crash battery works great terrible love hate price shipping box color size
phone laptop charger cable headphones speaker camera weekend yesterday today morning never always again store
manager friendly rude waiting hours days week month replacement warranty discount coupon free premium plan
upgrade cancel subscription billing card bank transfer payment failed error message app website slow fast
quality cheap expensive recommend return exchange package lost tracking number address change email`)

var names = strings.Fields(`Alice Bruno Chen Dana Emeka Farah Goran Hana Ivan Jules Kofi Lena Mateo Nadia Omar Priya Quinn Rosa Sven Tomas`)

// sentence is lo to hi random words.
func sentence(rng *rand.Rand, lo, hi int) string {
	n := lo + rng.IntN(hi-lo+1)
	words := make([]string, n)
	for i := range words {
		words[i] = vocabulary[rng.IntN(len(vocabulary))]
	}
	words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
	return strings.Join(words, " ")
}

func question(rng *rand.Rand) string {
	starts := []string{"How do I", "Why does my", "Can you explain", "Write a poem about", "What is the best"}
	return starts[rng.IntN(len(starts))] + " " + strings.ToLower(sentence(rng, 3, 12)) + "?"
}

// slotValues draws t's slot values (one line each).
func slotValues(rng *rand.Rand, t Template) []string {
	slots := make([]string, len(t.Segments)-1)
	for i := range slots {
		switch {
		case t.Key == "ticket" && i == 0:
			slots[i] = names[rng.IntN(len(names))] + " " + names[rng.IntN(len(names))]
		case t.Key == "ticket" && i == 1:
			slots[i] = sentence(rng, 2, 6)
		default:
			// Endings vary, so that no punctuation is fixed text.
			slots[i] = sentence(rng, 4, 20) + []string{".", "!", "?", ""}[rng.IntN(4)]
		}
	}
	return slots
}

// answerFor is the hosted model's answer: a function of the input for
// labels and JSON (repeated inputs are answered the same), random text for
// summaries.
func answerFor(t Template, slots []string, rng *rand.Rand) string {
	h := uint64(14695981039346656037)
	for _, s := range slots {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * 1099511628211
		}
	}
	switch {
	case t.Labels != nil:
		return t.Labels[h%uint64(len(t.Labels))]
	case t.JSON:
		b, _ := json.Marshal(map[string]any{"product": vocabulary[h%uint64(len(vocabulary))], "quantity": 1 + h%5, "express": h%2 == 0})
		return string(b)
	}
	return sentence(rng, 10, 25) + ". " + sentence(rng, 8, 20) + "."
}

package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw"
)

// varySwitches are the engine switches paw bench --vary turns off and on.
var varySwitches = map[string]func(*paw.Options, bool){
	"flash-attn": func(o *paw.Options, on bool) { o.FlashAttn = on },
	"adapter":    func(o *paw.Options, on bool) { o.NoAdapter = !on },
}

// variantBench is one line of `paw bench --vary --json`: one combination of
// the switches, its p50 in each round and their median.
type variantBench struct {
	Program  string          `json:"program"`
	Switches map[string]bool `json:"switches"` // flash_attn, adapter: on or off
	Rounds   []float64       `json:"p50_ms_rounds"`
	P50MS    float64         `json:"p50_ms"` // median of Rounds
	// TokensPerCall shows whether the combinations did the same work (outputs
	// change without the adapter).
	TokensPerCall float64 `json:"tokens_per_call"`
}

func checkVary(vary []string, rounds int, flash bool) error {
	if len(vary) == 0 {
		return usagef("--rounds needs --vary")
	}
	if rounds < 1 {
		return usagef("--rounds %d: want at least 1", rounds)
	}
	for i, v := range vary {
		if _, ok := varySwitches[v]; !ok {
			return usagef("--vary %q: want flash-attn or adapter", v)
		}
		if slices.Contains(vary[:i], v) {
			return usagef("--vary %s given twice", v)
		}
	}
	if flash && slices.Contains(vary, "flash-attn") {
		return usagef("--flash-attn does nothing with --vary flash-attn")
	}
	return nil
}

// benchVariants runs measure on a fresh engine for every combination of the
// vary switches (all off first), rounds times in alternation, so that a
// shared machine's drift falls on every combination alike.
func benchVariants(cmd *cobra.Command, base paw.Options, vary []string, rounds int,
	measure func(*paw.Engine) (programBench, error), asJSON bool) error {
	res := make([]variantBench, 1<<len(vary))
	for range rounds {
		for c := range res {
			o := base
			sw := map[string]bool{}
			for i, name := range vary {
				on := c&(1<<i) != 0
				varySwitches[name](&o, on)
				sw[strings.ReplaceAll(name, "-", "_")] = on
			}
			eng, err := paw.Open(cmd.Context(), o)
			if err != nil {
				return err
			}
			r, err := measure(eng)
			eng.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", switchesString(vary, sw), err)
			}
			res[c].Program, res[c].Switches, res[c].TokensPerCall = r.Program, sw, r.TokensPerCall
			res[c].Rounds = append(res[c].Rounds, r.P50MS)
		}
	}
	w := cmd.OutOrStdout()
	for _, r := range res {
		r.P50MS = median(r.Rounds)
		var err error
		if asJSON {
			err = writeJSON(w, r)
		} else {
			ps := make([]string, len(r.Rounds))
			for i, p := range r.Rounds {
				ps[i] = fmt.Sprintf("%.1f", p)
			}
			_, err = fmt.Fprintf(w, "%s: p50 %.1f ms (median of rounds: %s ms), %.1f tokens per call\n",
				switchesString(vary, r.Switches), r.P50MS, strings.Join(ps, ", "), r.TokensPerCall)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func switchesString(vary []string, sw map[string]bool) string {
	parts := make([]string, len(vary))
	for i, name := range vary {
		parts[i] = name + "=off"
		if sw[strings.ReplaceAll(name, "-", "_")] {
			parts[i] = name + "=on"
		}
	}
	return strings.Join(parts, " ")
}

// median of xs (not empty), the mean of the middle two for an even count.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Command triage reads log lines and support messages, one per line on
// stdin, and prints what to do with each as a JSON line. It is the example
// of a project whose fuzzy functions live in paw.yaml: paw build pins them in
// paw.lock, paw gen go -o fuzzy writes the typed package it calls, and the
// lock is embedded so the binary runs exactly the programs it was built for.
//
//	paw build && paw gen go -o fuzzy
//	go run . < lines.txt
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/examples/triage/fuzzy"
)

//go:embed paw.lock
var lockFile []byte

// supportPrefix marks a customer message rather than a log line.
const supportPrefix = "support:"

// maxRecordTokens bounds a repaired record: the schema caps its strings, so
// a record always fits.
const maxRecordTokens = 384

// Report is what the program says about one line.
type Report struct {
	Line string `json:"line"`
	// Record is an almost-JSON log line, repaired; its level, service and
	// message are what is triaged.
	Record *fuzzy.RepairJSON `json:"record,omitempty"`
	Action fuzzy.LogTriage   `json:"action,omitempty"` // log lines
	Intent fuzzy.Intent      `json:"intent,omitempty"` // support messages
	// Confidence is the probability of the action or intent.
	Confidence float64 `json:"confidence"`
}

// triage reports on each line: a support message gets its intent, a log
// line (repaired first when it is almost-JSON) what to do about it.
func triage(ctx context.Context, lib *fuzzy.Library, lines []string) ([]Report, error) {
	reports := make([]Report, 0, len(lines))
	for _, line := range lines {
		r := Report{Line: line}
		text := strings.TrimSpace(line)
		var err error
		switch {
		case strings.HasPrefix(text, supportPrefix):
			var probs map[fuzzy.Intent]float64
			r.Intent, probs, err = lib.Intent(ctx, strings.TrimSpace(strings.TrimPrefix(text, supportPrefix)))
			r.Confidence = probs[r.Intent]
		default:
			if strings.HasPrefix(text, "{") {
				rec, rerr := lib.RepairJSON(ctx, text, paw.WithMaxTokens(maxRecordTokens))
				if rerr != nil {
					return nil, fmt.Errorf("repair %q: %w", line, rerr)
				}
				r.Record = &rec
				text = fmt.Sprintf("%s %s: %s", strings.ToUpper(rec.Level), rec.Service, rec.Message)
			}
			var probs map[fuzzy.LogTriage]float64
			r.Action, probs, err = lib.LogTriage(ctx, text)
			r.Confidence = probs[r.Action]
		}
		if err != nil {
			return nil, fmt.Errorf("triage %q: %w", line, err)
		}
		reports = append(reports, r)
	}
	return reports, nil
}

func main() {
	model := flag.String("model", "", "base model GGUF to run the programs on (default: the one their runtime names, downloaded)")
	offline := flag.Bool("offline", false, "use only cached programs and models")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *model, *offline); err != nil {
		fmt.Fprintln(os.Stderr, "triage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, model string, offline bool) error {
	var lines []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			lines = append(lines, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	eng, err := paw.Open(ctx, paw.Options{Model: model, Offline: offline})
	if err != nil {
		return err
	}
	defer eng.Close()
	lib, err := fuzzy.Open(ctx, eng, lockFile)
	if err != nil {
		return err
	}
	defer lib.Close()
	reports, err := triage(ctx, lib, lines)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	for _, r := range reports {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

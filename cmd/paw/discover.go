package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/discover"
	"github.com/paw-dev/paw/library"
)

// discoverOutput is one template of paw discover --json.
type discoverOutput struct {
	Rank          int                   `json:"rank"`
	ID            int                   `json:"id"`
	Name          string                `json:"name"`
	Model         string                `json:"model"`
	Calls         int                   `json:"calls"`
	CallsPerDay   float64               `json:"calls_per_day"`
	First         *time.Time            `json:"first,omitempty"`
	Last          *time.Time            `json:"last,omitempty"`
	Coverage      float64               `json:"coverage"`
	Stable        bool                  `json:"stable"`
	Change        string                `json:"change,omitempty"`
	Output        string                `json:"output"`
	Labels        []discover.LabelCount `json:"labels,omitempty"`
	Schema        any                   `json:"schema,omitempty"`
	Shapes        int                   `json:"shapes,omitempty"`
	InputTokens   int                   `json:"input_tokens"`
	Fits          bool                  `json:"fits"`
	Consistency   float64               `json:"consistency"`
	Repeated      int                   `json:"repeated"`
	TokensPerCall float64               `json:"tokens_per_call"`
	CostPerDay    float64               `json:"cost_per_day"`
	Score         float64               `json:"score"`
	System        string                `json:"system"`
	Template      string                `json:"template"`
	Slots         []string              `json:"slots"`
}

// exportOutput is paw discover --export's summary line.
type exportOutput struct {
	Function  string `json:"function"`
	Template  int    `json:"template"`
	Manifest  string `json:"manifest"`
	Cases     string `json:"cases"`
	Training  string `json:"training"`
	NCases    int    `json:"n_cases"`
	NTraining int    `json:"n_training"`
}

type discoverFlags struct {
	opts   discover.Options
	rank   discover.RankOptions
	export discover.ExportOptions
	format string
	name   string
	top    int
	redact bool
	asJSON bool
}

func newDiscoverCmd() *cobra.Command {
	var d discoverFlags
	cmd := &cobra.Command{
		Use:   "discover LOG... [--json] [--export NAME --to paw.yaml]",
		Short: "Find the fuzzy functions in LLM call logs: templates ranked by how well they would compile",
		Long: `Read LLM call logs and list the prompt templates in them, best candidates for a
compiled function first: busy (calls a day), stable (the prompt did not change
over the log's span), narrow (a label set, or one JSON shape), inputs that fit
the interpreter's context, the same input answered the same way, and the money
at stake (--price-per-1k).

Logs are JSON lines, gzipped or not: OpenAI chat-completions
{"request": …, "response": …, "timestamp": …} lines, the Batch API's input
and output files (give both; joined by custom_id), or any JSONL with
messages or prompt and output or completion (--format generic; --*-field
name other fields, dotted for nested ones). Malformed lines are counted and
reported, never fatal; memory stays bounded on logs of any size.

--export NAME (a name or id from the table) appends the template to a
paw.yaml (--to) as a function: the spec drafted from the prompt and marked
for editing, the labels or inferred JSON Schema as its contract, owner and
scope placeholders, the logged model as its baseline; it writes
cases/NAME.jsonl (a held-out split, the logged answers as expected) and
training/NAME.jsonl (the rest, for paw compile --local --examples).
Emails, phone numbers and long digit runs are redacted from all output
unless --redact=false.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return d.run(cmd, args) },
	}
	f := cmd.Flags()
	f.StringVar(&d.format, "format", "auto", "log format: auto, openai, batch-input, batch-output or generic")
	f.StringVar(&d.opts.Fields.Messages, "messages-field", "", `generic logs: the chat messages field (default "messages")`)
	f.StringVar(&d.opts.Fields.Prompt, "prompt-field", "", `generic logs: the prompt field, without messages (default "prompt")`)
	f.StringVar(&d.opts.Fields.System, "system-field", "", `generic logs: a system message beside the prompt (default "system")`)
	f.StringVar(&d.opts.Fields.Output, "output-field", "", `generic logs: the answer field (default "output", "completion" or "response")`)
	f.StringVar(&d.opts.Fields.Model, "model-field", "", `generic logs: the model field (default "model")`)
	f.StringVar(&d.opts.Fields.Time, "time-field", "", `generic logs: the time field, RFC 3339 or Unix seconds (default "timestamp", "time", "created_at" or "created")`)
	f.IntVar(&d.opts.Sample, "sample", discover.DefaultSample, "examples kept per template (the cases and training examples an export writes)")
	f.Float64Var(&d.rank.PricePer1K, "price-per-1k", 0, "the hosted model's price in dollars per 1,000 tokens, for the cost a day")
	f.IntVar(&d.rank.ContextTokens, "context-tokens", discover.DefaultContextTokens, "the interpreter's context in tokens")
	f.IntVar(&d.rank.MinCalls, "min-calls", discover.DefaultMinCalls, "leave out templates with fewer calls")
	f.IntVar(&d.top, "top", 0, "print only the best N templates (0: all)")
	f.BoolVar(&d.asJSON, "json", false, "one JSON line per template (with --export, one line for the export)")
	f.BoolVar(&d.redact, "redact", true, "redact emails, phone numbers and long digit runs from all output")
	f.StringVar(&d.name, "export", "", "append the template of this name or id to a manifest as a function")
	f.StringVar(&d.export.Manifest, "to", library.ManifestFile, "with --export: the paw.yaml to append to (created when missing)")
	f.StringVar(&d.export.Name, "as", "", "with --export: the function's name (default the template's)")
	f.Float64Var(&d.export.HoldOut, "holdout", discover.DefaultHoldOut, "with --export: the share of inputs written as test cases")
	f.StringVar(&d.export.BaselineURL, "baseline-url", discover.DefaultBaselineURL, "with --export: the logged model's OpenAI-compatible API")
	return cmd
}

// check validates flags before anything is read.
func (d *discoverFlags) check(cmd *cobra.Command) error {
	switch f := discover.Format(d.format); f {
	case "auto":
		d.opts.Format = discover.FormatAuto
	case discover.FormatOpenAI, discover.FormatBatchInput, discover.FormatBatchOutput, discover.FormatGeneric:
		d.opts.Format = f
	default:
		return usagef("--format %q: want auto, openai, batch-input, batch-output or generic", d.format)
	}
	if d.name == "" {
		for _, n := range []string{"to", "as", "holdout", "baseline-url"} {
			if cmd.Flags().Changed(n) {
				return usagef("--%s configures an export: give --export NAME too", n)
			}
		}
	}
	switch {
	case d.opts.Sample < 1:
		return usagef("--sample %d: want 1 or more", d.opts.Sample)
	case d.rank.PricePer1K < 0:
		return usagef("--price-per-1k: want 0 or more")
	case d.rank.ContextTokens < 1 || d.rank.MinCalls < 1 || d.top < 0:
		return usagef("--context-tokens and --min-calls: want 1 or more; --top: 0 or more")
	case !(d.export.HoldOut > 0 && d.export.HoldOut < 1):
		return usagef("--holdout %v: want a share between 0 and 1", d.export.HoldOut)
	}
	d.export.Redact = d.redact
	return nil
}

func (d *discoverFlags) run(cmd *cobra.Command, logs []string) error {
	if err := d.check(cmd); err != nil {
		return err
	}
	start := time.Now()
	dv := discover.New(d.opts)
	if err := dv.ReadFiles(cmd.Context(), logs); err != nil {
		return err
	}
	r := dv.Report(d.rank)
	d.summary(cmd.ErrOrStderr(), r, time.Since(start))
	if d.name != "" {
		return d.exportOne(cmd, r)
	}
	ts := r.Templates
	if d.top > 0 && len(ts) > d.top {
		ts = ts[:d.top]
	}
	if d.asJSON {
		for _, t := range ts {
			if err := writeJSON(cmd.OutOrStdout(), d.jsonTemplate(t)); err != nil {
				return err
			}
		}
		return nil
	}
	return d.table(cmd.OutOrStdout(), ts)
}

// summary prints what was read, and the first malformed lines, to stderr.
func (d *discoverFlags) summary(w io.Writer, r *discover.Report, took time.Duration) {
	st := r.Stats
	fmt.Fprintf(w, "paw discover: %d calls in %d lines (%.1f MB, %.1f MB/s), %d templates, %d calls in none",
		st.Calls, st.Lines, float64(st.Bytes)/1e6, float64(st.Bytes)/1e6/max(took.Seconds(), 1e-3), len(r.Templates), r.Unclustered)
	if st.Unanswered > 0 {
		fmt.Fprintf(w, ", %d batch requests without an answer", st.Unanswered)
	}
	fmt.Fprintln(w)
	if st.Malformed > 0 {
		fmt.Fprintf(w, "paw discover: %d malformed lines skipped:\n", st.Malformed)
		for _, e := range st.Errors {
			fmt.Fprintf(w, "  %v\n", e)
		}
		if st.Malformed > len(st.Errors) {
			fmt.Fprintf(w, "  … and %d more\n", st.Malformed-len(st.Errors))
		}
	}
}

func (d *discoverFlags) exportOne(cmd *cobra.Command, r *discover.Report) error {
	var t *discover.Template
	for _, x := range r.Templates {
		if x.Name == d.name || strconv.Itoa(x.ID) == d.name {
			t = x
		}
	}
	if t == nil {
		return usagef("--export %s: no template of that name or id (see the table of paw discover without --export)", d.name)
	}
	e, err := discover.Export(t, d.export)
	if err != nil {
		return err
	}
	out := exportOutput{Function: e.Function, Template: t.ID, Manifest: e.Manifest, Cases: e.Cases, Training: e.Training,
		NCases: e.NCases, NTraining: e.NTraining}
	if d.asJSON {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "added %s to %s (edit its spec, owner and scope)\n%s: %d test cases\n%s: %d training examples\n"+
		"next: paw build --dir %s && paw test --dir %s --function %s\n",
		e.Function, e.Manifest, e.Cases, e.NCases, e.Training, e.NTraining, filepath.Dir(e.Manifest), filepath.Dir(e.Manifest), e.Function)
	return nil
}

// red redacts s when --redact is on.
func (d *discoverFlags) red(s string) string {
	if d.redact {
		return discover.Redact(s)
	}
	return s
}

func (d *discoverFlags) jsonTemplate(t *discover.Template) discoverOutput {
	o := discoverOutput{Rank: t.Rank, ID: t.ID, Name: t.Name, Model: t.Model, Calls: t.Calls, CallsPerDay: t.CallsPerDay,
		Coverage: t.Coverage, Stable: t.Stable, Change: t.Change, Output: t.Output, Labels: t.Labels, Shapes: t.Shapes,
		InputTokens: t.InputTokens, Fits: t.Fits, Consistency: t.Consistency, Repeated: t.Repeated, TokensPerCall: t.TokensPerCall,
		CostPerDay: t.CostPerDay, Score: t.Score, System: d.red(t.System), Template: d.red(t.Text), Slots: t.Slots}
	if !t.First.IsZero() {
		o.First, o.Last = &t.First, &t.Last
	}
	if t.Schema != nil {
		o.Schema = t.Schema
	}
	return o
}

// table prints the templates, one row each.
func (d *discoverFlags) table(w io.Writer, ts []*discover.Template) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tNAME\tMODEL\tCALLS\tCALLS/DAY\tSTABLE\tANSWERS\tINPUT TOK\tCONSISTENT\t$/DAY\tTEMPLATE")
	for _, t := range ts {
		stable := "yes"
		if !t.Stable {
			stable = "CHANGED"
		}
		answers := t.Output
		switch t.Output {
		case discover.OutputLabels:
			answers = fmt.Sprintf("%d labels", len(t.Labels))
		case discover.OutputJSON:
			answers = "json"
			if t.Shapes > 1 {
				answers = fmt.Sprintf("json, %d shapes", t.Shapes)
			}
		}
		fits := strconv.Itoa(t.InputTokens)
		if !t.Fits {
			fits += " (too long)"
		}
		text := strings.ReplaceAll(d.red(t.Text), "\n", `\n`)
		if r := []rune(text); len(r) > 60 {
			text = string(r[:59]) + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%.2f\t%.2f\t%s\n", t.Rank, t.Name, t.Model, t.Calls, t.CallsPerDay,
			stable, answers, fits, t.Consistency, t.CostPerDay, text)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range ts {
		if !t.Stable {
			fmt.Fprintf(w, "%s: %s\n", t.Name, t.Change)
		}
	}
	return nil
}

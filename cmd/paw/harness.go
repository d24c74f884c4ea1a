package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/schema"
)

// harnessFlags are what `paw test` and `paw diff` share: the cases, the base
// model, how each call runs, and the outputs.
type harnessFlags struct {
	casesFile         string
	cols              eval.Columns
	model             string
	threads           int
	maxTokens         int
	concurrency       int
	labels            []string
	schemaFile, regex string
	html              string
	asJSON            bool
	failing           int
}

func (h *harnessFlags) register(f *pflag.FlagSet) {
	f.StringVar(&h.casesFile, "cases", "", "test cases: JSONL ({\"input\", \"expected\", \"tags\"} per line) or .parquet")
	f.StringVar(&h.cols.Input, "input-col", "", "field or column holding the input (default \"input\")")
	f.StringVar(&h.cols.Expected, "expected-col", "", "field or column holding the expected answer (default \"expected\", optional)")
	f.StringVar(&h.cols.Tags, "tags-col", "", "field or column holding each case's tags, a list of strings (default \"tags\", optional)")
	f.StringVar(&h.model, "model", "", "base model GGUF to use instead of the program's runtime")
	f.IntVar(&h.threads, "threads", 0, "compute threads (default PAW_THREADS, or one per core)")
	f.IntVar(&h.maxTokens, "max-tokens", 512, "most output tokens per call")
	f.IntVar(&h.concurrency, "concurrency", 1, "calls at once (the engine batches them; 1 measures lone-call latency)")
	f.StringArrayVar(&h.labels, "labels", nil, labelsUsage+" (default: the program's stored contract)")
	f.StringVar(&h.schemaFile, "schema", "", "answer JSON valid against this JSON Schema file")
	f.StringVar(&h.regex, "regex", "", "answer text matching this regular expression as a whole")
	f.StringVar(&h.html, "html", "", "also write the report as one self-contained HTML page to this file")
	f.IntVar(&h.failing, "failing", 10, "failing cases (or flips) listed in the table")
	f.BoolVar(&h.asJSON, "json", false, "print the report as one JSON line")
}

// columnFlags names the flags that pick case columns.
var columnFlags = []string{"input-col", "expected-col", "tags-col", "spec-col"}

// check validates the flags shared by both commands, before any model or
// case file is opened, and returns the contract given on the command line.
func (h *harnessFlags) check() (*schema.Contract, error) {
	if h.maxTokens < 1 {
		return nil, usagef("--max-tokens %d: want at least 1", h.maxTokens)
	}
	if h.concurrency < 1 {
		return nil, usagef("--concurrency %d: want at least 1", h.concurrency)
	}
	if h.failing < 0 {
		return nil, usagef("--failing %d: want 0 or more", h.failing)
	}
	if h.html != "" {
		// Checked now, not after a long run: the page is written last.
		dir := filepath.Dir(h.html)
		if st, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("--html %s: %w", h.html, err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("--html %s: %s is not a directory", h.html, dir)
		}
	}
	return contractFlags(h.labels, h.schemaFile, h.regex)
}

// readCases reads --cases.
func (h *harnessFlags) readCases() ([]eval.Case, error) {
	return eval.OpenCases(h.casesFile, h.cols)
}

// open opens the engine the functions run on.
func (h *harnessFlags) open(cmd *cobra.Command, cfg *config.Config) (*paw.Engine, error) {
	return h.openModel(cmd, cfg, h.model)
}

// openModel opens an engine on base model (a GGUF file; "" for each program's runtime).
func (h *harnessFlags) openModel(cmd *cobra.Command, cfg *config.Config, model string) (*paw.Engine, error) {
	threads := h.threads
	if threads == 0 {
		threads = cfg.Threads
	}
	return paw.Open(cmd.Context(), paw.Options{Model: model, Threads: threads, Hub: newHubClient(cmd, cfg), KVCacheMax: cfg.KVCacheMax})
}

// loadFunction loads ref, adding the flag to a missing-runtime error.
func loadFunction(cmd *cobra.Command, eng *paw.Engine, ref string) (*paw.Function, error) {
	fn, err := eng.Function(cmd.Context(), ref)
	if errors.Is(err, paw.ErrNoRuntime) {
		return nil, fmt.Errorf("%w (with paw: --model FILE.gguf)", err)
	}
	return fn, err
}

// callOptions are the options of every call: the output bound and the
// contract given on the command line (none: the program's own).
func (h *harnessFlags) callOptions(given *schema.Contract) []paw.Option {
	opts := []paw.Option{paw.WithMaxTokens(h.maxTokens)}
	if given != nil {
		opts = append(opts, paw.WithContract(*given))
	}
	return opts
}

// gateList is each failed gate of a joined gate error, for --json.
func gateList(err error) []string {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var list []string
	for _, e := range errs {
		list = append(list, strings.TrimPrefix(e.Error(), eval.ErrGate.Error()+": "))
	}
	return list
}

// table writes aligned columns; rows are tab-separated cells.
func table(w io.Writer, rows ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}

// pct formats a rate as a percentage.
func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// quote shortens s to n runes for a table, quoted.
func quote(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		s = string(r[:n]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/eval"
	"github.com/paw-dev/paw/eval/report"
	"github.com/paw-dev/paw/internal/config"
)

// diffOutput is what `paw diff --json` prints: the drift from the old
// program to the new (see eval.Drift), each side's program id and invalid
// rate, and the gate that failed.
type diffOutput struct {
	Old string `json:"old"`
	New string `json:"new"`
	*eval.Drift
	OldInvalidRate float64  `json:"old_invalid_rate"`
	NewInvalidRate float64  `json:"new_invalid_rate"`
	FailedGates    []string `json:"failed_gates,omitempty"`
}

func newDiffCmd(cfg *config.Config) *cobra.Command {
	var (
		h            harnessFlags
		oldRef, next string
		newModel     string
		minAgreement float64
	)
	cmd := &cobra.Command{
		Use:   "diff --old REF --new REF --cases FILE",
		Short: "Compare two versions of a program on the same cases: agreement and every flipped answer",
		Long: "Run two programs (two versions of a function, say) greedily on the same cases, on one engine, and\n" +
			"report their agreement, every case whose answer flipped with both answers, the per-label shift and\n" +
			"each side's accuracy where cases have expected answers. --min-agreement makes it a CI gate (exit 1).\n" +
			"--new-model runs the new side on another base model: one program (--old and --new the same) on a\n" +
			"base and on its requantized copy (paw quantize) measures what requantizing changes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("min-agreement") && !(minAgreement >= 0 && minAgreement <= 1) {
				return usagef("--min-agreement %v: want a rate in [0, 1]", minAgreement)
			}
			given, err := h.check()
			if err != nil {
				return err
			}
			cases, err := h.readCases()
			if err != nil {
				return err
			}
			eng, err := h.open(cmd, cfg)
			if err != nil {
				return err
			}
			defer eng.Close()
			engines := [2]*paw.Engine{eng, eng}
			if newModel != "" {
				if engines[1], err = h.openModel(cmd, cfg, newModel); err != nil {
					return err
				}
				defer engines[1].Close()
			}
			var reps [2]*eval.Report
			var names [2]string
			for i, ref := range []string{oldRef, next} {
				fn, err := loadFunction(cmd, engines[i], ref)
				if err != nil {
					return err
				}
				defer fn.Close()
				contract, err := callContract(fn, given)
				if err != nil {
					return err
				}
				opts := eval.Options{Concurrency: h.concurrency, Labels: contractLabels(contract)}
				if reps[i], err = eval.Run(cmd.Context(), newFuncRunner(fn, 0, 0, h.callOptions(given)...), cases, opts); err != nil {
					return fmt.Errorf("%s: %w", ref, err)
				}
				names[i] = fn.Name()
			}
			d, err := eval.Compare(reps[0], reps[1])
			if err != nil {
				return err
			}
			if h.html != "" {
				page := report.Page{Title: "paw diff report", Name: names[1], Report: reps[1], Drift: d,
					OldName: names[0], NewName: names[1], Generated: time.Now()}
				if err := report.WriteFile(h.html, page); err != nil {
					return err
				}
			}
			var gateErr error
			if cmd.Flags().Changed("min-agreement") {
				gateErr = d.CheckAgreement(minAgreement)
			}
			out := diffOutput{Old: names[0], New: names[1], Drift: d, OldInvalidRate: reps[0].InvalidRate,
				NewInvalidRate: reps[1].InvalidRate, FailedGates: gateList(gateErr)}
			if h.asJSON {
				err = writeJSON(cmd.OutOrStdout(), out)
			} else {
				err = writeDiffTable(cmd.OutOrStdout(), out, h.failing)
			}
			return errors.Join(gateErr, err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&oldRef, "old", "", "the program before: .paw file or directory, program id, or slug")
	f.StringVar(&next, "new", "", "the program after")
	f.StringVar(&newModel, "new-model", "", "base model GGUF of the new side (default: as the old side's)")
	h.register(f)
	f.Float64Var(&minAgreement, "min-agreement", 0, "gate: fail (exit 1) below this agreement rate")
	for _, name := range []string{"old", "new", "cases"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// writeDiffTable prints the drift for people.
func writeDiffTable(w io.Writer, o diffOutput, flips int) error {
	d := o.Drift
	rows := []string{
		"old\t" + o.Old,
		"new\t" + o.New,
		fmt.Sprintf("cases\t%d", d.N),
		fmt.Sprintf("agreement\t%s (%d flipped)", pct(d.Agreement), len(d.Flips)),
		fmt.Sprintf("invalid\told %s, new %s", pct(o.OldInvalidRate), pct(o.NewInvalidRate)),
	}
	if d.OldAccuracy != nil {
		rows = append(rows, fmt.Sprintf("accuracy\told %s, new %s (%d cases with an expected answer)",
			pct(*d.OldAccuracy), pct(*d.NewAccuracy), d.Scored))
	}
	for _, g := range o.FailedGates {
		rows = append(rows, "GATE FAILED\t"+g)
	}
	if err := table(w, rows...); err != nil {
		return err
	}
	if len(d.LabelShift) > 0 {
		labels := slices.Sorted(maps.Keys(d.LabelShift))
		rows = []string{"\nlabel\told\tnew\tchange"}
		for _, l := range labels {
			s := d.LabelShift[l]
			rows = append(rows, fmt.Sprintf("%s\t%d\t%d\t%+d", l, s.Old, s.New, s.Delta))
		}
		if err := table(w, rows...); err != nil {
			return err
		}
	}
	if len(d.Flips) == 0 || flips == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nflipped cases (%d of %d):\n", min(flips, len(d.Flips)), len(d.Flips))
	rows = []string{"case\tinput\told\tnew\texpected"}
	for _, f := range d.Flips[:min(flips, len(d.Flips))] {
		exp := ""
		if f.Expected != nil {
			exp = quote(*f.Expected, 30)
		}
		src := f.Source
		if src == "" {
			src = fmt.Sprint(f.Index + 1)
		}
		rows = append(rows, strings.Join([]string{src, quote(f.Input, 40), quote(f.Old, 30), quote(f.New, 30), exp}, "\t"))
	}
	return table(w, rows...)
}

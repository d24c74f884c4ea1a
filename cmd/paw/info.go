package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/gguf"
)

// ggufInfo is what `paw info FILE.gguf` reports.
type ggufInfo struct {
	Path         string         `json:"path"`
	Version      uint32         `json:"gguf_version"`
	Architecture string         `json:"architecture"`
	Name         string         `json:"name,omitempty"`
	Params       uint64         `json:"parameters"`
	Tensors      int            `json:"tensors"`
	TensorTypes  map[string]int `json:"tensor_types"`
	ContextTrain uint64         `json:"context_length,omitempty"`
	VocabSize    int            `json:"vocab_size,omitempty"`
	Adapter      *gguf.LoRA     `json:"adapter,omitempty"`
}

func newInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info FILE.gguf",
		Short: "Describe a GGUF model or LoRA adapter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := gguf.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			info := describeGGUF(args[0], &f.Reader)
			if f.IsAdapter() {
				l, err := f.LoRA()
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				info.Adapter = &l
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), info)
			}
			return printGGUFInfo(cmd.OutOrStdout(), info)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func describeGGUF(path string, r *gguf.Reader) ggufInfo {
	info := ggufInfo{Path: path, Version: r.Version, Architecture: r.Architecture(), Params: r.ParamCount(),
		Tensors: len(r.Tensors), TensorTypes: map[string]int{}}
	info.Name, _ = r.String("general.name")
	info.ContextTrain, _ = r.Uint(info.Architecture + ".context_length")
	if toks, ok := r.Strings("tokenizer.ggml.tokens"); ok {
		info.VocabSize = len(toks)
	}
	for _, t := range r.Tensors {
		info.TensorTypes[t.Type.String()]++
	}
	return info
}

func printGGUFInfo(w io.Writer, i ggufInfo) error {
	var b strings.Builder
	fmt.Fprintf(&b, "file:          %s (GGUF v%d)\n", i.Path, i.Version)
	fmt.Fprintf(&b, "architecture:  %s\n", i.Architecture)
	if i.Name != "" {
		fmt.Fprintf(&b, "name:          %s\n", i.Name)
	}
	fmt.Fprintf(&b, "parameters:    %s (%d)\n", humanCount(i.Params), i.Params)
	var types []string
	for _, k := range slices.Sorted(maps.Keys(i.TensorTypes)) {
		types = append(types, fmt.Sprintf("%s×%d", k, i.TensorTypes[k]))
	}
	fmt.Fprintf(&b, "tensors:       %d (%s)\n", i.Tensors, strings.Join(types, ", "))
	if i.ContextTrain > 0 {
		fmt.Fprintf(&b, "context:       %d\n", i.ContextTrain)
	}
	if i.VocabSize > 0 {
		fmt.Fprintf(&b, "vocabulary:    %d tokens\n", i.VocabSize)
	}
	if a := i.Adapter; a != nil {
		scale := 0.0
		if a.Rank > 0 {
			scale = a.Alpha / float64(a.Rank)
		}
		fmt.Fprintf(&b, "adapter:       LoRA rank %d, alpha %g (scale %g at 1.0), %d layers\n", a.Rank, a.Alpha, scale, a.Layers)
		fmt.Fprintf(&b, "targets:       %s\n", strings.Join(a.Targets, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func humanCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

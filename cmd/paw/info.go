package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/config"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
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

func newInfoCmd(cfg *config.Config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info FILE.gguf | PROGRAM",
		Short: "Describe a GGUF model or LoRA adapter, or a program (.paw, directory, id or cached slug)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !strings.HasSuffix(strings.ToLower(args[0]), ".gguf") {
				return programInfo(cmd, cfg, args[0], asJSON)
			}
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
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON line")
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

// progInfo is what `paw info PROGRAM` reports.
type progInfo struct {
	Path          string       `json:"path"`
	Meta          program.Meta `json:"meta"`
	Template      string       `json:"prompt_template"`
	PseudoProgram string       `json:"pseudo_program,omitempty"`
	AdapterSHA256 string       `json:"adapter_sha256"`
	AdapterBytes  int          `json:"adapter_bytes"`
	Adapter       gguf.LoRA    `json:"adapter"`
	Extra         []string     `json:"extra_members,omitempty"`
	// Contract is the stored output contract; ProposedLabels a labels
	// contract suggested by the spec or pseudo-program ("Return ONLY one of: ...").
	Contract       json.RawMessage `json:"contract,omitempty"`
	ProposedLabels []string        `json:"proposed_labels,omitempty"`
}

// programInfo describes a program from a path or the cache (no download).
func programInfo(cmd *cobra.Command, cfg *config.Config, ref string, asJSON bool) error {
	h := newHubClient(cmd, cfg)
	path, err := h.ProgramPath(ref)
	if err != nil {
		return err
	}
	p, err := program.Open(path)
	if err != nil {
		return err
	}
	info := progInfo{Path: path, Meta: p.Meta, Template: p.Template.String(), PseudoProgram: p.PseudoProgram,
		AdapterSHA256: p.AdapterSHA256, AdapterBytes: len(p.Adapter), Adapter: p.LoRA}
	info.Contract = p.Meta.Contract()
	if info.Contract == nil {
		for _, text := range []string{p.PseudoProgram, p.Meta.Spec, p.Template.String()} {
			if labels, ok := schema.ProposeLabels(text); ok {
				info.ProposedLabels = labels
				break
			}
		}
	}
	for name := range p.Extra {
		info.Extra = append(info.Extra, name)
	}
	slices.Sort(info.Extra)
	if asJSON {
		return writeJSON(cmd.OutOrStdout(), info)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "program:       %s\n", p.Meta.ProgramID)
	fmt.Fprintf(&b, "path:          %s\n", path)
	fmt.Fprintf(&b, "interpreter:   %s (runtime %s)\n", p.Meta.Interpreter, p.Meta.RuntimeID)
	if p.Meta.CompilerSnapshot != "" {
		fmt.Fprintf(&b, "compiler:      %s\n", p.Meta.CompilerSnapshot)
	}
	if p.Meta.CreatedAt != "" {
		fmt.Fprintf(&b, "created:       %s\n", p.Meta.CreatedAt)
	}
	fmt.Fprintf(&b, "spec:          %s\n", oneLine(p.Meta.Spec, 200))
	a := p.LoRA
	fmt.Fprintf(&b, "adapter:       LoRA rank %d, alpha %g, %d layers, %s, %s\n", a.Rank, a.Alpha, a.Layers, typeNames(a.Types), humanBytes(int64(len(p.Adapter))))
	fmt.Fprintf(&b, "targets:       %s\n", strings.Join(a.Targets, ", "))
	fmt.Fprintf(&b, "sha256:        %s\n", p.AdapterSHA256)
	if len(info.Extra) > 0 {
		fmt.Fprintf(&b, "other members: %s\n", strings.Join(info.Extra, ", "))
	}
	if info.Contract != nil {
		fmt.Fprintf(&b, "contract:      %s\n", info.Contract)
	}
	if len(info.ProposedLabels) > 0 {
		fmt.Fprintf(&b, "labels?:       %s  (proposed from the spec; run with%s)\n",
			strings.Join(info.ProposedLabels, ", "), labelFlags(info.ProposedLabels))
	}
	fmt.Fprintf(&b, "template:\n%s\n", indent(p.Template.String()))
	_, err = io.WriteString(cmd.OutOrStdout(), b.String())
	return err
}

// labelFlags spells labels as repeated --labels flags, quoted for a shell
// where needed.
func labelFlags(labels []string) string {
	var b strings.Builder
	for _, l := range labels {
		if strings.ContainsAny(l, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			l = "'" + strings.ReplaceAll(l, "'", `'\''`) + "'"
		}
		fmt.Fprintf(&b, " --labels %s", l)
	}
	return b.String()
}

func typeNames(ts []gguf.Type) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.String())
	}
	return strings.Join(s, "/")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

package mapper

import (
	"fmt"
	"io"

	"github.com/paw-dev/paw/gguf"
)

// WriteGGUF writes the adapter in the official PAW layout: Q4_0 lora_a
// (ggml shape [In, Rank], the [Rank, In] matrix as is) and lora_b ([Rank,
// Out]) for every layer and module, with the adapter KVs llama.cpp reads.
func (a *Adapter) WriteGGUF(out io.Writer) error {
	w := gguf.NewWriter(out)
	for _, kv := range []struct {
		key   string
		value any
	}{
		{"general.architecture", a.Arch},
		{"general.type", "adapter"},
		{"adapter.type", "lora"},
		{"adapter.lora.alpha", a.Alpha},
	} {
		if err := w.AddKV(kv.key, kv.value); err != nil {
			return fmt.Errorf("write adapter: %s: %w", kv.key, err)
		}
	}
	type tensor struct {
		name string
		data []float32
	}
	var ts []tensor
	for l := range a.Layers {
		for _, m := range a.Modules {
			name := fmt.Sprintf("blk.%d.%s.weight", l, m.Stem)
			na, nb := a.Rank*m.In, m.Out*a.Rank
			if err := w.AddTensor(name+".lora_a", gguf.TypeQ4_0, uint64(m.In), uint64(a.Rank)); err != nil {
				return fmt.Errorf("write adapter: %w", err)
			}
			if err := w.AddTensor(name+".lora_b", gguf.TypeQ4_0, uint64(a.Rank), uint64(m.Out)); err != nil {
				return fmt.Errorf("write adapter: %w", err)
			}
			ts = append(ts, tensor{name + ".lora_a", m.A[l*na : (l+1)*na]}, tensor{name + ".lora_b", m.B[l*nb : (l+1)*nb]})
		}
	}
	var buf []byte
	for _, t := range ts {
		var err error
		if buf, err = gguf.AppendQuantized(buf[:0], gguf.TypeQ4_0, t.data); err != nil {
			return fmt.Errorf("write adapter: %s: %w", t.name, err)
		}
		if err := w.WriteTensor(t.name, buf); err != nil {
			return fmt.Errorf("write adapter: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write adapter: %w", err)
	}
	return nil
}

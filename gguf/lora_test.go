package gguf

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// loraFile writes a GGUF with the given general.type and adapter tensors
// (name → shape), F32 zeros.
func loraFile(t *testing.T, generalType string, tensors map[string][]uint64, names ...string) *Reader {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.AddKV("general.architecture", "qwen3")
	if generalType != "" {
		w.AddKV("general.type", generalType)
	}
	if generalType == "adapter" {
		w.AddKV("adapter.type", "lora")
		w.AddKV("adapter.lora.alpha", float32(16))
	}
	for _, n := range names {
		if err := w.AddTensor(n, TypeF32, tensors[n]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		size := uint64(4)
		for _, d := range tensors[n] {
			size *= d
		}
		if err := w.WriteTensor(n, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoRA(t *testing.T) {
	shapes := map[string][]uint64{
		"blk.0.attn_q.weight.lora_a": {64, 8}, "blk.0.attn_q.weight.lora_b": {8, 64},
		"blk.1.attn_q.weight.lora_a": {64, 4}, "blk.1.attn_q.weight.lora_b": {4, 64},
		"blk.2.attn_k.weight.lora_a": {64, 4}, "blk.2.attn_k.weight.lora_b": {8, 64},
		"token_embd.weight": {64, 100},
	}
	l, err := loraFile(t, "adapter", shapes, "blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b").LoRA()
	if err != nil || l.Rank != 8 || l.Alpha != 16 || l.Arch != "qwen3" || strings.Join(l.Targets, ",") != "attn_q" || l.Layers != 1 {
		t.Errorf("adapter: %+v, %v", l, err)
	}
	for _, tc := range []struct {
		name, generalType string
		tensors           []string
		want              string
	}{
		{"model", "model", []string{"token_embd.weight"}, "model file"},
		{"untyped", "", []string{"blk.0.attn_q.weight.lora_a"}, "not adapter/lora"},
		{"missing pair", "adapter", []string{"blk.0.attn_q.weight.lora_a"}, "no matching"},
		{"stray tensor", "adapter", []string{"token_embd.weight"}, "neither .lora_a nor .lora_b"},
		{"ranks differ", "adapter", []string{"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.1.attn_q.weight.lora_a", "blk.1.attn_q.weight.lora_b"}, "has rank 4, others 8"},
		{"pair disagrees", "adapter", []string{"blk.2.attn_k.weight.lora_a", "blk.2.attn_k.weight.lora_b"}, "do not share a rank"},
		{"empty", "adapter", nil, "no lora_a/lora_b"},
	} {
		_, err := loraFile(t, tc.generalType, shapes, tc.tensors...).LoRA()
		if !errors.Is(err, ErrNotAdapter) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrNotAdapter mentioning %q", tc.name, err, tc.want)
		}
	}
}

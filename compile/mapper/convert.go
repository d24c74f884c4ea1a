package mapper

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/program"
)

// hfConfig is the part of a Hugging Face config.json a Qwen3 conversion reads.
type hfConfig struct {
	Architectures []string `json:"architectures"`
	Hidden        int      `json:"hidden_size"`
	Layers        int      `json:"num_hidden_layers"`
	FFN           int      `json:"intermediate_size"`
	Heads         int      `json:"num_attention_heads"`
	HeadsKV       int      `json:"num_key_value_heads"`
	HeadDim       int      `json:"head_dim"`
	RopeTheta     float32  `json:"rope_theta"`
	NormEps       float32  `json:"rms_norm_eps"`
	MaxPositions  int      `json:"max_position_embeddings"`
	Tied          bool     `json:"tie_word_embeddings"`
}

// ConvertHF converts the compiler's Hugging Face Qwen3 checkpoint in dir
// (config.json, tokenizer.json, tokenizer_config.json, and model.safetensors
// or the shards of model.safetensors.index.json; F32, F16 or BF16) into a
// GGUF at out, atomically, as convert_hf_to_gguf.py does: its names,
// shapes, metadata and vocabulary (padded to the embedding's rows, so the
// prefix tokens keep their ids), matrices as typ (F32, F16, BF16 or Q8_0).
// Shards are memory-mapped and tensors converted a slice of rows at a time.
func ConvertHF(dir, out string, typ gguf.Type) error {
	var hc hfConfig
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &hc)
	}
	if err != nil {
		return fmt.Errorf("convert %s: config.json: %w", dir, err)
	}
	if !slices.Contains(hc.Architectures, "Qwen3ForCausalLM") {
		return fmt.Errorf("%w: convert %s: architectures %v, want Qwen3ForCausalLM", ErrShape, dir, hc.Architectures)
	}
	tensors, files, closeAll, err := openShards(dir)
	if err != nil {
		return fmt.Errorf("convert %s: %w", dir, err)
	}
	defer closeAll()
	emb, ok := tensors["model.embed_tokens.weight"]
	if !ok || len(emb.Shape) != 2 {
		return fmt.Errorf("%w: convert %s: no 2-D model.embed_tokens.weight", ErrShape, dir)
	}
	layout, err := fixture.HFLayout(fixture.Config{Arch: fixture.ArchQwen3, Layers: hc.Layers, Embd: hc.Hidden,
		Heads: hc.Heads, HeadsKV: hc.HeadsKV, HeadDim: hc.HeadDim, FFN: hc.FFN, VocabSize: int(emb.Shape[0]),
		CtxTrain: hc.MaxPositions, Type: typ, Untied: !hc.Tied, RopeTheta: hc.RopeTheta, NormEps: hc.NormEps,
		Name: filepath.Base(filepath.Clean(dir))}, filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return fmt.Errorf("convert %s: %w", dir, err)
	}
	for _, ti := range layout.Tensors {
		t, ok := tensors[fixture.HFName(ti.Name)]
		if !ok {
			return fmt.Errorf("%w: convert %s: no tensor %s (for %s)", ErrShape, dir, fixture.HFName(ti.Name), ti.Name)
		}
		if want := fixture.HFShape(ti.Shape); !slices.Equal(t.Shape, want) {
			return fmt.Errorf("%w: convert %s: %s is %v, want %v", ErrShape, dir, t.Name, t.Shape, want)
		}
	}
	err = fsutil.WriteAtomic(out, 0o644, func(f io.Writer) error {
		w := gguf.NewWriter(f)
		for _, kv := range layout.KV {
			if err := w.AddKV(kv.Key, kv.Value); err != nil {
				return fmt.Errorf("metadata %s: %w", kv.Key, err)
			}
		}
		for _, ti := range layout.Tensors {
			if err := w.AddTensor(ti.Name, ti.Type, ti.Shape...); err != nil {
				return err
			}
		}
		for _, ti := range layout.Tensors {
			name := fixture.HFName(ti.Name)
			data, err := convertTensor(tensors[name], ti, files[name])
			if err != nil {
				return err
			}
			if err := w.WriteTensor(ti.Name, data); err != nil {
				return err
			}
		}
		return w.Close()
	})
	if err != nil {
		return fmt.Errorf("convert %s: %w", dir, err)
	}
	return nil
}

// convertTensor encodes t as ti.Type, a slice of rows at a time so that a
// large embedding never exists whole in fp32, each slice's pages of the
// mapped file m dropped once read.
func convertTensor(t program.SafeTensor, ti gguf.TensorInfo, m []byte) ([]byte, error) {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	row := int(ti.Shape[0]) * (len(t.Data) / int(n))
	step := max(1, (4<<20)/row) * row
	var out []byte
	for i := 0; i < len(t.Data); i += step {
		part := t
		part.Data = t.Data[i:min(i+step, len(t.Data))]
		f, err := part.Float32()
		if err != nil {
			return nil, err
		}
		dropPages(m, part.Data)
		if out, err = gguf.AppendQuantized(out, ti.Type, f); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", ti.Name, err)
		}
	}
	return out, nil
}

// openShards maps the checkpoint's safetensors files and indexes their
// tensors, and the mapped file each lies in, by name.
func openShards(dir string) (tensors map[string]program.SafeTensor, files map[string][]byte, closeAll func(), err error) {
	names := []string{"model.safetensors"}
	if b, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json")); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, nil, nil, fmt.Errorf("model.safetensors.index.json: %w", err)
		}
		names = nil
		for _, f := range idx.WeightMap {
			if f != filepath.Base(f) {
				return nil, nil, nil, fmt.Errorf("%w: shard %q is not a file name", ErrShape, f)
			}
			names = append(names, f)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	var unmaps []func()
	closeAll = func() {
		for _, u := range unmaps {
			u()
		}
	}
	tensors, files = map[string]program.SafeTensor{}, map[string][]byte{}
	for _, f := range names {
		data, unmap, err := mapFile(filepath.Join(dir, f))
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		unmaps = append(unmaps, unmap)
		st, err := program.ParseSafetensors(data)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, t := range st.Tensors {
			tensors[t.Name], files[t.Name] = t, data
		}
	}
	return tensors, files, closeAll, nil
}

// EncoderGGUF returns the compiler encoder's GGUF in a compiler directory,
// converted once from the checkpoint in compiler/ as typ when it is not
// there yet: compiler.gguf for Q8_0 (half the memory of BF16 and faster on
// CPUs; its error is measured in the README), compiler-<type>.gguf for
// others.
func EncoderGGUF(dir string, typ gguf.Type) (path string, converted bool, err error) {
	path = filepath.Join(dir, "compiler.gguf")
	if typ != gguf.TypeQ8_0 {
		path = filepath.Join(dir, "compiler-"+strings.ToLower(typ.String())+".gguf")
	}
	if _, err := os.Stat(path); err == nil {
		return path, false, nil
	}
	if err := ConvertHF(filepath.Join(dir, "compiler"), path, typ); err != nil {
		return "", false, err
	}
	return path, true, nil
}

// WriterGGUF is where the pseudo-program writer pulled into dir (a Hugging
// Face checkpoint) is kept once converted as typ (Compiler.WriterHF).
func WriterGGUF(dir string, typ gguf.Type) string {
	return filepath.Join(dir, "writer-"+strings.ToLower(typ.String())+".gguf")
}

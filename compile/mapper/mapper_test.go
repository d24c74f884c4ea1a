package mapper

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/paw-dev/paw/gguf"
)

// torchPython returns a Python with PyTorch, the oracle. Locally the tests
// that need it skip without one; under CI they fail (.ci/run installs
// Debian's python3-torch).
func torchPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import torch").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 with torch (apt-get install python3-torch)")
	}
	t.Skip("no python3 with torch: the PyTorch oracle is not available")
	return ""
}

// oracle runs testdata/oracle.py and returns its output directory.
func oracle(t *testing.T, args ...string) string {
	t.Helper()
	py := torchPython(t)
	dir := t.TempDir()
	cmd := exec.Command(py, append([]string{"testdata/oracle.py", dir}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oracle.py: %v\n%s", err, out)
	}
	return dir
}

func readFloats(t *testing.T, file string) []float32 {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// maxAbsDiff returns the largest |a−b| and the largest |b|.
func maxAbsDiff(t *testing.T, a, b []float32) (diff, scale float64) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("lengths %d and %d differ", len(a), len(b))
	}
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

func loadOracle(t *testing.T, dir string) *Mapper {
	t.Helper()
	sd, err := LoadCheckpoint(filepath.Join(dir, "lora_mapper.pt"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMeta(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(sd, meta)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMapMatchesTorch: the Go mapper's coefficients and LoRA matrices equal
// PyTorch's on the same checkpoint and states, for both interpreters.
func TestMapMatchesTorch(t *testing.T) {
	for _, arch := range []string{"qwen3", "gpt2"} {
		t.Run(arch, func(t *testing.T) {
			dir := oracle(t, arch, "64", "3", "4", "32", "8")
			m := loadOracle(t, dir)
			wantModules := 7
			if arch == "gpt2" {
				wantModules = 4
			}
			if m.Arch != arch || m.Layers != 3 || m.Hidden != 64 || len(m.Modules) != wantModules {
				t.Fatalf("mapper %s, %d layers, hidden %d, %d modules", m.Arch, m.Layers, m.Hidden, len(m.Modules))
			}
			states := readFloats(t, filepath.Join(dir, "states.bin"))
			ad := compareTorch(t, m, dir, states)
			// The export dequantizes back to the mapper's matrices within Q4_0's step.
			var buf bytes.Buffer
			if err := ad.WriteGGUF(&buf); err != nil {
				t.Fatal(err)
			}
			r, err := gguf.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			lora, err := r.LoRA()
			if err != nil {
				t.Fatal(err)
			}
			if lora.Rank != 32 || lora.Alpha != 16 || lora.Layers != 3 || lora.Arch != arch || len(lora.Targets) != wantModules {
				t.Errorf("exported adapter %+v", lora)
			}
			w := ad.Modules[0]
			ti, _ := r.Tensor("blk.1." + w.Stem + ".weight.lora_a")
			if ti.Shape[0] != uint64(w.In) || ti.Shape[1] != 32 {
				t.Errorf("lora_a shape %v, want [%d 32]", ti.Shape, w.In)
			}
			back, err := r.TensorFloat32(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			n := 32 * w.In
			diff, scale := maxAbsDiff(t, back, w.A[n:2*n])
			if diff > scale/7 {
				t.Errorf("lora_a of layer 1 dequantizes with error %.3g (values up to %.3g)", diff, scale)
			}
		})
	}
}

// compareTorch checks m's coefficients and matrices for states against
// those oracle.py wrote in dir, and returns the adapter.
func compareTorch(t *testing.T, m *Mapper, dir string, states []float32) *Adapter {
	t.Helper()
	c, err := m.Coefficients(states)
	if err != nil {
		t.Fatal(err)
	}
	diff, scale := maxAbsDiff(t, c, readFloats(t, filepath.Join(dir, "coeff.bin")))
	t.Logf("coefficients: max abs error %.3g (values up to %.3g)", diff, scale)
	if diff > 1e-5*scale {
		t.Errorf("coefficients: max abs error %.3g, values up to %.3g", diff, scale)
	}
	ad, err := m.Map(context.Background(), states)
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	for _, w := range ad.Modules {
		got = append(append(got, w.A...), w.B...)
	}
	diff, scale = maxAbsDiff(t, got, readFloats(t, filepath.Join(dir, "weights.bin")))
	t.Logf("A and B: max abs error %.3g (values up to %.3g)", diff, scale)
	if diff > 1e-5*scale {
		t.Errorf("A and B: max abs error %.3g, values up to %.3g", diff, scale)
	}
	return ad
}

// TestMapMatchesTorchFullShape compares with PyTorch on the official
// mapper's shape (163,081,216 parameters), written ahead by
// `python3 compile/mapper/testdata/oracle.py DIR qwen3-0.6b 2560 28 64 64 64`
// (650 MB) with PAW_MAPPER_ORACLE=DIR; skipped otherwise.
func TestMapMatchesTorchFullShape(t *testing.T) {
	dir := os.Getenv("PAW_MAPPER_ORACLE")
	if dir == "" {
		t.Skip("PAW_MAPPER_ORACLE not set")
	}
	m := loadOracle(t, dir)
	n := m.Hidden*m.Hidden + m.Hidden + len(m.b2)*(m.Hidden+1)
	for _, mod := range m.Modules {
		n += len(mod.a) + len(mod.b)
	}
	if n != 163_081_216 || m.Layers != 28 || len(m.Modules) != 7 {
		t.Fatalf("%d parameters, %d layers, %d modules", n, m.Layers, len(m.Modules))
	}
	compareTorch(t, m, dir, readFloats(t, filepath.Join(dir, "states.bin")))
}

// TestReadCheckpointRefuses: a checkpoint with a non-fp32 tensor, or not a
// zip checkpoint at all, is an ErrCheckpoint.
func TestReadCheckpointRefuses(t *testing.T) {
	dir := oracle(t, "qwen3", "64", "1", "2", "32", "2")
	if _, err := LoadCheckpoint(filepath.Join(dir, "half.pt")); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("fp16 checkpoint: %v, want ErrCheckpoint", err)
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "meta.json")); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("JSON file: %v, want ErrCheckpoint", err)
	}
}

// TestOfficialSize: a Qwen3-0.6B-shaped adapter of random matrices exports
// to exactly the size of every official PAW adapter.
func TestOfficialSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ad := &Adapter{Arch: "qwen3", Alpha: 16, Rank: 64, Layers: 28}
	// Qwen3-0.6B: embd 1024, q 2048, kv 1024, ffn 3072.
	for _, m := range []struct {
		name    string
		in, out int
	}{{"down_proj", 3072, 1024}, {"gate_proj", 1024, 3072}, {"k_proj", 1024, 1024}, {"o_proj", 2048, 1024},
		{"q_proj", 1024, 2048}, {"up_proj", 1024, 3072}, {"v_proj", 1024, 1024}} {
		w := Weights{Module: Module{Name: m.name, Stem: stems[m.name], In: m.in, Out: m.out},
			A: make([]float32, 28*64*m.in), B: make([]float32, 28*64*m.out)}
		for i := range w.A {
			w.A[i] = float32(rng.NormFloat64())
		}
		for i := range w.B {
			w.B[i] = float32(rng.NormFloat64())
		}
		ad.Modules = append(ad.Modules, w)
	}
	var n countWriter
	if err := ad.WriteGGUF(&n); err != nil {
		t.Fatal(err)
	}
	if n != 22_735_040 {
		t.Errorf("Qwen3 adapter is %d bytes, want 22,735,040", n)
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

func TestLayerMap(t *testing.T) {
	got := LayerMap(36, 28)
	if len(got) != 28 || got[0] != 0 || got[1] != 1 || got[6] != 8 || got[27] != 35 {
		t.Errorf("LayerMap(36, 28) = %v", got)
	}
	if g := LayerMap(36, 12); g[0] != 2 || g[11] != 35 {
		t.Errorf("LayerMap(36, 12) = %v", g)
	}
}

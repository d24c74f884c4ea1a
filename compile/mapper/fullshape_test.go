package mapper

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/llama"
)

// Full-shape measurements, run by hand (README, "PAW's fast compiler,
// offline"): PAW_FULL_DIR names a directory holding enc-bf16.gguf, the
// random-weight compiler encoder in BF16 (paw fixture --preset
// qwen3-4b-compiler --type BF16).
func fullDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PAW_FULL_DIR")
	if dir == "" {
		t.Skip("PAW_FULL_DIR not set (full-shape measurement)")
	}
	return dir
}

// peakRSS resets the process's peak resident set size (Linux) and returns a
// function that reads the peak since, in GiB.
func peakRSS(t *testing.T) func() float64 {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("peak RSS not resettable: %v", err)
	}
	return func() float64 {
		b, _ := os.ReadFile("/proc/self/status")
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				return kb / (1 << 20)
			}
		}
		return 0
	}
}

// TestConvertHFFullShape times ConvertHF on the Qwen3-4B compiler shape:
// DIR/hf (written from enc-bf16.gguf as four BF16 shards when missing, not
// timed) to DIR/compiler.gguf in Q8_0.
func TestConvertHFFullShape(t *testing.T) {
	dir := fullDir(t)
	hf := filepath.Join(dir, "hf")
	if _, err := os.Stat(filepath.Join(hf, "config.json")); err != nil {
		start := time.Now()
		if err := fixture.WriteHF(filepath.Join(dir, "enc-bf16.gguf"), hf, 4, 64); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s in %.1fs", hf, time.Since(start).Seconds())
	}
	peak := peakRSS(t)
	start := time.Now()
	out := filepath.Join(dir, "compiler.gguf")
	if err := ConvertHF(hf, out, gguf.TypeQ8_0); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(out)
	t.Logf("ConvertHF BF16 -> Q8_0: %.1fs wall, %.2f GiB peak RSS, %.2f GB written", time.Since(start).Seconds(), peak(), float64(st.Size())/1e9)
}

// TestQ8EncoderFullShape measures the Q8_0 encoder's effect at full shape:
// the states read from the BF16 encoder (enc-bf16.gguf) and from its Q8_0
// conversion (compiler.gguf, TestConvertHFFullShape), per layer, and the
// adapters the mapper makes of each; with the time and peak memory of each
// encoder. Random weights: this bounds the numeric error, not the effect on
// a trained model's programs.
func TestQ8EncoderFullShape(t *testing.T) {
	dir := fullDir(t)
	mp, err := New(randomMapper(2560, 28, 64, 64), Meta{Interpreter: "Qwen/Qwen3-0.6B", LoRARank: 64, LoRAAlpha: 16, LoRANumBases: 64, PrefixSteps: 64})
	if err != nil {
		t.Fatal(err)
	}
	threads, _ := strconv.Atoi(os.Getenv("PAW_THREADS"))
	const spec = "Classify a support email as billing, technical or other."
	const pseudo = "[PSEUDO_PROGRAM]\nTask: Read a customer support email and answer with one word: billing (payments, invoices, refunds, charges), technical (errors, crashes, login or setup problems) or other (anything else, including mixed or empty emails).\n\nExamples:\nInput: I was charged twice this month.\nOutput: billing\nInput: The app crashes when I open settings.\nOutput: technical\nInput: Do you have an office in Berlin?\nOutput: other\nInput: \nOutput: other\n[END_PSEUDO_PROGRAM]"
	encode := func(name string) ([]float32, *Adapter) {
		peak := peakRSS(t)
		start := time.Now()
		m, err := llama.LoadModel(filepath.Join(dir, name), llama.ModelParams{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		load := time.Since(start)
		e, err := NewEncoder(m, mp)
		if err != nil {
			t.Fatal(err)
		}
		e.Threads = threads
		start = time.Now()
		states, err := e.Encode(context.Background(), spec, pseudo)
		if err != nil {
			t.Fatal(err)
		}
		enc := time.Since(start)
		ad, err := mp.Map(context.Background(), states)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: load %.1fs, encode %.1fs, peak RSS %.2f GiB", name, load.Seconds(), enc.Seconds(), peak())
		return states, ad
	}
	ref, refAd := encode("enc-bf16.gguf")
	q8, q8Ad := encode("compiler.gguf")
	rep := compareEncoders(ref, q8, refAd, q8Ad, mp.Layers)
	rep.log(t)
}

// randomMapper is a state dict of the official mapper's layout for
// Qwen3-0.6B (163,081,216 parameters at hidden 2560, 28 layers, 64 bases
// of rank 64) with PyTorch's initial scales: Linear layers uniform in
// ±1/√in, bases normal × 0.1 (as testdata/oracle.py writes).
func randomMapper(hidden, layers, bases, rank int) map[string]Tensor {
	rng := rand.New(rand.NewPCG(7, 17))
	fill := func(scale float64, uniform bool, shape ...int) Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		t := Tensor{Shape: shape, Data: make([]float32, n)}
		for i := range t.Data {
			if uniform {
				t.Data[i] = float32(scale * (2*rng.Float64() - 1))
			} else {
				t.Data[i] = float32(scale * rng.NormFloat64())
			}
		}
		return t
	}
	lin := 1 / math.Sqrt(float64(hidden))
	sd := map[string]Tensor{
		"trunk.0.weight": fill(lin, true, hidden, hidden), "trunk.0.bias": fill(lin, true, hidden),
		"coeff_head.weight": fill(lin, true, layers*7*bases*2, hidden), "coeff_head.bias": fill(lin, true, layers*7*bases*2),
	}
	for m, io := range map[string][2]int{"q_proj": {1024, 2048}, "k_proj": {1024, 1024}, "v_proj": {1024, 1024}, "o_proj": {2048, 1024},
		"gate_proj": {1024, 3072}, "up_proj": {1024, 3072}, "down_proj": {3072, 1024}} {
		sd["A_bases_"+m] = fill(0.1, false, bases, rank, io[0])
		sd["B_bases_"+m] = fill(0.1, false, bases, io[1], rank)
	}
	return sd
}

// Command pawbench measures paw's engine (llama.cpp compiled from source through
// cgo) against the prebuilt llama.cpp libraries that npm ships
// (@node-llama-cpp/linux-x64, run-time CPU dispatch), driven from Go through
// github.com/hybridgroup/yzma (purego, no cgo), on the same model files with the
// same procedure: one batch of P prompt tokens (logits on the last only), then
// G one-token decodes, a fresh KV cache each repetition, a warm-up, medians.
//
// Each engine runs in its own child process (this binary with --engine), one
// at a time, so the two llama.cpp builds never share a process or the CPU.
// Every model is measured under several flash-attention settings (each
// engine's default, both on, both off), engines alternating within a round
// and rounds repeated, so that drift on a shared machine hits both alike; the
// table reports the median over rounds.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/paw-dev/paw/internal/basemodel"
)

type opts struct {
	pp, tg, reps, threads, ubatch int
	prefix                        int    // tokens in the cache before the timed prompt
	flash                         string // on, off or default (each engine's own)
}

// Settings of flash attention compared side by side. "default" is each
// engine's own: off for paw (`paw bench`, the runtime), auto for the peer
// (llama.cpp turns it on for CPU).
var settingNames = map[string]string{
	"default": "defaults (paw off, peer auto)",
	"on":      "both flash on",
	"off":     "both flash off",
}

// Result is one engine on one model.
type Result struct {
	Engine  string                `json:"engine"`
	Variant string                `json:"variant,omitempty"` // peer: the libggml-cpu-*.so it loaded
	UBatch  int                   `json:"n_ubatch"`
	Flash   string                `json:"flash_attn"` // on, off, default
	R       basemodel.BenchResult `json:"result"`
	Err     string                `json:"error,omitempty"`
}

// Row is one model under one flash-attention setting with both engines:
// medians over the rounds.
type Row struct {
	Model   string `json:"model"`
	Type    string `json:"type"`
	Setting string `json:"setting"`
	Paw     Result `json:"paw"`
	Peer    Result `json:"peer"`
	// PawGGML is paw with ggml-cpu's own flash-attention kernel instead of
	// paw's (engine "paw-ggml-attn": PAW_ATTN_KERNEL=ggml), when measured.
	PawGGML *Result `json:"paw_ggml_attn,omitempty"`
	// PawGGMLMM is paw with ggml-cpu's own matrix kernels instead of paw's AMX
	// kernel (engine "paw-ggml-mm": PAW_MATMUL_KERNEL=ggml), when measured.
	PawGGMLMM *Result `json:"paw_ggml_mm,omitempty"`
	PPx       float64 `json:"pp_ratio"` // paw / peer
	TGx       float64 `json:"tg_ratio"`
}

func main() {
	var o opts
	engine := flag.String("engine", "", "internal: run one engine (paw|peer) on --model and print JSON")
	model := flag.String("model", "", "internal: the model for --engine")
	flag.StringVar(&o.flash, "flash-mode", "default", "internal: the flash-attention setting for --engine")
	flag.IntVar(&o.pp, "pp", 128, "prompt tokens (one batch)")
	flag.IntVar(&o.tg, "tg", 32, "generated tokens (one decode each)")
	flag.IntVar(&o.prefix, "prefix", 0, "tokens decoded (untimed) before the prompt, as a program's cached pseudo-program")
	flag.IntVar(&o.reps, "reps", 5, "repetitions after the warm-up (medians)")
	flag.IntVar(&o.threads, "threads", 2, "compute threads for both engines")
	flag.IntVar(&o.ubatch, "ubatch", 0, "n_ubatch for both engines (0 = the prompt size, as paw bench)")
	flash := flag.Bool("flash", false, "shorthand for --settings on")
	settings := flag.String("settings", "default,on,off", "flash-attention settings, comma-separated: default (each engine's own), on, off")
	rounds := flag.Int("rounds", 3, "rounds per model; each runs every setting and engine once, engines alternating")
	engines := flag.String("engines", "paw,peer", "engines to run, comma-separated (paw, peer, paw-ggml-attn: paw on ggml-cpu's flash-attention kernel, paw-ggml-mm: on ggml-cpu's matrix kernels)")
	peerLib := flag.String("peer-lib", defaultPeerLib(), "directory with the npm prebuilt libllama/libggml*.so")
	asJSON := flag.Bool("json", false, "print JSON instead of a table")
	quant := flag.String("quantize", "", "IN.gguf:OUT.gguf:TYPE — quantize with the peer's llama_model_quantize (e.g. Q6_K) and exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: pawbench [flags] MODEL.gguf...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	// More ggml threads than cores collapses throughput (~0.3 tok/s).
	o.threads = max(1, min(o.threads, runtime.NumCPU()))

	if *quant != "" {
		if err := quantize(*peerLib, *quant); err != nil {
			fatal(err)
		}
		return
	}
	if *engine != "" {
		r := runEngine(*engine, *model, *peerLib, o)
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *flash {
		*settings = "on"
	}
	sets := strings.Split(*settings, ",")
	for _, s := range sets {
		if settingNames[s] == "" {
			fmt.Fprintf(os.Stderr, "pawbench: unknown setting %q (default, on, off)\n", s)
			os.Exit(2)
		}
	}
	var rows []Row
	for _, m := range flag.Args() {
		rows = append(rows, measure(m, sets, strings.Split(*engines, ","), max(1, *rounds), *peerLib, o, !*asJSON)...)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"threads": o.threads, "prefix": o.prefix, "pp": o.pp, "tg": o.tg, "reps": o.reps,
			"rounds": *rounds, "n_ubatch": o.ubatch, "rows": rows})
		return
	}
	variant := ""
	for _, r := range rows {
		if r.Peer.Variant != "" {
			variant = r.Peer.Variant
		}
	}
	fmt.Printf("threads=%d prefix=%d pp=%d tg=%d reps=%d rounds=%d n_ubatch=%s peer_cpu=%s (medians over rounds)\n", o.threads, o.prefix, o.pp, o.tg, o.reps,
		*rounds, ubatchStr(o), variant)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "model\ttype\tflash attention\tpaw pp\tpeer pp\tratio\tpaw tg\tpeer tg\tratio\tpaw pp, ggml attn\tpaw tg, ggml attn\tpaw pp, ggml mm\tpaw tg, ggml mm\t\n")
	for _, r := range rows {
		g := variantCells(r.PawGGML) + variantCells(r.PawGGMLMM)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t%.2f\t%s\n", r.Model, r.Type, settingNames[r.Setting],
			r.Paw.R.PromptTPS, r.Peer.R.PromptTPS, r.PPx, r.Paw.R.GenTPS, r.Peer.R.GenTPS, r.TGx, g)
	}
	tw.Flush()
}

// variantCells is the table cells of a paw variant's speeds (empty when not measured).
func variantCells(r *Result) string {
	if r == nil {
		return "\t\t"
	}
	return fmt.Sprintf("%.1f\t%.1f\t", r.R.PromptTPS, r.R.GenTPS)
}

// measure runs one model: every round runs each setting with the engines in
// turn (their order flipped every other round), then each row takes the
// median over rounds of each engine's per-run medians.
func measure(model string, sets, engines []string, rounds int, peerLib string, o opts, progress bool) []Row {
	runs := map[string][]Result{} // setting/engine -> one result per round
	for i := range rounds {
		for _, set := range sets {
			order := slices.Clone(engines)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, e := range order {
				so := o
				so.flash = set
				r := child(e, model, peerLib, so)
				runs[set+"/"+e] = append(runs[set+"/"+e], r)
				if progress {
					fmt.Fprintf(os.Stderr, "%s %s %s round %d: pp %.1f tg %.1f %s%s\n", filepath.Base(model), set, e, i+1,
						r.R.PromptTPS, r.R.GenTPS, r.Variant, r.Err)
				}
			}
		}
	}
	var rows []Row
	for _, set := range sets {
		row := Row{Model: filepath.Base(model), Setting: set, Paw: medianResult(runs[set+"/paw"]), Peer: medianResult(runs[set+"/peer"])}
		if rs := runs[set+"/paw-ggml-attn"]; rs != nil {
			r := medianResult(rs)
			row.PawGGML = &r
		}
		if rs := runs[set+"/paw-ggml-mm"]; rs != nil {
			r := medianResult(rs)
			row.PawGGMLMM = &r
		}
		for _, r := range []Result{row.Paw, row.Peer} {
			if row.Type == "" && r.R.Desc != "" {
				row.Type = r.R.Desc
			}
		}
		row.PPx, row.TGx = ratio(row.Paw.R.PromptTPS, row.Peer.R.PromptTPS), ratio(row.Paw.R.GenTPS, row.Peer.R.GenTPS)
		rows = append(rows, row)
	}
	return rows
}

// medianResult is the first result with its prompt and generation speeds
// replaced by their medians over rs (an empty Result when none ran).
func medianResult(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	out := rs[0]
	var pp, tg []float64
	for _, r := range rs {
		if r.Err != "" {
			out.Err = r.Err
			continue
		}
		pp, tg = append(pp, r.R.PromptTPS), append(tg, r.R.GenTPS)
		if r.Variant != "" {
			out.Variant = r.Variant
		}
	}
	out.R.PromptTPS, out.R.GenTPS = median(pp), median(tg)
	return out
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	x = slices.Clone(x)
	slices.Sort(x)
	if len(x)%2 == 1 {
		return x[len(x)/2]
	}
	return (x[len(x)/2-1] + x[len(x)/2]) / 2
}

func ubatchStr(o opts) string {
	if o.ubatch == 0 {
		return fmt.Sprint(o.pp)
	}
	return fmt.Sprint(o.ubatch)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// pawVariants are paw with one of its kernels replaced by ggml-cpu's, by the
// environment variable each takes.
var pawVariants = map[string]string{"paw-ggml-attn": "PAW_ATTN_KERNEL=ggml", "paw-ggml-mm": "PAW_MATMUL_KERNEL=ggml"}

// child runs one engine on one model in a subprocess of this binary.
func child(engine, model, peerLib string, o opts) Result {
	exe, err := os.Executable()
	if err != nil {
		return Result{Engine: engine, Err: err.Error()}
	}
	args := []string{"--engine", engine, "--model", model, "--peer-lib", peerLib,
		"--pp", fmt.Sprint(o.pp), "--tg", fmt.Sprint(o.tg), "--reps", fmt.Sprint(o.reps),
		"--threads", fmt.Sprint(o.threads), "--ubatch", fmt.Sprint(o.ubatch), "--prefix", fmt.Sprint(o.prefix),
		"--flash-mode", o.flash}
	cmd := exec.Command(exe, args...)
	if env, ok := pawVariants[engine]; ok {
		args[1] = "paw"
		cmd = exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), env)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return Result{Engine: engine, Err: fmt.Sprintf("child: %v %v: %s", runErr, err, msg)}
	}
	if engine == "peer" {
		// ggml_backend_load_best logs the variant it chose.
		if m := regexp.MustCompile(`loaded (\S+) backend from (\S+)`).FindAllStringSubmatch(errb.String(), -1); m != nil {
			for _, x := range m {
				if x[1] == "CPU" {
					r.Variant = filepath.Base(x[2])
				}
			}
		}
	}
	return r
}

func runEngine(engine, model, peerLib string, o opts) Result {
	r := Result{Engine: engine, UBatch: o.ubatch, Flash: o.flash}
	if r.UBatch == 0 {
		r.UBatch = o.pp
	}
	bo := basemodel.BenchOptions{PromptTokens: o.pp, GenTokens: o.tg, PrefixTokens: o.prefix, Reps: o.reps,
		Threads: o.threads, UBatch: o.ubatch, FlashAttn: o.flash == "on"}
	var err error
	switch engine {
	case "paw":
		r.R, err = basemodel.BenchModel(context.Background(), model, bo) // exactly `paw bench`
	case "peer":
		err = peerInit(peerLib)
		if err == nil {
			var e *peerEngine
			if e, err = newPeerEngine(model, o); err == nil {
				defer e.Close()
				r.R, err = basemodel.Bench(context.Background(), e, bo)
				r.R.Model = model
			}
		}
	default:
		err = fmt.Errorf("unknown engine %q", engine)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "pawbench:", err)
	os.Exit(1)
}

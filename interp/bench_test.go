package interp

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/schema"
)

// Benchmarks on full-shape Qwen3-0.6B fixtures (random weights, the real
// Qwen3 vocabulary; speed does not depend on weight values). Run with
//
//	make bench-interp
//
// which is: go test -run '^$' -bench . -benchtime 1x ./interp/

// labelPseudo is a label-style pseudo-program of about 250 tokens.
var labelPseudo = "You are a support ticket router. Read the customer message and decide which team should handle it. " +
	"Return ONLY one of: billing, technical, account, other. Do not explain your answer.\n" +
	strings.Repeat("Example: \"I was charged twice this month\" -> billing\nExample: \"The app crashes when I open settings\" -> technical\nExample: \"I cannot reset my password\" -> account\nExample: \"Do you have a store in Berlin?\" -> other\n", 4)

// labelInputs are about 30 tokens each; calls rotate over them.
var labelInputs = []string{
	"Hi, since yesterday's update the export button does nothing and I lose my work every time I try to save a report.",
	"I was billed for the annual plan although I cancelled last month, please refund the difference to my card today.",
	"How do I change the email address on my account? The old one belongs to a colleague who left the company.",
	"Do you ship to Norway, and if so how long does delivery usually take for a small order of three items?",
}

// Variants compared side by side in one run.
var benchVariants = []struct {
	name string
	typ  gguf.Type
	opts Options
}{
	{"Q4_0", gguf.TypeQ4_0, Options{}},
	{"Q4_0/no-drafts", gguf.TypeQ4_0, Options{NoDrafts: true}},
	{"Q4_0/flash", gguf.TypeQ4_0, Options{FlashAttn: true}},
	{"Q8_0", gguf.TypeQ8_0, Options{}},
	{"Q8_0/no-drafts", gguf.TypeQ8_0, Options{NoDrafts: true}},
}

func fullShape(b *testing.B, typ gguf.Type) (string, fixture.Config) {
	cfg, err := fixture.Preset("qwen3-0.6b")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Type = typ
	return fixturetest.Cached(b, "qwen3-0.6b-"+typ.String(), cfg), cfg
}

func benchProgram(b *testing.B, typ gguf.Type, seed uint64, pseudo string) *Func {
	return benchProgramOpts(b, typ, seed, pseudo, Options{})
}

func benchProgramOpts(b *testing.B, typ gguf.Type, seed uint64, pseudo string, o Options) *Func {
	basePath, cfg := fullShape(b, typ)
	p := programFor(b, cfg, seed, pseudo)
	e := newEngine(b, o)
	f := load(b, e, p, basePath)
	return f
}

func percentile(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
}

// BenchmarkLabelCall: warm latency of a label-style call (≤3 output tokens),
// over four inputs in turn.
func BenchmarkLabelCall(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			f := benchProgramOpts(b, v.typ, 1, labelPseudo, v.opts)
			ctx := context.Background()
			o := CallOptions{MaxTokens: 3}
			for _, in := range labelInputs { // warm-up
				f.Call(ctx, in, o)
			}
			var lat []time.Duration
			b.ResetTimer()
			for i := range max(b.N, 24) {
				r, err := f.Call(ctx, labelInputs[i%len(labelInputs)], o)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, r.Latency)
			}
			b.ReportMetric(percentile(lat, 0.5), "p50-ms")
			b.ReportMetric(percentile(lat, 0.95), "p95-ms")
			b.ReportMetric(float64(f.PrefixTokens()), "prefix-tok")
			reportDrafts(b, f)
		})
	}
}

// reportDrafts reports the share of guessed tokens that were kept.
func reportDrafts(b *testing.B, f *Func) {
	if st := f.b.e.Stats(); st.Drafted > 0 {
		b.ReportMetric(float64(st.DraftAccepted)/float64(st.Drafted), "draft-kept")
	}
}

// BenchmarkColdStart: load a new program on an already loaded base model
// (adapter load + prefix evaluation), then in a second engine from the prefix
// cache file the first one wrote.
func BenchmarkColdStart(b *testing.B) {
	basePath, cfg := fullShape(b, gguf.TypeQ4_0)
	p := programFor(b, cfg, 99, labelPseudo)
	dir := b.TempDir()
	for i, name := range []string{"evaluate", "restore"} {
		b.Run(name, func(b *testing.B) {
			e := newEngine(b, Options{CacheDir: dir})
			if _, err := e.LoadBase(context.Background(), basePath); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			f := load(b, e, p, basePath)
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "load-ms")
			if st := e.Stats(); (i == 1) != (st.PrefixEvaluated == 0) {
				b.Fatalf("%s: %+v", name, st)
			}
			f.Close()
		})
	}
}

// BenchmarkGenerative: ~40 output tokens, 8 concurrent callers vs serial.
func BenchmarkGenerative(b *testing.B) {
	for _, v := range benchVariants {
		if v.opts.FlashAttn {
			continue
		}
		b.Run(v.name, func(b *testing.B) {
			f := benchProgramOpts(b, v.typ, 2, labelPseudo, v.opts)
			ctx := context.Background()
			o := CallOptions{MaxTokens: 40}
			inputs := make([]string, 8)
			for i := range inputs {
				inputs[i] = fmt.Sprintf("%s (ticket %d)", labelInputs[i%len(labelInputs)], i)
			}
			f.Call(ctx, inputs[0], o)
			start := time.Now()
			tokens := 0
			for _, in := range inputs {
				r, err := f.Call(ctx, in, o)
				if err != nil {
					b.Fatal(err)
				}
				tokens += r.Tokens
			}
			serial := float64(len(inputs)) / time.Since(start).Seconds()
			start = time.Now()
			var wg sync.WaitGroup
			for _, in := range inputs {
				wg.Go(func() {
					if _, err := f.Call(ctx, in, o); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			concurrent := float64(len(inputs)) / time.Since(start).Seconds()
			b.ReportMetric(serial, "serial-calls/s")
			b.ReportMetric(concurrent, "batched-calls/s")
			b.ReportMetric(concurrent/serial, "speedup")
			b.ReportMetric(float64(tokens)/float64(len(inputs)), "tokens/call")
			reportDrafts(b, f)
		})
	}
}

// BenchmarkContracts: a 4-label call (scored exactly over the label trie)
// against free greedy decoding of the same number of tokens, and the
// per-token cost of a JSON grammar against free decoding; without drafts, so
// that free decoding pays one step per token, as constrained decoding does.
func BenchmarkContracts(b *testing.B) {
	f := benchProgramOpts(b, gguf.TypeQ4_0, 3, labelPseudo, Options{NoDrafts: true})
	ctx := context.Background()
	labels, _ := schema.Labels("billing", "technical", "account", "other")
	tr, _ := f.b.tok.labelTrie(labels.Labels)
	depth := 0
	for _, t := range tr.toks {
		depth = max(depth, len(t))
	}
	measure := func(o CallOptions) (time.Duration, Result) {
		f.Call(ctx, labelInputs[0], o) // warm
		var lat []time.Duration
		var last Result
		for range 7 {
			r, err := f.Call(ctx, labelInputs[0], o)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, r.Latency)
			last = r
		}
		slices.Sort(lat)
		return lat[len(lat)/2], last
	}
	lab, _ := measure(CallOptions{Contract: &labels})
	free, _ := measure(CallOptions{MaxTokens: depth})
	b.ReportMetric(float64(lab.Microseconds())/1000, "labels-p50-ms")
	b.ReportMetric(float64(free.Microseconds())/1000, "free-greedy-p50-ms")
	b.ReportMetric(float64(depth), "label-tokens")
	// Labels of several tokens: the trie's inner nodes ride on the prompt's decode.
	long, _ := schema.Labels("needs_human_review", "auto_resolve", "escalate_to_billing", "spam_or_abuse")
	multi, _ := measure(CallOptions{Contract: &long})
	b.ReportMetric(float64(multi.Microseconds())/1000, "multi-token-labels-p50-ms")

	js, err := schema.JSON([]byte(`{"type":"object","properties":{"team":{"enum":["billing","technical","account","other"]},"priority":{"type":"integer","minimum":1,"maximum":5},"summary":{"type":"string","maxLength":40}},"required":["team","priority","summary"],"additionalProperties":false}`))
	if err != nil {
		b.Fatal(err)
	}
	jd, jr := measure(CallOptions{Contract: &js, MaxTokens: 64, Temperature: 0.5, Seed: 1})
	fd, fr := measure(CallOptions{MaxTokens: jr.Tokens})
	perJSON := float64((jd - jr.FirstToken).Microseconds()) / 1000 / float64(max(jr.Tokens, 1))
	perFree := float64((fd - fr.FirstToken).Microseconds()) / 1000 / float64(max(fr.Tokens, 1))
	b.ReportMetric(perJSON, "json-ms/token")
	b.ReportMetric(perFree, "free-ms/token")
	b.ReportMetric(perJSON-perFree, "json-overhead-ms/token")
}

// rssBytes is the process's resident set size.
func rssBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	b.Fatal("VmRSS not found")
	return 0
}

// BenchmarkManyPrograms loads 20 programs on one Qwen3-0.6B Q4_0 base and
// reports the resident memory each adds, next to its adapter and prefix KV:
// the base model is shared, never copied.
func BenchmarkManyPrograms(b *testing.B) {
	basePath, cfg := fullShape(b, gguf.TypeQ4_0)
	const n = 20
	progs := make([]*program.Program, n)
	for i := range progs {
		progs[i] = programFor(b, cfg, uint64(100+i), fmt.Sprintf("Program %d. %s", i, labelPseudo))
	}
	e := newEngine(b, Options{})
	ctx := context.Background()
	if _, err := e.LoadBase(ctx, basePath); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	before := rssBytes(b)
	var adapterBytes, stateBytes int
	for _, p := range progs {
		f, err := e.Load(ctx, p, basePath)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Call(ctx, labelInputs[0], CallOptions{MaxTokens: 1}); err != nil {
			b.Fatal(err)
		}
		adapterBytes += len(p.Adapter)
		stateBytes += f.PrefixStateBytes()
	}
	runtime.GC()
	perProgram := float64(rssBytes(b)-before) / n / (1 << 20)
	b.ReportMetric(perProgram, "MiB-rss/program")
	b.ReportMetric(float64(adapterBytes)/n/(1<<20), "MiB-adapter/program")
	b.ReportMetric(float64(stateBytes)/n/(1<<20), "MiB-prefix-kv/program")
	st, _ := os.Stat(basePath)
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB-base-model")
}

// BenchmarkProgramMix: label-style calls with four programs loaded on one
// base: all to one program, then round-robin over the four, serially.
func BenchmarkProgramMix(b *testing.B) {
	basePath, cfg := fullShape(b, gguf.TypeQ4_0)
	e := newEngine(b, Options{})
	var fns []*Func
	for i := range 4 {
		f, err := e.Load(context.Background(), programFor(b, cfg, uint64(50+i), labelPseudo), basePath)
		if err != nil {
			b.Fatal(err)
		}
		fns = append(fns, f)
	}
	ctx := context.Background()
	o := CallOptions{MaxTokens: 1}
	for _, mix := range []struct {
		name string
		n    int
	}{{"one", 1}, {"round-robin", 4}} {
		var lat []time.Duration
		for i := range 17 {
			r, err := fns[i%mix.n].Call(ctx, labelInputs[i%len(labelInputs)], o)
			if err != nil {
				b.Fatal(err)
			}
			if i > 0 { // the first call of a mix only sets it up
				lat = append(lat, r.Latency)
			}
		}
		b.ReportMetric(percentile(lat, 0.5), mix.name+"-p50-ms")
	}
}

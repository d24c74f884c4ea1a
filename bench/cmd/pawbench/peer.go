package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	yz "github.com/hybridgroup/yzma/pkg/llama"
)

// defaultPeerLib is where `npm install --prefix bench/peer` puts the libraries.
func defaultPeerLib() string {
	for _, d := range []string{"peer", "bench/peer", "../peer", "../../peer"} {
		p := filepath.Join(d, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	return ""
}

// peerInit loads the npm libraries. They are named libllama.v0.5.0.so and
// libggml.v0.5.0.so (their sonames); yzma opens lib<name>.so, so the same
// directory gets the two plain-named symlinks. ggml_backend_load_all_from_path
// then picks the best libggml-cpu-<variant>.so for this CPU by the score each
// variant exports (it logs the one it loaded).
func peerInit(dir string) error {
	if dir == "" {
		return errors.New("peer libraries not found: npm install --prefix bench/peer @node-llama-cpp/linux-x64@3.22.1")
	}
	for _, n := range []string{"llama", "ggml"} {
		link := filepath.Join(dir, "lib"+n+".so")
		if _, err := os.Lstat(link); err != nil {
			matches, _ := filepath.Glob(filepath.Join(dir, "lib"+n+".v*.so"))
			if len(matches) != 1 {
				return fmt.Errorf("peer: no unique lib%s.v*.so in %s", n, dir)
			}
			if err := os.Symlink(filepath.Base(matches[0]), link); err != nil {
				return err
			}
		}
	}
	if err := yz.Load(dir); err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	yz.Init()
	return nil
}

type peerEngine struct {
	m    yz.Model
	c    yz.Context
	b    yz.Batch
	desc string
	nv   int
}

func newPeerEngine(model string, o opts) (*peerEngine, error) {
	mp := yz.ModelDefaultParams()
	m, err := yz.ModelLoadFromFile(model, mp)
	if err != nil {
		return nil, err
	}
	cp := yz.ContextDefaultParams()
	cp.NCtx = uint32(o.prefix + o.pp + o.tg)
	cp.NBatch = uint32(max(o.pp, o.prefix))
	cp.NUbatch = uint32(o.pp)
	if o.ubatch > 0 {
		cp.NUbatch = uint32(o.ubatch)
	}
	cp.NSeqMax = 1
	cp.NThreads, cp.NThreadsBatch = int32(o.threads), int32(o.threads)
	switch o.flash { // "default" keeps the peer's own: auto
	case "on":
		cp.FlashAttentionType = yz.FlashAttentionTypeEnabled
	case "off":
		cp.FlashAttentionType = yz.FlashAttentionTypeDisabled
	}
	cp.NoPerf = 1
	c, err := yz.InitFromModel(m, cp)
	if err != nil {
		yz.ModelFree(m)
		return nil, err
	}
	e := &peerEngine{m: m, c: c, b: yz.BatchInit(int32(max(o.pp, o.prefix)), 0, 1), desc: yz.ModelDesc(m),
		nv: int(yz.VocabNTokens(yz.ModelGetVocab(m)))}
	fmt.Fprintln(os.Stderr, "peer system info:", strings.TrimSpace(yz.PrintSystemInfo()))
	return e, nil
}

func (e *peerEngine) Desc() string { return e.desc }
func (e *peerEngine) NVocab() int  { return e.nv }
func (e *peerEngine) Threads() int { return int(yz.NThreads(e.c)) }
func (e *peerEngine) ClearKV() {
	mem, err := yz.GetMemory(e.c)
	if err == nil {
		yz.MemoryClear(mem, true)
	}
}
func (e *peerEngine) Close() { yz.BatchFree(e.b); yz.Free(e.c); yz.ModelFree(e.m) }
func (e *peerEngine) Decode(_ context.Context, toks []int32, pos int) error {
	e.b.Clear()
	for i, t := range toks {
		if err := e.b.Add(yz.Token(t), yz.Pos(pos+i), []yz.SeqId{0}, i == len(toks)-1); err != nil {
			return err
		}
	}
	rc, err := yz.Decode(e.c, e.b)
	if err != nil {
		return err
	}
	if rc != 0 {
		return fmt.Errorf("llama_decode returned %d", rc)
	}
	return nil
}

// quantize writes OUT from IN with the peer's llama_model_quantize (spec
// "IN:OUT:TYPE"); paw's Go GGUF writer has no K-quants.
func quantize(dir, spec string) error {
	p := strings.Split(spec, ":")
	if len(p) != 3 {
		return errors.New("--quantize wants IN:OUT:TYPE")
	}
	types := map[string]yz.Ftype{"Q6_K": yz.FtypeMostlyQ6_K, "Q4_K_M": yz.FtypeMostlyQ4_K_M,
		"Q5_K_M": yz.FtypeMostlyQ5_K_M, "Q8_0": yz.FtypeMostlyQ8_0, "Q4_0": yz.FtypeMostlyQ4_0}
	ft, ok := types[p[2]]
	if !ok {
		return fmt.Errorf("unknown type %q", p[2])
	}
	if err := peerInit(dir); err != nil {
		return err
	}
	qp := yz.ModelQuantizeDefaultParams()
	qp.Ftype = ft
	qp.NThread = 2
	if rc := yz.ModelQuantize(p[0], p[1], &qp); rc != 0 {
		return fmt.Errorf("llama_model_quantize returned %d", rc)
	}
	return nil
}

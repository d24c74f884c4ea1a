package llama

/*
#include <stdlib.h>
#include "llama.h"
*/
import "C"

import "unsafe"

// SamplerParams configures NewSampler. The zero value is greedy decoding.
type SamplerParams struct {
	Temperature float32 // 0 = greedy (argmax)
	Seed        uint32  // random seed for Temperature > 0; the same seed gives the same draws
	TopK        int     // 0 = off
	TopP        float32 // 0 or 1 = off
	// Grammar is a GBNF grammar that every sampled token must keep satisfiable;
	// GrammarRoot names its start rule ("root" if empty).
	Grammar     string
	GrammarRoot string
}

// Sampler picks the next token from a context's logits. It carries state
// (the grammar position, the random stream), so use one per generated sequence.
type Sampler struct {
	c *C.struct_llama_sampler
}

// NewSampler builds a sampler chain for m's vocabulary.
func NewSampler(m *Model, p SamplerParams) (*Sampler, error) {
	if m == nil || m.c == nil {
		return nil, ErrClosed
	}
	if p.Temperature < 0 || p.TopK < 0 || p.TopP < 0 || p.TopP > 1 {
		return nil, errorf(ErrInvalidParam, "temperature %g, top_k %d, top_p %g", p.Temperature, p.TopK, p.TopP)
	}
	chain := C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
	if p.Grammar != "" {
		root := p.GrammarRoot
		if root == "" {
			root = "root"
		}
		cg := C.CString(p.Grammar)
		defer C.free(unsafe.Pointer(cg))
		cr := C.CString(root)
		defer C.free(unsafe.Pointer(cr))
		g := C.llama_sampler_init_grammar(m.vocab, cg, cr)
		if g == nil {
			C.llama_sampler_free(chain)
			return nil, errorf(ErrGrammar, "llama.cpp could not parse the grammar (root %q)", root)
		}
		C.llama_sampler_chain_add(chain, g)
	}
	if p.Temperature == 0 {
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_greedy())
		return &Sampler{c: chain}, nil
	}
	if p.TopK > 0 {
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_k(C.int32_t(p.TopK)))
	}
	if p.TopP > 0 && p.TopP < 1 {
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_p(C.float(p.TopP), 1))
	}
	C.llama_sampler_chain_add(chain, C.llama_sampler_init_temp(C.float(p.Temperature)))
	C.llama_sampler_chain_add(chain, C.llama_sampler_init_dist(C.uint32_t(p.Seed)))
	return &Sampler{c: chain}, nil
}

// Close frees the sampler.
func (s *Sampler) Close() error {
	if s == nil || s.c == nil {
		return nil
	}
	C.llama_sampler_free(s.c)
	s.c = nil
	return nil
}

// Sample picks a token from the logits at batch index i of ctx's last decode
// and accepts it (advancing the grammar).
func (s *Sampler) Sample(ctx *Context, i int) Token {
	return Token(C.llama_sampler_sample(s.c, ctx.c, C.int32_t(i)))
}

// Accept advances the sampler's state with a token chosen elsewhere.
func (s *Sampler) Accept(t Token) { C.llama_sampler_accept(s.c, C.llama_token(t)) }

// Reset restarts the sampler (grammar at its root; the random stream continues).
func (s *Sampler) Reset() { C.llama_sampler_reset(s.c) }

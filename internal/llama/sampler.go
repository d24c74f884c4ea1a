package llama

/*
#include <stdlib.h>
#include "llama.h"
#include "paw.h"
*/
import "C"

import (
	"math"
	"unsafe"
)

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
	c       *C.struct_llama_sampler // greedy or temperature chain
	grammar *C.struct_llama_sampler // nil without a grammar
	buf     *C.llama_token_data     // candidates, n_vocab entries (C memory)
	nVocab  int
	greedy  bool // argmax without a grammar: no candidate array needed
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
	var grammar *C.struct_llama_sampler
	if p.Grammar != "" {
		root := p.GrammarRoot
		if root == "" {
			root = "root"
		}
		cg := C.CString(p.Grammar)
		defer C.free(unsafe.Pointer(cg))
		cr := C.CString(root)
		defer C.free(unsafe.Pointer(cr))
		grammar = C.llama_sampler_init_grammar(m.vocab, cg, cr)
		if grammar == nil {
			C.llama_sampler_free(chain)
			return nil, errorf(ErrGrammar, "llama.cpp could not parse the grammar (root %q)", root)
		}
	}
	s := &Sampler{c: chain, grammar: grammar, nVocab: m.NVocab()}
	s.buf = (*C.llama_token_data)(C.malloc(C.size_t(s.nVocab) * C.size_t(unsafe.Sizeof(C.llama_token_data{}))))
	if p.Temperature == 0 {
		s.greedy = grammar == nil
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_greedy())
		return s, nil
	}
	if p.TopK > 0 {
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_k(C.int32_t(p.TopK)))
	}
	if p.TopP > 0 && p.TopP < 1 {
		C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_p(C.float(p.TopP), 1))
	}
	C.llama_sampler_chain_add(chain, C.llama_sampler_init_temp(C.float(p.Temperature)))
	C.llama_sampler_chain_add(chain, C.llama_sampler_init_dist(C.uint32_t(p.Seed)))
	return s, nil
}

// Close frees the sampler.
func (s *Sampler) Close() error {
	if s == nil || s.c == nil {
		return nil
	}
	C.llama_sampler_free(s.c)
	if s.grammar != nil {
		C.llama_sampler_free(s.grammar)
	}
	C.free(unsafe.Pointer(s.buf))
	s.c, s.grammar, s.buf = nil, nil, nil
	return nil
}

// Sample picks a token from the logits at batch index i of ctx's last decode
// and accepts it (advancing the grammar). With a grammar, the unconstrained
// choice is kept when the grammar allows it; otherwise the choice is made
// again among the tokens the grammar allows (greedy: the same result as
// masking first, at a fraction of the cost). It returns -1 if the logits are
// missing or nothing can be sampled.
func (s *Sampler) Sample(ctx *Context, i int) Token {
	logits := ctx.logitsPtr(i)
	if logits == nil {
		return -1
	}
	if s.greedy {
		// The greedy chain keeps no state, so there is nothing to accept.
		return Token(C.paw_argmax(logits, C.int32_t(s.nVocab)))
	}
	return Token(C.paw_sample(s.c, s.grammar, logits, C.int32_t(s.nVocab), s.buf))
}

// Accept advances the sampler's state with a token chosen elsewhere.
func (s *Sampler) Accept(t Token) {
	if s.grammar != nil {
		C.llama_sampler_accept(s.grammar, C.llama_token(t))
	}
	C.llama_sampler_accept(s.c, C.llama_token(t))
}

// Reset restarts the sampler (grammar at its root; the random stream continues).
func (s *Sampler) Reset() {
	if s.grammar != nil {
		C.llama_sampler_reset(s.grammar)
	}
	C.llama_sampler_reset(s.c)
}

// LogSumExp returns log(sum(exp(x))) of a logits row: the normaliser that
// turns a logit into a log-probability. Computed in C, vectorized (relative
// error below 1e-6).
func LogSumExp(x []float32) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	return float64(C.paw_logsumexp((*C.float)(unsafe.Pointer(&x[0])), C.int32_t(len(x))))
}

package llama

/*
#include "llama.h"
*/
import "C"

import "unsafe"

// Batch holds tokens for one Decode call, each with its position, the
// sequences it belongs to and whether its logits are wanted.
type Batch struct {
	c       C.struct_llama_batch
	cap     int
	nSeqMax int
}

// NewBatch allocates room for n tokens, each in up to nSeqMax sequences.
func NewBatch(n, nSeqMax int) *Batch {
	if n < 1 {
		n = 1
	}
	if nSeqMax < 1 {
		nSeqMax = 1
	}
	return &Batch{c: C.llama_batch_init(C.int32_t(n), 0, C.int32_t(nSeqMax)), cap: n, nSeqMax: nSeqMax}
}

// Close frees the batch.
func (b *Batch) Close() error {
	if b == nil || b.cap == 0 {
		return nil
	}
	C.llama_batch_free(b.c)
	b.cap = 0
	return nil
}

// Len is the number of tokens in the batch.
func (b *Batch) Len() int { return int(b.c.n_tokens) }

// Cap is the most tokens the batch holds.
func (b *Batch) Cap() int { return b.cap }

// Clear empties the batch for reuse.
func (b *Batch) Clear() { b.c.n_tokens = 0 }

// Add appends token t at position pos of the given sequences and returns its
// index in the batch (the index Logits and Sample take).
func (b *Batch) Add(t Token, pos int, seqs []int, logits bool) (int, error) {
	i := int(b.c.n_tokens)
	if i >= b.cap {
		return 0, ErrBatchFull
	}
	if len(seqs) == 0 || len(seqs) > b.nSeqMax {
		return 0, errorf(ErrInvalidParam, "token needs 1..%d sequence ids, got %d", b.nSeqMax, len(seqs))
	}
	unsafe.Slice(b.c.token, b.cap)[i] = C.llama_token(t)
	unsafe.Slice(b.c.pos, b.cap)[i] = C.llama_pos(pos)
	unsafe.Slice(b.c.n_seq_id, b.cap)[i] = C.int32_t(len(seqs))
	ids := unsafe.Slice(unsafe.Slice(b.c.seq_id, b.cap)[i], b.nSeqMax)
	for j, s := range seqs {
		ids[j] = C.llama_seq_id(s)
	}
	var l C.int8_t
	if logits {
		l = 1
	}
	unsafe.Slice(b.c.logits, b.cap)[i] = l
	b.c.n_tokens++
	return i, nil
}

// AddSeq appends tokens of one sequence at consecutive positions from pos,
// asking for logits of the last one only when lastLogits is set.
func (b *Batch) AddSeq(tokens []Token, pos, seq int, lastLogits bool) error {
	if b.Len()+len(tokens) > b.cap {
		return ErrBatchFull
	}
	s := []int{seq}
	for i, t := range tokens {
		if _, err := b.Add(t, pos+i, s, lastLogits && i == len(tokens)-1); err != nil {
			return err
		}
	}
	return nil
}

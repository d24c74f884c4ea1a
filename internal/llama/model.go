package llama

/*
#include <stdlib.h>
#include "llama.h"
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

// ModelParams configures LoadModel. The zero value memory-maps the file on the CPU.
type ModelParams struct {
	NoMmap    bool // read the weights into memory instead of mapping the file
	VocabOnly bool // load only the vocabulary (fast; for tokenizing)
}

// Model is a loaded GGUF model. It is safe for concurrent use by any number of
// contexts; Close it after every Context and Adapter made from it.
type Model struct {
	c     *C.struct_llama_model
	vocab *C.struct_llama_vocab
	path  string
}

// LoadModel loads a GGUF model file.
func LoadModel(path string, p ModelParams) (*Model, error) {
	Init()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	mp := C.llama_model_default_params()
	mp.n_gpu_layers = 0
	mp.use_mmap = cBool(!p.NoMmap)
	mp.vocab_only = cBool(p.VocabOnly)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	m := C.llama_model_load_from_file(cpath, mp)
	if m == nil {
		return nil, errorf(ErrLoadModel, "%s (not a GGUF model llama.cpp supports; run with PAW_LOG_LEVEL=debug for details)", path)
	}
	return &Model{c: m, vocab: C.llama_model_get_vocab(m), path: path}, nil
}

// Close frees the model.
func (m *Model) Close() error {
	if m == nil || m.c == nil {
		return nil
	}
	C.llama_model_free(m.c)
	m.c = nil
	return nil
}

// Path is the file the model was loaded from.
func (m *Model) Path() string { return m.path }

// Meta returns a metadata value rendered as a string.
func (m *Model) Meta(key string) (string, bool) {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	return metaString(func(buf *C.char, n C.size_t) C.int32_t {
		return C.llama_model_meta_val_str(m.c, ckey, buf, n)
	})
}

// metaString calls a llama.cpp "write a string into buf" function, growing buf as needed.
func metaString(get func(buf *C.char, n C.size_t) C.int32_t) (string, bool) {
	size := 256
	for {
		buf := (*C.char)(C.malloc(C.size_t(size)))
		n := int(get(buf, C.size_t(size)))
		if n < 0 {
			C.free(unsafe.Pointer(buf))
			return "", false
		}
		if n < size {
			s := C.GoStringN(buf, C.int(n))
			C.free(unsafe.Pointer(buf))
			return s, true
		}
		C.free(unsafe.Pointer(buf))
		size = n + 1
	}
}

// Arch is general.architecture ("qwen3", "gpt2", "llama", ...).
func (m *Model) Arch() string { s, _ := m.Meta("general.architecture"); return s }

// Desc is llama.cpp's one-line description (architecture, size, type).
func (m *Model) Desc() string {
	s, _ := metaString(func(buf *C.char, n C.size_t) C.int32_t { return C.llama_model_desc(m.c, buf, n) })
	return s
}

// NCtxTrain is the context length the model was trained with.
func (m *Model) NCtxTrain() int { return int(C.llama_model_n_ctx_train(m.c)) }

// NEmbd is the embedding width.
func (m *Model) NEmbd() int { return int(C.llama_model_n_embd(m.c)) }

// NLayer is the number of transformer blocks.
func (m *Model) NLayer() int { return int(C.llama_model_n_layer(m.c)) }

// NVocab is the vocabulary size (the length of a logits row).
func (m *Model) NVocab() int { return int(C.llama_vocab_n_tokens(m.vocab)) }

// NParams is the parameter count.
func (m *Model) NParams() uint64 { return uint64(C.llama_model_n_params(m.c)) }

// Size is the total size of the weights in bytes.
func (m *Model) Size() uint64 { return uint64(C.llama_model_size(m.c)) }

// ChatTemplate is the model's default chat template, or "" if it has none.
func (m *Model) ChatTemplate() string {
	p := C.llama_model_chat_template(m.c, nil)
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// BOS is the beginning-of-sequence token, or -1.
func (m *Model) BOS() Token { return Token(C.llama_vocab_bos(m.vocab)) }

// EOS is the end-of-sequence token, or -1.
func (m *Model) EOS() Token { return Token(C.llama_vocab_eos(m.vocab)) }

// EOT is the end-of-turn token, or -1.
func (m *Model) EOT() Token { return Token(C.llama_vocab_eot(m.vocab)) }

// AddBOS reports whether the model expects BOS prepended (tokenizer.ggml.add_bos_token).
func (m *Model) AddBOS() bool { return bool(C.llama_vocab_get_add_bos(m.vocab)) }

// IsEOG reports whether t ends generation (EOS, EOT and the like).
func (m *Model) IsEOG(t Token) bool { return bool(C.llama_vocab_is_eog(m.vocab, C.llama_token(t))) }

// IsControl reports whether t is a control token such as <|im_end|>.
func (m *Model) IsControl(t Token) bool {
	return C.llama_vocab_get_attr(m.vocab, C.llama_token(t))&C.LLAMA_TOKEN_ATTR_CONTROL != 0
}

// IsUserDefined reports whether t is a user-defined token (such as Qwen3's
// <think>): llama.cpp matches those in text even without special parsing.
func (m *Model) IsUserDefined(t Token) bool {
	return C.llama_vocab_get_attr(m.vocab, C.llama_token(t))&C.LLAMA_TOKEN_ATTR_USER_DEFINED != 0
}

// TokenText is the token's vocabulary entry as stored in the GGUF.
func (m *Model) TokenText(t Token) string {
	return C.GoString(C.llama_vocab_get_text(m.vocab, C.llama_token(t)))
}

// Tokenize converts text to tokens. addSpecial prepends BOS (and the like) when
// the model asks for it; parseSpecial lets text such as "<|im_end|>" become the
// control token. Never set parseSpecial for untrusted text.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]Token, error) {
	if len(text) > 1<<30 {
		return nil, errorf(ErrTokenize, "text of %d bytes is too long", len(text))
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	n := len(text) + 8
	for range 2 {
		buf := make([]Token, n)
		got := C.llama_tokenize(m.vocab, ctext, C.int32_t(len(text)),
			(*C.llama_token)(unsafe.Pointer(unsafe.SliceData(buf))), C.int32_t(n), cBool(addSpecial), cBool(parseSpecial))
		if got >= 0 {
			return buf[:got], nil
		}
		if got == C.INT32_MIN {
			break
		}
		n = int(-got)
	}
	return nil, errorf(ErrTokenize, "text of %d bytes", len(text))
}

// TokenToPiece renders one token; special renders control tokens as their text.
func (m *Model) TokenToPiece(t Token, special bool) string {
	var small [64]C.char
	n := C.llama_token_to_piece(m.vocab, C.llama_token(t), &small[0], C.int32_t(len(small)), 0, cBool(special))
	if n >= 0 {
		return C.GoStringN(&small[0], n)
	}
	buf := make([]C.char, -n)
	n = C.llama_token_to_piece(m.vocab, C.llama_token(t), &buf[0], C.int32_t(len(buf)), 0, cBool(special))
	if n < 0 {
		return ""
	}
	return C.GoStringN(&buf[0], n)
}

// Detokenize converts tokens back to text. With renderSpecial, control tokens
// are written as their text; otherwise they are dropped.
func (m *Model) Detokenize(tokens []Token, renderSpecial bool) (string, error) {
	if len(tokens) == 0 {
		return "", nil
	}
	ptr := (*C.llama_token)(unsafe.Pointer(unsafe.SliceData(tokens)))
	n := len(tokens)*8 + 16
	for range 2 {
		buf := make([]byte, n)
		got := C.llama_detokenize(m.vocab, ptr, C.int32_t(len(tokens)),
			(*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(n), cBool(false), cBool(renderSpecial))
		if got >= 0 {
			return string(buf[:got]), nil
		}
		n = int(-got)
	}
	return "", errorf(ErrTokenize, "detokenize %d tokens", len(tokens))
}

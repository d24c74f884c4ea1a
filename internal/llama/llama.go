// Package llama is paw's thin binding over llama.cpp's C API (llama.h): models,
// contexts, batches, LoRA adapters, samplers and sequence state. It is the only
// package in paw that uses cgo; everything it exports is plain Go.
//
// llama.cpp is compiled from the sources vendored by github.com/ollama/ollama
// (see the Makefile for the compiler flags, which decide its speed).
package llama

/*
#include <stdlib.h>
#include "llama.h"
#include "paw.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	_ "github.com/ollama/ollama/llama/llama.cpp/src" // compiles libllama and ggml-cpu
)

// Commit is the llama.cpp commit vendored by the pinned ollama module (v0.17.4).
const Commit = "ec98e2002"

// Token is a vocabulary id.
type Token int32

// Errors returned by the binding. Each distinct C failure has its own sentinel.
var (
	ErrKVFull       = errors.New("llama: no KV cache slot for the batch (context full)")
	ErrAborted      = errors.New("llama: decode aborted")
	ErrDecode       = errors.New("llama: decode failed")
	ErrNoLogits     = errors.New("llama: no logits at that batch position")
	ErrClosed       = errors.New("llama: use of closed object")
	ErrLoadModel    = errors.New("llama: failed to load model")
	ErrLoadAdapter  = errors.New("llama: failed to load LoRA adapter")
	ErrGrammar      = errors.New("llama: invalid grammar")
	ErrState        = errors.New("llama: sequence state rejected")
	ErrTokenize     = errors.New("llama: tokenize failed")
	ErrBatchFull    = errors.New("llama: batch is full")
	ErrContextInit  = errors.New("llama: failed to create context")
	ErrInvalidParam = errors.New("llama: invalid parameter")
	ErrQuantize     = errors.New("llama: quantize failed")
)

var (
	initOnce     sync.Once
	attentionOff atomic.Bool // paw's attention kernel turned off (SetFastAttention)
)

// Init initialises the backend once per process. Loading a model calls it; it is
// exported for callers that want the system info first.
func Init() {
	initOnce.Do(func() {
		SetLogLevel(defaultLogLevel())
		C.llama_backend_init()
		registerAttention()
		registerMatmul()
	})
}

// defaultLogLevel is the lowest level slog's default handler takes, so that
// llama.cpp's log follows the process's log level.
func defaultLogLevel() slog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if slog.Default().Enabled(context.Background(), l) {
			return l
		}
	}
	return slog.LevelError
}

// SetLogLevel routes llama.cpp/ggml log lines at or above level to slog (at
// debug level for llama.cpp's info lines). The default is warnings and errors.
func SetLogLevel(level slog.Level) {
	min := C.GGML_LOG_LEVEL_WARN
	switch {
	case level <= slog.LevelDebug:
		min = C.GGML_LOG_LEVEL_DEBUG
	case level <= slog.LevelInfo:
		min = C.GGML_LOG_LEVEL_INFO
	case level <= slog.LevelWarn:
		min = C.GGML_LOG_LEVEL_WARN
	default:
		min = C.GGML_LOG_LEVEL_ERROR
	}
	C.paw_log_install(C.int(min))
}

var logBuf struct {
	sync.Mutex
	strings.Builder
	level int
}

//export pawLog
func pawLog(level C.int, text *C.char) {
	logBuf.Lock()
	defer logBuf.Unlock()
	logBuf.level = int(level)
	logBuf.WriteString(C.GoString(text))
	s := logBuf.String()
	if !strings.HasSuffix(s, "\n") {
		return // llama.cpp continues the line in the next call
	}
	logBuf.Reset()
	var l slog.Level
	switch logBuf.level {
	case C.GGML_LOG_LEVEL_ERROR:
		l = slog.LevelError
	case C.GGML_LOG_LEVEL_WARN:
		l = slog.LevelWarn
	default:
		l = slog.LevelDebug
	}
	msg := strings.TrimSpace(s)
	if l == slog.LevelWarn && benignWarning(msg) {
		l = slog.LevelDebug
	}
	slog.Log(context.Background(), l, msg, "source", "llama.cpp")
}

// benignWarning reports llama.cpp warnings that paw causes on purpose.
func benignWarning(msg string) bool {
	return strings.Contains(msg, "the full capacity of the model will not be utilized") || // contexts sized to the call
		strings.Contains(msg, "cannot use buft") || // LoRA tensors stay in plain CPU buffers next to repacked weights
		// One KV cache holds many sequences, so it may outsize the trained
		// context; interp bounds each call by the trained context itself.
		strings.Contains(msg, "possible training context overflow") ||
		strings.Contains(msg, "but [0] was specified") // CaptureHidden asks for per-token embeddings (pooling none)
}

// SystemInfo reports the CPU features llama.cpp was compiled for and detects.
func SystemInfo() string {
	Init()
	return strings.TrimSpace(C.GoString(C.llama_print_system_info()))
}

// MaxThreads is the most compute threads paw ever runs: one per available CPU.
// More threads than cores measured ~0.3 tok/s instead of ~20.
func MaxThreads() int { return runtime.NumCPU() }

// clampThreads returns n limited to [1, MaxThreads()], with 0 meaning all cores.
func clampThreads(n int) int {
	max := MaxThreads()
	if n <= 0 || n > max {
		if n > max {
			slog.Warn("llama: thread count above available cores, clamped", "requested", n, "cores", max)
		}
		return max
	}
	return n
}

func cBool(b bool) C.bool { return C.bool(b) }

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

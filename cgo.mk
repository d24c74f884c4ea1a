# cgo flags for llama.cpp, shared by ./Makefile and bench/Makefile so that both
# build the same C++ and Go's build cache holds it. llama.cpp is compiled from the
# sources that the pinned ollama module vendors; the flags decide its speed
# (cgo's default -O2 without -march measured 7-10x slower).
GO ?= go
# The module directory comes from the root module (bench/ is a module of its own).
# `go list -m` prints an empty Dir until the module is in the module cache, so the
# same shell downloads it first: on a fresh machine the first make must work.
OLLAMA_DIR := $(shell cd $(dir $(lastword $(MAKEFILE_LIST))) && $(GO) mod download github.com/ollama/ollama && $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama)
ifeq ($(wildcard $(OLLAMA_DIR)/llama/llama.cpp/include/llama.h),)
$(error llama.cpp headers not found in the ollama module ("$(OLLAMA_DIR)"): `go mod download github.com/ollama/ollama` failed; check GOPROXY/GOFLAGS and the network, then run make again)
endif
# native takes every extension of the building CPU (AVX-512/VNNI here: +60% prompt
# speed over x86-64-v3, measured with `paw bench`); AMX is excluded because plain
# -march=native fails to link on AMX CPUs. PAW_MARCH=x86-64-v3 builds a portable binary.
PAW_MARCH ?= native
ifeq ($(PAW_MARCH),native)
ARCHFLAGS := -march=native -mno-amx-int8 -mno-amx-tile -mno-amx-bf16
else
ARCHFLAGS := -march=$(PAW_MARCH)
endif
export CGO_ENABLED := 1
export CGO_CFLAGS := -O3 $(ARCHFLAGS)
export CGO_CXXFLAGS := -O3 $(ARCHFLAGS)
# ggml/src holds ggml-backend-impl.h, which paw's attention backend (internal/llama/attn.c) implements.
export CGO_CPPFLAGS := -I$(OLLAMA_DIR)/llama/llama.cpp/include -I$(OLLAMA_DIR)/ml/backend/ggml/ggml/include -I$(OLLAMA_DIR)/ml/backend/ggml/ggml/src -DGGML_USE_CPU_REPACK -DNDEBUG

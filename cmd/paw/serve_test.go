package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/compile/lora"
	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
	"github.com/paw-dev/paw/server"
)

// serveInProcess runs `paw serve` with args on a free loopback port until
// the test ends (or stop, which returns its error), once /ready says so.
func serveInProcess(t *testing.T, args ...string) (url string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runPawContext(t, ctx, append([]string{"serve", "--addr", addr}, args...)...)
		done <- err
	}()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("serve did not stop")
		}
	})
	t.Cleanup(func() { stop() })
	url = "http://" + addr
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url, stop
			}
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("not ready: %v", err)
		}
	}
}

// TestServe runs `paw serve` with a preloaded fixture program, answers an
// OpenAI chat request and an /infer from it, and stops cleanly (drained,
// exit status 0) when its context ends, as on SIGTERM.
func TestServe(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 4, "Say whether the text is about cats.")
	url, stop := serveInProcess(t, "--model", base, "--program", pawPath, "--no-drafts")
	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"`+pawPath+`","messages":[{"role":"user","content":"my cat"}],"max_tokens":4}`))
	if err != nil {
		t.Fatal(err)
	}
	var chat api.ChatResponse
	if err := json.NewDecoder(resp.Body).Decode(&chat); err != nil || resp.StatusCode != 200 || len(chat.Choices) != 1 {
		t.Fatalf("chat: %d %+v %v", resp.StatusCode, chat, err)
	}
	resp.Body.Close()
	resp, err = http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"`+base+`","messages":[{"role":"user","content":"my cat"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the base model as model: %d, want 400", resp.StatusCode)
	}
	if err := stop(); err != nil || exitCode(err) != exitOK {
		t.Errorf("serve after shutdown: %v", err)
	}
}

// TestServeCompile: paw serve with a base model compiles by LoRA training
// for POST /api/v1/compile, caches the program and serves it by id.
func TestServeCompile(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	cfg, _ := fixture.Preset("qwen3-tiny")
	base := fixturetest.Cached(t, "qwen3-tiny", cfg)
	url, _ := serveInProcess(t, "--model", base, "--compile-rank", "8", "--compile-epochs", "1", "--threads", "1")
	post := func(path, body string, out any) int {
		t.Helper()
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s: %d: %v", path, resp.StatusCode, err)
		}
		return resp.StatusCode
	}
	var cr api.CompileResponse
	if code := post("/api/v1/compile", `{"spec": "warm or cold colour?", "examples": [{"input": "red", "output": "warm"}, {"input": "blue", "output": "cold"}]}`, &cr); code != 200 ||
		!program.ValidID(cr.ProgramID) || cr.CompilerKind != lora.CompilerName || cr.CompilerSnapshot != lora.CompilerSnapshot {
		t.Fatalf("compile: %d %+v", code, cr)
	}
	var ir api.InferResponse
	if code := post("/api/v1/infer", `{"program_id": "`+cr.ProgramID+`", "input": "red", "max_tokens": 3}`, &ir); code != 200 || ir.Path != api.PathLocal {
		t.Errorf("infer the compiled program: %d %+v", code, ir)
	}
}

// TestServeBadConfig: a routing file that cannot be used stops paw serve
// before it opens a model, with the file, the function and the reason.
func TestServeBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte("functions:\n  alice/triage: {route: fallback, treshold: 0.8}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runPaw(t, "serve", "--config", path, "--model", "/nonexistent.gguf")
	if !errors.Is(err, server.ErrRoutes) || !strings.Contains(err.Error(), "routes.yaml") || !strings.Contains(err.Error(), "treshold") {
		t.Errorf("error %v, want the routing file's unknown key", err)
	}
}

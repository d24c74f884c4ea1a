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
	"testing"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/server"
)

// TestServe runs `paw serve` with a preloaded fixture program, answers an
// OpenAI chat request and an /infer from it, and stops cleanly (drained,
// exit status 0) when its context ends, as on SIGTERM.
func TestServe(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	base, pawPath, _ := packFixture(t, "gpt2-tiny", 4, "Say whether the text is about cats.")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := runPawContext(t, ctx, "serve", "--addr", addr, "--model", base, "--program", pawPath, "--no-drafts")
		done <- err
	}()
	url := "http://" + addr
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("not ready: %v", err)
		}
	}
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
	cancel()
	select {
	case err := <-done:
		if err != nil || exitCode(err) != exitOK {
			t.Errorf("serve after shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
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

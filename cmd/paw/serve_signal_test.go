package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paw-dev/paw/api"
)

// startPaw starts paw (this test binary running main) with args in its own
// process; its stderr goes to the returned buffer.
func startPaw(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PAW_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &stderr
}

// TestServeSIGTERM sends a real SIGTERM to a paw serve process while a
// long streamed request runs: new connections are refused at once, the
// request runs to its end with 200, and paw exits 0.
func TestServeSIGTERM(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", t.TempDir())
	t.Setenv("PAW_OFFLINE", "1")
	t.Setenv("PAW_THREADS", "1")
	base, pawPath, _ := packFixture(t, "qwen3-tiny", 4, "Tell a story.")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	proc, stderr := startPaw(t, "serve", "--addr", addr, "--model", base, "--program", pawPath, "--no-drafts")
	url := "http://" + addr
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("not ready; stderr:\n%s", stderr)
		}
	}
	const maxTokens = 1500
	body, _ := json.Marshal(api.ChatRequest{Model: pawPath, Messages: []api.ChatMessage{{Role: "user", Content: "once upon a time"}},
		MaxTokens: maxTokens, Stream: true})
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rd := bufio.NewReader(resp.Body)
	rd.ReadString('\n') // the role: the call is running
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(signalled) > 5*time.Second {
			t.Fatal("new connections still accepted 5 s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	refused := time.Since(signalled)
	var last api.ChatChunk
	done := false
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			break
		}
		data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c api.ChatChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		last = c
	}
	finished := time.Since(signalled)
	if !done || last.Usage == nil || last.Choices[0].FinishReason == nil {
		t.Fatalf("the request in flight was cut: last %+v, [DONE] %v; stderr:\n%s", last, done, stderr)
	}
	if finished <= refused {
		t.Errorf("the request ended (%v after SIGTERM) before connections were refused (%v): nothing drained", finished, refused)
	}
	if err := proc.Wait(); err != nil { // an *exec.ExitError for a status other than 0
		t.Fatalf("paw serve exited with %v; stderr:\n%s", err, stderr)
	}
	t.Logf("refused %v after SIGTERM; the request in flight ended %v after (%d tokens)", refused, finished, last.Usage.CompletionTokens)
}

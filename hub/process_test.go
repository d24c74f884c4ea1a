package hub

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A test binary started with helperEnv set pulls one runtime and exits; the
// tests below run it as a second process.
const helperEnv = "HUB_TEST_HELPER_PULL"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(helperPull(spec))
	}
	os.Exit(m.Run())
}

// helperPull reads "dir|url|size|sha256" and pulls runtime test-rt.
func helperPull(spec string) int {
	f := strings.Split(spec, "|")
	size, _ := strconv.ParseInt(f[2], 10, 64)
	c := &Client{Dir: f[0], BaseURL: "http://127.0.0.1:1", RetryDelay: time.Millisecond, Retries: -1,
		Runtimes: map[string]Runtime{"test-rt": {ID: "test-rt", File: "model.gguf", Size: size, SHA256: f[3], URL: f[1]}},
		Trace: func(e Event) {
			if e.Kind == EventStart || e.Kind == EventDone || e.Kind == EventWait {
				fmt.Println(e.Kind, e.Completed, e.Cached) // the parent reads these
			}
		}}
	if _, err := c.PullRuntime(context.Background(), "test-rt"); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func startHelper(t *testing.T, dir string, rt Runtime) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d|%s", helperEnv, dir, rt.URL, rt.Size, rt.SHA256))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// slowModel serves the model in chunks with pauses, until release is closed
// (if stall is set, it stops after half and waits for release).
func slowModel(h *fakeHub, model []byte, stall bool, release <-chan struct{}, started chan<- struct{}) {
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/files/model.gguf" || r.Header.Get("Range") != "" {
			return false
		}
		w.Header().Set("ETag", etagOf(model))
		w.Header().Set("Content-Length", strconv.Itoa(len(model)))
		w.WriteHeader(200)
		chunk := len(model)/10 + 1
		for i := 0; i < len(model); i += chunk {
			if stall && i >= len(model)/2 {
				select {
				case started <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
				panic(http.ErrAbortHandler)
			}
			w.Write(model[i:min(i+chunk, len(model))])
			w.(http.Flusher).Flush()
			if i == 0 && !stall {
				select {
				case started <- struct{}{}:
				default:
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		return true
	})
}

func TestTwoProcessesDownloadOnce(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	dir := t.TempDir()
	c := h.client(dir)
	c.Runtimes = h.addModel(model)
	started := make(chan struct{}, 1)
	slowModel(h, model, false, nil, started)

	cmd, out := startHelper(t, dir, c.Runtimes["test-rt"])
	select {
	case <-started: // the other process is downloading, holding the lock
	case <-time.After(30 * time.Second):
		t.Fatal("helper never started downloading")
	}
	evs := collect(c)
	p, err := c.PullRuntime(context.Background(), "test-rt")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for out.Scan() { // until the helper exits
		lines = append(lines, out.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if got := h.hitCount("/files/model.gguf"); got != 1 {
		t.Errorf("model served %d times, want 1", got)
	}
	k := kinds(*evs)
	if k[EventWait] != 1 || k[EventStart] != 0 {
		t.Errorf("this process: events %v, want a wait and no download", k)
	}
	if last := (*evs)[len(*evs)-1]; last.Kind != EventDone || !last.Cached {
		t.Errorf("last event %+v", last)
	}
	if b, _ := os.ReadFile(p); sha(b) != sha(model) {
		t.Error("installed bytes differ")
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "start 0") {
		t.Errorf("helper output %q", lines)
	}
}

func TestKilledDownloadLeavesNoCorruptFile(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	dir := t.TempDir()
	c := h.client(dir)
	c.Runtimes = h.addModel(model)
	release, stalled := make(chan struct{}), make(chan struct{}, 1)
	slowModel(h, model, true, release, stalled)
	defer close(release)

	cmd, _ := startHelper(t, dir, c.Runtimes["test-rt"])
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("helper never got half the file")
	}
	time.Sleep(100 * time.Millisecond) // let it write what it received
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// Nothing half-written is visible as installed.
	if _, err := c.RuntimePath("test-rt"); !errors.Is(err, ErrNotCached) {
		t.Fatalf("RuntimePath after kill: %v", err)
	}
	if files := visibleFiles(t, filepath.Join(dir, "models")); len(files) != 0 {
		t.Fatalf("visible files after kill: %v", files)
	}
	if items, err := c.List(); err != nil || len(items) != 0 {
		t.Fatalf("List after kill = %v, %v", items, err)
	}

	// A fresh pull succeeds, resuming what the dead process left.
	h.setHook(nil)
	p, err := c.PullRuntime(context.Background(), "test-rt")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); sha(b) != sha(model) {
		t.Fatal("installed bytes differ")
	}
	h.mu.Lock()
	ranges := h.ranges
	h.mu.Unlock()
	if len(ranges) != 1 || ranges[0] == "bytes=0-" {
		t.Errorf("second pull: ranges %q; want one resume", ranges)
	}
	var off int64
	fmt.Sscanf(ranges[0], "bytes=%d-", &off)
	if off < int64(len(model))/4 {
		t.Errorf("resumed from %d of %d bytes", off, len(model))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "models", "test-rt", ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

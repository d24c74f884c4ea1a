package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/program"
)

func TestPullRuntime(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	c := h.client(t.TempDir())
	c.Runtimes = h.addModel(model)
	evs := collect(c)
	p, err := c.PullRuntime(context.Background(), "test-rt")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.Dir, "models", "test-rt", "model.gguf"); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	b, _ := os.ReadFile(p)
	if sha(b) != sha(model) {
		t.Error("installed bytes differ")
	}
	if k := kinds(*evs); k[EventStart] != 1 || k[EventVerify] != 1 || k[EventDone] != 1 || k[EventProgress] < 1 {
		t.Errorf("events %v", k)
	}
	last := (*evs)[len(*evs)-1]
	if last.Kind != EventDone || last.Path != p || last.Total != int64(len(model)) {
		t.Errorf("last event %+v", last)
	}
	if got, err := c.RuntimePath("test-rt"); err != nil || got != p {
		t.Errorf("RuntimePath = %s, %v", got, err)
	}
	if key := h.apiKeys["/files/model.gguf"]; key != "" {
		t.Errorf("file host received API key %q", key)
	}
	// The pin needs no manifest; the service's 404 for it is fine.
	if h.hitCount("/api/v1/models/runtimes/test-rt") != 1 {
		t.Errorf("manifest hits %v", h.hits)
	}
}

func TestPullRuntimeRetries5xx(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	c := h.client(t.TempDir())
	c.Runtimes = h.addModel(model)
	waits := recordSleeps(c)
	n := 0
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/files/model.gguf" && n < 2 {
			n++
			writeErr(w, 502, "bad gateway")
			return true
		}
		return false
	})
	evs := collect(c)
	if _, err := c.PullRuntime(context.Background(), "test-rt"); err != nil {
		t.Fatal(err)
	}
	if len(*waits) != 2 || kinds(*evs)[EventRetry] != 2 {
		t.Errorf("waits %v, events %v", *waits, kinds(*evs))
	}
	// Exponential: the second backoff window starts where the first ends.
	if (*waits)[0] > 3*c.RetryDelay/2 || (*waits)[1] < c.RetryDelay {
		t.Errorf("waits %v not exponential from %v", *waits, c.RetryDelay)
	}
}

func TestPullRuntimeResumesAfterCut(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	c := h.client(t.TempDir())
	c.Runtimes = h.addModel(model)
	cut := len(model) / 3
	cuts := 0
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/files/model.gguf" || r.Header.Get("Range") != "" || cuts > 0 {
			return false
		}
		cuts++
		w.Header().Set("ETag", etagOf(model))
		w.Header().Set("Content-Length", strconv.Itoa(len(model)))
		w.WriteHeader(200)
		w.Write(model[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection
	})
	evs := collect(c)
	p, err := c.PullRuntime(context.Background(), "test-rt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if sha(b) != sha(model) {
		t.Fatal("installed bytes differ")
	}
	h.mu.Lock()
	ranges, served := h.ranges, h.served["/files/model.gguf"]
	h.mu.Unlock()
	if len(ranges) != 1 || ranges[0] != "bytes="+strconv.Itoa(cut)+"-" {
		t.Errorf("range requests %q, want one from %d", ranges, cut)
	}
	if served != int64(len(model)) {
		t.Errorf("served %d bytes for a %d-byte file (restarted?)", served, len(model))
	}
	var resumed bool
	for _, e := range *evs {
		resumed = resumed || (e.Kind == EventStart && e.Completed == int64(cut))
	}
	if !resumed {
		t.Error("no start event at the resume offset")
	}
}

func TestPullRuntimeRestartsWhenRangeIgnored(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	c := h.client(t.TempDir())
	c.Runtimes = h.addModel(model)
	first := true
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/files/model.gguf" {
			return false
		}
		w.Header().Set("ETag", etagOf(model))
		w.Header().Set("Content-Length", strconv.Itoa(len(model)))
		w.WriteHeader(200) // never honours Range
		if first {
			first = false
			w.Write(model[:100])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write(model)
		return true
	})
	p, err := c.PullRuntime(context.Background(), "test-rt")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); sha(b) != sha(model) {
		t.Fatal("installed bytes differ")
	}
}

func TestPullRuntimeChecksum(t *testing.T) {
	model := testModel(t)
	tests := []struct {
		name string
		edit func(*Runtime)
	}{
		{"sha256", func(r *Runtime) { r.SHA256 = strings.Repeat("0", 64) }},
		{"size", func(r *Runtime) { r.Size-- }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHub(t)
			c := h.client(t.TempDir())
			c.Runtimes = h.addModel(model)
			rt := c.Runtimes["test-rt"]
			tt.edit(&rt)
			c.Runtimes["test-rt"] = rt
			_, err := c.PullRuntime(context.Background(), "test-rt")
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("err = %v, want ErrChecksum", err)
			}
			dir := filepath.Join(c.Dir, "models", "test-rt")
			if es, _ := os.ReadDir(dir); len(es) != 0 {
				var names []string
				for _, e := range es {
					names = append(names, e.Name())
				}
				t.Errorf("left in %s: %v", dir, names)
			}
			if _, err := c.RuntimePath("test-rt"); !errors.Is(err, ErrNotCached) {
				t.Errorf("RuntimePath err = %v", err)
			}
		})
	}
}

func TestPullRuntimeManifest(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	pins := h.addModel(model)
	pin := pins["test-rt"]
	manifest := func(size int64, sum, url string) map[string]any {
		return map[string]any{"runtime_id": "x", "n_ctx": 2048, "local_sdk": map[string]any{
			"base_model": map[string]any{"url": url, "size_bytes": size, "sha256": sum}}}
	}
	t.Run("pin conflict", func(t *testing.T) {
		c := h.client(t.TempDir())
		c.Runtimes = pins
		m := manifest(pin.Size, strings.Repeat("1", 64), "/files/model.gguf")
		m["runtime_id"] = "test-rt"
		h.manifests["test-rt"] = m
		defer delete(h.manifests, "test-rt")
		if _, err := c.PullRuntime(context.Background(), "test-rt"); !errors.Is(err, ErrPinMismatch) {
			t.Fatalf("err = %v, want ErrPinMismatch", err)
		}
	})
	t.Run("unpinned", func(t *testing.T) {
		c := h.client(t.TempDir())
		c.Runtimes = map[string]Runtime{}
		m := manifest(pin.Size, pin.SHA256, "/files/model.gguf") // relative to the service
		m["runtime_id"] = "other-rt"
		h.manifests["other-rt"] = m
		p, err := c.PullRuntime(context.Background(), "other-rt")
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(p) != "model.gguf" {
			t.Errorf("path %s", p)
		}
		if got, err := c.RuntimePath("other-rt"); err != nil || got != p {
			t.Errorf("RuntimePath = %s, %v", got, err)
		}
		if m, err := c.RuntimeManifest("other-rt"); err != nil || m.NCtx != 2048 {
			t.Errorf("RuntimeManifest = %+v, %v", m, err)
		}
	})
	t.Run("unpinned without manifest", func(t *testing.T) {
		c := h.client(t.TempDir())
		c.Runtimes = map[string]Runtime{}
		_, err := c.PullRuntime(context.Background(), "nope-rt")
		var ae *api.Error
		if !errors.Is(err, ErrNotFound) || !errors.As(err, &ae) || ae.RequestID != "req-1" || ae.Code != "not_found" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad ids", func(t *testing.T) {
		c := h.client(t.TempDir())
		for _, id := range []string{"../x", "", "A", "a/b", "x..y"} {
			if _, err := c.PullRuntime(context.Background(), id); !errors.Is(err, ErrBadRef) {
				t.Errorf("PullRuntime(%q) err = %v", id, err)
			}
		}
	})
}

func TestOfflineRuntime(t *testing.T) {
	model := testModel(t)
	h := newFakeHub(t)
	root := t.TempDir()
	c := h.client(root)
	c.Runtimes = h.addModel(model)
	c.Offline = true
	_, err := c.PullRuntime(context.Background(), "test-rt")
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "paw pull test-rt") {
		t.Fatalf("err = %v", err)
	}
	if h.totalHits() != 0 {
		t.Fatal("offline touched the network")
	}
	c.Offline = false
	p, err := c.PullRuntime(context.Background(), "test-rt")
	if err != nil {
		t.Fatal(err)
	}
	c.Offline = true
	before := h.totalHits()
	if got, err := c.PullRuntime(context.Background(), "test-rt"); err != nil || got != p || h.totalHits() != before {
		t.Errorf("offline cached pull = %s, %v", got, err)
	}
}

func TestOfficialRuntimes(t *testing.T) {
	rts := OfficialRuntimes()
	q := rts[program.DefaultRuntimeQwen3]
	if q.Size != 622733120 || q.SHA256 != "9a16ed5cacba959e63b62e2b6840c3eca2b51c3c3e51d31367ef8e4aafeae33c" || q.File != "qwen3-0.6b-q6_k.gguf" {
		t.Errorf("qwen3 pin %+v", q)
	}
	g := rts[program.DefaultRuntimeGPT2]
	if g.Size != 139804832 || g.SHA256 != "0aa260efb2cce9def922e0546b88ad731cf1a68554db73fa2d4a0949cfa958c5" || g.File != "gpt2-q8_0.gguf" {
		t.Errorf("gpt2 pin %+v", g)
	}
	delete(rts, program.DefaultRuntimeQwen3) // a copy
	if _, ok := OfficialRuntimes()[program.DefaultRuntimeQwen3]; !ok {
		t.Error("OfficialRuntimes returned the shared map")
	}
}

// TestTemporaryDNS: a host that does not resolve fails at once; a resolver
// timeout is retried.
func TestTemporaryDNS(t *testing.T) {
	ctx := context.Background()
	wrap := func(de *net.DNSError) error {
		return fmt.Errorf("pull: %w", &url.Error{Op: "Get", URL: "https://hf.example/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: de}})
	}
	if temporary(ctx, wrap(&net.DNSError{Err: "no such host", Name: "hf.example", IsNotFound: true})) {
		t.Error("no such host: retried, want a failure at once")
	}
	if !temporary(ctx, wrap(&net.DNSError{Err: "i/o timeout", Name: "hf.example", IsTimeout: true})) {
		t.Error("resolver timeout: not retried")
	}
	if !temporary(ctx, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}) {
		t.Error("connection refused: not retried")
	}
}

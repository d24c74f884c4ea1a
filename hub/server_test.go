package hub

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/fixture"
	"github.com/paw-dev/paw/internal/fixture/fixturetest"
	"github.com/paw-dev/paw/program"
)

// fakeHub implements the PAW service contract (and a file host and a
// Hugging Face-style mirror) in process.
type fakeHub struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	programs  map[string][]byte            // id → .paw ZIP
	hf        map[string]map[string][]byte // id → unpacked members
	slugs     map[string]string            // "owner/name[@vN]" → id
	manifests map[string]any               // runtime id → manifest body
	files     map[string][]byte            // name → bytes under /files/
	redirect  bool                         // /download answers 302 to /files/<id>.paw
	hook      func(w http.ResponseWriter, r *http.Request) bool

	hits     map[string]int   // path → requests
	served   map[string]int64 // path → body bytes written
	ranges   []string         // Range headers seen under /files/
	apiKeys  map[string]string
	fileGets chan string // every /files/ request, if set
}

func newFakeHub(t testing.TB) *fakeHub {
	h := &fakeHub{t: t, programs: map[string][]byte{}, hf: map[string]map[string][]byte{}, slugs: map[string]string{},
		manifests: map[string]any{}, files: map[string][]byte{}, hits: map[string]int{}, served: map[string]int64{},
		apiKeys: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/programs/resolve/{owner}/{name}", h.resolve)
	mux.HandleFunc("GET /api/v1/programs/{id}/download", h.download)
	mux.HandleFunc("GET /api/v1/models/runtimes/{id}", h.manifest)
	mux.HandleFunc("GET /files/{name}", h.file)
	mux.HandleFunc("GET /hf/{id}/{name}", h.hfFile)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits[r.URL.Path]++
		h.apiKeys[r.URL.Path] = r.Header.Get("X-API-Key")
		hook := h.hook
		h.mu.Unlock()
		cw := &countingWriter{ResponseWriter: w}
		defer func() {
			h.mu.Lock()
			h.served[r.URL.Path] += cw.n
			h.mu.Unlock()
		}()
		if hook != nil && hook(cw, r) {
			return
		}
		mux.ServeHTTP(cw, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (h *fakeHub) hitCount(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

func (h *fakeHub) totalHits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, v := range h.hits {
		n += v
	}
	return n
}

func (h *fakeHub) setHook(f func(w http.ResponseWriter, r *http.Request) bool) {
	h.mu.Lock()
	h.hook = f
	h.mu.Unlock()
}

func writeErr(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-ID", "req-hdr")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (h *fakeHub) resolve(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("owner") + "/" + r.PathValue("name")
	h.mu.Lock()
	id, ok := h.slugs[key]
	h.mu.Unlock()
	if !ok {
		writeErr(w, 404, `{"detail":"Program not found"}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"program_id": id, "slug": key})
}

func (h *fakeHub) download(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h.mu.Lock()
	b, ok := h.programs[id]
	redirect := h.redirect
	h.mu.Unlock()
	switch {
	case !ok:
		writeErr(w, 404, `{"detail":"Program not found"}`)
	case redirect:
		http.Redirect(w, r, "/files/"+id+".paw", http.StatusFound)
	default:
		w.Header().Set("Content-Type", "application/zip")
		w.Write(b)
	}
}

func (h *fakeHub) manifest(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	m, ok := h.manifests[r.PathValue("id")]
	h.mu.Unlock()
	if !ok {
		writeErr(w, 404, `{"error":"not_found","message":"runtime not found","request_id":"req-1"}`)
		return
	}
	json.NewEncoder(w).Encode(m)
}

func (h *fakeHub) file(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	h.mu.Lock()
	b, ok := h.files[name]
	if !ok && strings.HasSuffix(name, ".paw") {
		b, ok = h.programs[strings.TrimSuffix(name, ".paw")]
	}
	if rg := r.Header.Get("Range"); rg != "" {
		h.ranges = append(h.ranges, rg)
	}
	ch := h.fileGets
	h.mu.Unlock()
	if ch != nil {
		ch <- name
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", etagOf(b))
	http.ServeContent(w, r, name, time.Unix(1700000000, 0), bytes.NewReader(b))
}

func (h *fakeHub) hfFile(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	b, ok := h.hf[r.PathValue("id")][r.PathValue("name")]
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

func etagOf(b []byte) string {
	s := sha256.Sum256(b)
	return `"` + hex.EncodeToString(s[:8]) + `"`
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// client returns a Client for the fake hub with tiny delays.
func (h *fakeHub) client(dir string) *Client {
	return &Client{Dir: dir, BaseURL: h.srv.URL, HFBaseURL: h.srv.URL + "/hf", APIKey: "secret",
		RetryDelay: time.Millisecond, MaxRetryDelay: 50 * time.Millisecond, StallTimeout: 5 * time.Second}
}

var (
	bundleOnce sync.Once
	bundleZIP  []byte
	bundleProg *program.Program
	modelOnce  sync.Once
	modelBytes []byte
)

// testBundle is a valid .paw ZIP built from a fixture adapter.
func testBundle(t testing.TB) (*program.Program, []byte) {
	t.Helper()
	bundleOnce.Do(func() {
		cfg, err := fixture.Preset("qwen3-tiny")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "adapter.gguf")
		if err := fixture.WriteAdapter(path, cfg, fixture.OfficialAdapter(1)); err != nil {
			t.Fatal(err)
		}
		p, err := program.Pack(program.PackOptions{Spec: "classify sentiment", Interpreter: "qwen3", AdapterPath: path})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil {
			t.Fatal(err)
		}
		bundleProg, bundleZIP = p, buf.Bytes()
	})
	if bundleProg == nil {
		t.Fatal("no test bundle")
	}
	return bundleProg, bundleZIP
}

// testModel is a fixture base model GGUF.
func testModel(t testing.TB) []byte {
	t.Helper()
	modelOnce.Do(func() {
		cfg, err := fixture.Preset("gpt2-tiny")
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(fixturetest.Cached(t, "hub-gpt2-tiny", cfg))
		if err != nil {
			t.Fatal(err)
		}
		modelBytes = b
	})
	return modelBytes
}

// addModel serves b as runtime "test-rt" and returns the pins for it.
func (h *fakeHub) addModel(b []byte) map[string]Runtime {
	h.mu.Lock()
	h.files["model.gguf"] = b
	h.mu.Unlock()
	return map[string]Runtime{"test-rt": {ID: "test-rt", BaseModel: "gpt2", File: "model.gguf", Size: int64(len(b)),
		SHA256: sha(b), URL: h.srv.URL + "/files/model.gguf"}}
}

// zipOf builds a ZIP with the given members, in order.
func zipOf(t testing.TB, members [][2]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.Create(m[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(m[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// recordSleeps makes c's waits instant and records them.
func recordSleeps(c *Client) *[]time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return &waits
}

// events collects a client's trace.
func collect(c *Client) *[]Event {
	var mu sync.Mutex
	var evs []Event
	c.Trace = func(e Event) {
		mu.Lock()
		evs = append(evs, e)
		mu.Unlock()
	}
	return &evs
}

func kinds(evs []Event) map[EventKind]int {
	m := map[EventKind]int{}
	for _, e := range evs {
		m[e.Kind]++
	}
	return m
}

// visibleFiles lists the non-hidden files under dir, relative.
func visibleFiles(t testing.TB, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

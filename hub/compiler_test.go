package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw/gguf"
	"github.com/paw-dev/paw/internal/fixture"
)

// fakeHF mimics Hugging Face for one repository: the tree API and
// resolve/main downloads with Range support. Until cut is cleared, the
// first request for big.safetensors breaks off after half of it.
type fakeHF struct {
	srv    *httptest.Server
	files  map[string][]byte
	lfs    map[string]bool
	mu     sync.Mutex
	cut    bool
	ranges []string // Range headers received
	gets   int
	// served replaces a file's bytes on download (a corrupt mirror).
	served map[string][]byte
}

func newFakeHF(t *testing.T, repo string) *fakeHF {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	return serveHF(t, repo, "main", map[string][]byte{
		"compiler/config.json":                      []byte(`{"architectures": ["Qwen3ForCausalLM"]}`),
		"compiler/model-00001-of-00001.safetensors": big,
		"lora_mapper.pt":                            []byte("mapper bytes"),
		"meta.json":                                 []byte(`{"lora_rank": 64}`),
		".gitattributes":                            []byte("*.pt filter=lfs"),
	}, map[string]bool{"compiler/model-00001-of-00001.safetensors": true, "lora_mapper.pt": true})
}

// serveHF serves files of repo at revision rev, those in lfs as LFS files.
func serveHF(t *testing.T, repo, rev string, files map[string][]byte, lfs map[string]bool) *fakeHF {
	h := &fakeHF{cut: true, served: map[string][]byte{}, files: files, lfs: lfs}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/models/"+repo+"/tree/"+rev, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("recursive") != "true" {
			http.Error(w, "want recursive", 400)
			return
		}
		var entries []map[string]any
		for p, b := range h.files {
			blob := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(b))), b...))
			e := map[string]any{"type": "file", "path": p, "size": len(b), "oid": hex.EncodeToString(blob[:])}
			if h.lfs[p] {
				e["size"], e["oid"] = 134, "0123456789012345678901234567890123456789" // the pointer file's
				e["lfs"] = map[string]any{"oid": sha(b), "size": len(b), "pointerSize": 134}
			}
			entries = append(entries, e)
		}
		entries = append(entries, map[string]any{"type": "directory", "path": "some/dir", "oid": strings.Repeat("1", 40), "size": 0})
		json.NewEncoder(w).Encode(entries)
	})
	mux.HandleFunc("GET /"+repo+"/resolve/"+rev+"/{path...}", func(w http.ResponseWriter, r *http.Request) {
		p := r.PathValue("path")
		b, ok := h.files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if s, ok := h.served[p]; ok {
			b = s
		}
		h.mu.Lock()
		h.gets++
		if rg := r.Header.Get("Range"); rg != "" {
			h.ranges = append(h.ranges, rg)
		}
		cut := h.cut && strings.HasSuffix(p, ".safetensors")
		h.cut = h.cut && !cut
		h.mu.Unlock()
		w.Header().Set("ETag", etagOf(b))
		if cut { // half the file, then the connection drops
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(b))
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHF) client(dir string) *Client {
	return &Client{Dir: dir, BaseURL: h.srv.URL, HFBaseURL: h.srv.URL + "/hf", RetryDelay: time.Millisecond,
		MaxRetryDelay: 50 * time.Millisecond, StallTimeout: 5 * time.Second}
}

// TestPullCompiler: paw pull of a compiler fetches every file of its
// Hugging Face repository, resumes a broken download with a Range request,
// verifies each file (sha256 of LFS files, git blob ids of others), records
// them, and later pulls come from the cache.
func TestPullCompiler(t *testing.T) {
	h := newFakeHF(t, "programasweights/paw-4b-qwen3-0.6b")
	c := h.client(t.TempDir())
	dir, err := c.Pull(context.Background(), "paw-4b-qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range h.files {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if p == ".gitattributes" {
			if err == nil {
				t.Error(".gitattributes was downloaded")
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", p, len(got), err)
		}
	}
	if len(h.ranges) != 1 || h.ranges[0] != fmt.Sprintf("bytes=%d-", len(h.files["compiler/model-00001-of-00001.safetensors"])/2) {
		t.Errorf("range requests %v, want one resuming at half the file", h.ranges)
	}
	var rec CompilerRecord
	b, _ := os.ReadFile(filepath.Join(dir, compilerRecord))
	json.Unmarshal(b, &rec)
	if rec.Repo != "programasweights/paw-4b-qwen3-0.6b" || len(rec.Files) != 4 {
		t.Fatalf("record %s", b)
	}
	for _, f := range rec.Files {
		if h.lfs[f.Path] != (f.SHA256 == sha(h.files[f.Path])) || h.lfs[f.Path] == (f.GitOID != "") {
			t.Errorf("recorded %+v", f)
		}
	}
	gets := h.gets
	if again, err := c.Pull(context.Background(), "paw-4b-qwen3-0.6b"); err != nil || again != dir || h.gets != gets {
		t.Errorf("second pull: %s, %v, %d downloads", again, err, h.gets-gets)
	}
	if got, err := c.CompilerDir("paw-4b-qwen3-0.6b"); err != nil || got != dir {
		t.Errorf("CompilerDir: %s, %v", got, err)
	}
}

// TestPullCompilerCorrupt: bytes that do not match the published hashes
// are refused, for LFS and plain files alike, and nothing is recorded.
func TestPullCompilerCorrupt(t *testing.T) {
	for _, p := range []string{"lora_mapper.pt", "meta.json"} {
		h := newFakeHF(t, "programasweights/paw-4b-gpt2")
		h.cut = false
		h.served[p] = bytes.ToUpper(h.files[p])
		c := h.client(t.TempDir())
		if _, err := c.PullCompiler(context.Background(), "paw-4b-gpt2"); !errors.Is(err, ErrChecksum) {
			t.Errorf("%s corrupt: %v, want ErrChecksum", p, err)
		}
		if _, err := c.CompilerDir("paw-4b-gpt2"); !errors.Is(err, ErrNotCached) {
			t.Errorf("%s corrupt: the compiler counts as cached (%v)", p, err)
		}
	}
}

// writerRepo is a tiny generated Qwen3 checkpoint as Hugging Face
// publishes one: BF16 safetensors in two shards with their index,
// config.json, tokenizer.json and tokenizer_config.json.
func writerRepo(t *testing.T) (map[string][]byte, map[string]bool) {
	t.Helper()
	cfg, _ := fixture.Preset("qwen3-tiny")
	cfg.Type = gguf.TypeBF16
	src := filepath.Join(t.TempDir(), "w.gguf")
	dir := t.TempDir()
	if err := fixture.WriteModel(src, cfg); err != nil {
		t.Fatal(err)
	}
	if err := fixture.WriteHF(src, dir, 2, 0); err != nil {
		t.Fatal(err)
	}
	files, lfs := map[string][]byte{}, map[string]bool{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
		lfs[e.Name()] = strings.HasSuffix(e.Name(), ".safetensors") || e.Name() == "tokenizer.json"
	}
	return files, lfs
}

// TestPullWriter: paw pull qwen3-4b-instruct-2507 fetches the writer's
// checkpoint at its pinned revision, resuming a broken shard, verifies and
// records every file; later pulls and WriterDir come from the cache.
func TestPullWriter(t *testing.T) {
	files, lfs := writerRepo(t)
	h := serveHF(t, PseudoWriter.Repo, PseudoWriter.Revision, files, lfs)
	c := h.client(t.TempDir())
	if _, err := c.WriterDir(); !errors.Is(err, ErrNotCached) {
		t.Errorf("WriterDir before the pull: %v", err)
	}
	dir, err := c.Pull(context.Background(), "qwen3-4b-instruct-2507")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		if got, err := os.ReadFile(filepath.Join(dir, p)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", p, len(got), err)
		}
	}
	if len(h.ranges) != 1 {
		t.Errorf("range requests %v, want one resuming the broken shard", h.ranges)
	}
	var rec CompilerRecord
	b, _ := os.ReadFile(filepath.Join(dir, compilerRecord))
	json.Unmarshal(b, &rec)
	if rec.Repo != PseudoWriter.Repo || rec.Revision != PseudoWriter.Revision || len(rec.Files) != len(files) {
		t.Errorf("record %s", b)
	}
	gets := h.gets
	if again, err := c.PullWriter(context.Background()); err != nil || again != dir || h.gets != gets {
		t.Errorf("second pull: %s, %v, %d downloads", again, err, h.gets-gets)
	}
	if got, err := c.WriterDir(); err != nil || got != dir {
		t.Errorf("WriterDir: %s, %v", got, err)
	}
}

// TestPullWriterCorrupt: a shard or a plain file whose bytes do not match
// the published hashes is refused and the writer does not count as pulled.
func TestPullWriterCorrupt(t *testing.T) {
	for _, p := range []string{"model-00002-of-00002.safetensors", "config.json"} {
		files, lfs := writerRepo(t)
		h := serveHF(t, PseudoWriter.Repo, PseudoWriter.Revision, files, lfs)
		h.cut = false
		bad := bytes.Clone(files[p])
		bad[len(bad)-1] ^= 1
		h.served[p] = bad
		c := h.client(t.TempDir())
		if _, err := c.PullWriter(context.Background()); !errors.Is(err, ErrChecksum) {
			t.Errorf("%s corrupt: %v, want ErrChecksum", p, err)
		}
		if _, err := c.WriterDir(); !errors.Is(err, ErrNotCached) {
			t.Errorf("%s corrupt: the writer counts as cached (%v)", p, err)
		}
	}
}

// FuzzParseRepoTree: a Hugging Face tree listing never panics the parser,
// and every file it accepts has a safe relative path and one hash.
func FuzzParseRepoTree(f *testing.F) {
	f.Add([]byte(`[{"type":"file","path":"compiler/model.safetensors","size":134,"oid":"0123456789012345678901234567890123456789",` +
		`"lfs":{"oid":"` + strings.Repeat("ab", 32) + `","size":9,"pointerSize":134}},` +
		`{"type":"file","path":"meta.json","size":2,"oid":"` + strings.Repeat("1", 40) + `"}]`))
	f.Add([]byte(`[{"type":"file","path":"../x","size":1,"oid":"` + strings.Repeat("1", 40) + `"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := ParseRepoTree(b)
		if err != nil {
			return
		}
		for _, fl := range files {
			if !filepath.IsLocal(fl.Path) || strings.Contains(fl.Path, "\\") || (fl.SHA256 == "") == (fl.GitOID == "") || fl.Size < 0 {
				t.Errorf("accepted %+v", fl)
			}
		}
	})
}

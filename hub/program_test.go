package hub

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/program"
)

func TestPullProgram(t *testing.T) {
	p, zipb := testBundle(t)
	id := p.ID()
	tests := []struct {
		name     string
		redirect bool
	}{
		{"direct", false},
		{"redirect", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHub(t)
			h.programs[id] = zipb
			h.redirect = tt.redirect
			c := h.client(t.TempDir())
			evs := collect(c)
			dir, err := c.PullProgram(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(c.Dir, "programs", id); dir != want {
				t.Errorf("dir = %s, want %s", dir, want)
			}
			got, err := program.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != id || got.AdapterSHA256 != p.AdapterSHA256 {
				t.Errorf("installed program %s (adapter %s), want %s (%s)", got.ID(), got.AdapterSHA256, id, p.AdapterSHA256)
			}
			if k := kinds(*evs); k[EventStart] != 1 || k[EventDone] != 1 || k[EventVerify] != 1 {
				t.Errorf("events %v", k)
			}
			if tt.redirect {
				if h.hitCount("/files/"+id+".paw") != 1 {
					t.Error("redirect not followed")
				}
			}
			if key := h.apiKeys["/api/v1/programs/"+id+"/download"]; key != "secret" {
				t.Errorf("API got key %q", key)
			}
			// Cached now: no network, same path, and only hidden debris-free files.
			before := h.totalHits()
			if dir2, err := c.PullProgram(context.Background(), id); err != nil || dir2 != dir {
				t.Fatalf("second pull = %s, %v", dir2, err)
			}
			if h.totalHits() != before {
				t.Error("second pull touched the network")
			}
			if left, _ := filepath.Glob(filepath.Join(c.Dir, "programs", ".*")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestRedirectDropsKeyForOtherHost(t *testing.T) {
	p, zipb := testBundle(t)
	files := newFakeHub(t)
	files.programs[p.ID()] = zipb
	h := newFakeHub(t)
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/download") {
			http.Redirect(w, r, files.srv.URL+"/files/"+p.ID()+".paw", http.StatusFound)
			return true
		}
		return false
	})
	c := h.client(t.TempDir())
	if _, err := c.PullProgram(context.Background(), p.ID()); err != nil {
		t.Fatal(err)
	}
	if key := files.apiKeys["/files/"+p.ID()+".paw"]; key != "" {
		t.Errorf("file host received the API key %q", key)
	}
}

func TestPullProgramPolls202(t *testing.T) {
	p, zipb := testBundle(t)
	h := newFakeHub(t)
	h.programs[p.ID()] = zipb
	n := 0
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/download") && n < 3 {
			n++
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(`{"status":"building"}`))
			return true
		}
		return false
	})
	c := h.client(t.TempDir())
	c.MaxRetryDelay = time.Minute
	waits := recordSleeps(c)
	if _, err := c.PullProgram(context.Background(), p.ID()); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{7 * time.Second, 7 * time.Second, 7 * time.Second}
	if diff := cmp.Diff(want, *waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}

	// Bounded: a program that never finishes building is an error.
	h2 := newFakeHub(t)
	h2.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/download") {
			w.WriteHeader(http.StatusAccepted)
			return true
		}
		return false
	})
	c2 := h2.client(t.TempDir())
	c2.BuildTimeout, c2.NoFallback = 30*time.Millisecond, true
	if _, err := c2.PullProgram(context.Background(), p.ID()); !errors.Is(err, ErrNotReady) {
		t.Errorf("err = %v, want ErrNotReady", err)
	}
}

func TestPullProgramNotFound(t *testing.T) {
	h := newFakeHub(t)
	c := h.client(t.TempDir())
	id := strings.Repeat("ab", 16)
	_, err := c.PullProgram(context.Background(), id)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(ae.Message, "not found") || ae.RequestID != "req-hdr" {
		t.Errorf("api error = %+v", ae)
	}
	if h.hitCount("/hf/"+id+"/adapter.gguf") != 1 {
		t.Error("file host fallback not tried")
	}
	if _, err := c.ProgramPath(id); !errors.Is(err, ErrNotCached) {
		t.Errorf("ProgramPath err = %v", err)
	}
}

func TestPullProgramFileHostFallback(t *testing.T) {
	p, _ := testBundle(t)
	h := newFakeHub(t)
	dir := t.TempDir()
	if err := p.WriteDir(filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	h.hf[p.ID()] = map[string][]byte{}
	for _, name := range programFiles {
		b, err := os.ReadFile(filepath.Join(dir, "p", name))
		if err != nil {
			t.Fatal(err)
		}
		h.hf[p.ID()][name] = b
	}
	c := h.client(t.TempDir())
	got, err := c.PullProgram(context.Background(), p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if q, err := program.Open(got); err != nil || q.ID() != p.ID() {
		t.Fatalf("open installed: %v", err)
	}
	if h.totalHits() != 4 {
		t.Errorf("hits = %v", h.hits)
	}
	if left, _ := filepath.Glob(filepath.Join(c.Dir, "programs", ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestPullProgramRejectsBadBundles(t *testing.T) {
	p, zipb := testBundle(t)
	var meta, tmpl []byte
	dir := t.TempDir()
	if err := p.WriteDir(filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	meta, _ = os.ReadFile(filepath.Join(dir, "p", "meta.json"))
	tmpl, _ = os.ReadFile(filepath.Join(dir, "p", "prompt_template.txt"))
	other := strings.Repeat("cd", 16)
	tests := []struct {
		name string
		id   string
		zip  []byte
		want error
	}{
		{"zip-slip", p.ID(), zipOf(t, [][2]string{{"meta.json", string(meta)}, {"prompt_template.txt", string(tmpl)},
			{"adapter.gguf", string(p.Adapter)}, {"../../evil.txt", "pwned"}}), program.ErrUnsafeMember},
		{"not a zip", p.ID(), []byte("hello, this is not a zip"), program.ErrFormat},
		{"other program", other, zipb, ErrInvalidBundle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHub(t)
			h.programs[tt.id] = tt.zip
			root := filepath.Join(t.TempDir(), "cache")
			c := h.client(root)
			_, err := c.PullProgram(context.Background(), tt.id)
			if !errors.Is(err, ErrInvalidBundle) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want ErrInvalidBundle and %v", err, tt.want)
			}
			if files := visibleFiles(t, filepath.Join(root, "programs")); len(files) != 0 {
				t.Errorf("installed files: %v", files)
			}
			if left, _ := filepath.Glob(filepath.Join(root, "programs", ".*")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(root), "evil.txt")); err == nil {
				t.Error("zip-slip member written")
			}
		})
	}
}

func TestResolveSlug(t *testing.T) {
	p, zipb := testBundle(t)
	id, id2 := p.ID(), strings.Repeat("12", 16)
	h := newFakeHub(t)
	h.programs[id] = zipb
	h.slugs["alice/sentiment"] = id
	h.slugs["alice/sentiment@v2"] = id2
	h.slugs["programasweights/email-triage"] = id
	c := h.client(t.TempDir())
	ctx := context.Background()
	tests := []struct {
		ref, want, path string
	}{
		{"alice/sentiment", id, "/api/v1/programs/resolve/alice/sentiment"},
		{"alice/sentiment@v2", id2, "/api/v1/programs/resolve/alice/sentiment@v2"},
		{"email-triage", id, "/api/v1/programs/resolve/programasweights/email-triage"},
		{id2, id2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			before := h.hitCount(tt.path)
			got, err := c.ResolveSlug(ctx, tt.ref)
			if err != nil || got != tt.want {
				t.Fatalf("ResolveSlug = %q, %v; want %q", got, err, tt.want)
			}
			if tt.path != "" && h.hitCount(tt.path) != before+1 {
				t.Errorf("server did not see %s: %v", tt.path, h.hits)
			}
		})
	}
	// A versioned slug is immutable: answered from the cache.
	before := h.totalHits()
	if got, err := c.ResolveSlug(ctx, "alice/sentiment@v2"); err != nil || got != id2 || h.totalHits() != before {
		t.Errorf("versioned re-resolve = %q, %v, hits +%d", got, err, h.totalHits()-before)
	}
	// An unversioned one is asked again (it moves), and the new answer sticks.
	h.mu.Lock()
	h.slugs["alice/sentiment"] = id2
	h.mu.Unlock()
	if got, _ := c.ResolveSlug(ctx, "alice/sentiment"); got != id2 {
		t.Errorf("moved slug resolved to %s", got)
	}
	// Unknown slug.
	if _, err := c.ResolveSlug(ctx, "bob/nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown slug err = %v", err)
	}
	// Bad refs.
	for _, bad := range []string{"", "a/b/c@", "bob/x@v0", "./local.paw"} {
		if _, err := c.ResolveSlug(ctx, bad); !errors.Is(err, ErrBadRef) {
			t.Errorf("ResolveSlug(%q) err = %v, want ErrBadRef", bad, err)
		}
	}
	// PullProgram by slug, then ProgramPath by slug without network.
	h.mu.Lock()
	h.slugs["alice/sentiment"] = id
	h.mu.Unlock()
	dir, err := c.PullProgram(ctx, "alice/sentiment")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = "http://127.0.0.1:1" // nothing listens
	if got, err := c.ProgramPath("alice/sentiment"); err != nil || got != dir {
		t.Errorf("ProgramPath = %s, %v", got, err)
	}
}

func TestResolveRejectsBadIDs(t *testing.T) {
	h := newFakeHub(t)
	h.slugs["alice/x"] = "../../etc"
	c := h.client(t.TempDir())
	if _, err := c.ResolveSlug(context.Background(), "alice/x"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("err = %v, want ErrBadResponse", err)
	}
}

func TestRateLimited(t *testing.T) {
	h := newFakeHub(t)
	id := strings.Repeat("ef", 16)
	h.slugs["alice/x"] = id
	n := 0
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/resolve/") && n < 2 {
			n++
			w.Header().Set("Retry-After", "3")
			writeErr(w, 429, `{"error":"rate_limited","message":"slow down","request_id":"req-429"}`)
			return true
		}
		return false
	})
	c := h.client(t.TempDir())
	c.MaxRetryDelay = time.Minute
	waits := recordSleeps(c)
	evs := collect(c)
	got, err := c.ResolveSlug(context.Background(), "alice/x")
	if err != nil || got != id {
		t.Fatalf("ResolveSlug = %s, %v", got, err)
	}
	if diff := cmp.Diff([]time.Duration{3 * time.Second, 3 * time.Second}, *waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if k := kinds(*evs); k[EventRetry] != 2 {
		t.Errorf("events %v", k)
	}

	// A Retry-After beyond MaxRetryDelay is returned, not waited for.
	n = 0
	c.MaxRetryDelay = time.Second
	_, err = c.ResolveSlug(context.Background(), "alice/x")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 429 || ae.RequestID != "req-429" || ae.Message != "slow down" ||
		ae.RetryAfter != 3*time.Second || !errors.Is(err, api.ErrRateLimited) {
		t.Errorf("err = %v (%+v)", err, ae)
	}

	// Retries are bounded.
	h.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		writeErr(w, 503, `{"detail":"down"}`)
		return true
	})
	c.Retries = 2
	before := h.totalHits()
	if _, err := c.ResolveSlug(context.Background(), "alice/x"); !errors.Is(err, api.ErrServer) {
		t.Errorf("err = %v", err)
	}
	if got := h.totalHits() - before; got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
}

func TestOfflineProgram(t *testing.T) {
	p, zipb := testBundle(t)
	h := newFakeHub(t)
	h.programs[p.ID()] = zipb
	h.slugs["alice/x"] = p.ID()
	root := t.TempDir()
	off := h.client(root)
	off.Offline = true
	for _, ref := range []string{p.ID(), "alice/x"} {
		_, err := off.PullProgram(context.Background(), ref)
		var me *MissingError
		if !errors.Is(err, ErrOffline) || !errors.Is(err, ErrNotCached) || !errors.As(err, &me) {
			t.Fatalf("offline pull %s: err = %v", ref, err)
		}
		if !strings.Contains(err.Error(), "paw pull "+ref) {
			t.Errorf("error %q does not say how to get it", err)
		}
	}
	if h.totalHits() != 0 {
		t.Fatal("offline mode touched the network")
	}
	on := h.client(root)
	dir, err := on.PullProgram(context.Background(), "alice/x")
	if err != nil {
		t.Fatal(err)
	}
	before := h.totalHits()
	for _, ref := range []string{p.ID(), "alice/x"} {
		got, err := off.PullProgram(context.Background(), ref)
		if err != nil || got != dir {
			t.Errorf("offline pull %s = %s, %v", ref, got, err)
		}
	}
	if h.totalHits() != before {
		t.Error("offline mode touched the network")
	}
}

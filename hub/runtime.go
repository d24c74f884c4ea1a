package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/program"
)

// Runtime pins the base model of an interpreter runtime.
type Runtime struct {
	ID        string // runtime id, e.g. "qwen3-0.6b-q6_k"
	BaseModel string // upstream model, e.g. "Qwen/Qwen3-0.6B"
	File      string // file name in the cache
	Size      int64  // bytes
	SHA256    string // lowercase hex
	URL       string // where to download it
}

// The official runtimes, keyed by the ids program defines.
var officialRuntimes = map[string]Runtime{
	program.DefaultRuntimeQwen3: {
		ID: program.DefaultRuntimeQwen3, BaseModel: "Qwen/Qwen3-0.6B", File: "qwen3-0.6b-q6_k.gguf", Size: 622733120,
		SHA256: "9a16ed5cacba959e63b62e2b6840c3eca2b51c3c3e51d31367ef8e4aafeae33c",
		URL:    "https://huggingface.co/programasweights/Qwen3-0.6B-GGUF-Q6_K/resolve/main/qwen3-0.6b-q6_k.gguf",
	},
	program.DefaultRuntimeGPT2: {
		ID: program.DefaultRuntimeGPT2, BaseModel: "gpt2", File: "gpt2-q8_0.gguf", Size: 139804832,
		SHA256: "0aa260efb2cce9def922e0546b88ad731cf1a68554db73fa2d4a0949cfa958c5",
		URL:    "https://huggingface.co/programasweights/GPT2-GGUF-Q8_0/resolve/main/gpt2-q8_0.gguf",
	},
}

// OfficialRuntimes returns (a copy of) the pins of the official runtimes.
func OfficialRuntimes() map[string]Runtime {
	m := make(map[string]Runtime, len(officialRuntimes))
	for k, v := range officialRuntimes {
		m[k] = v
	}
	return m
}

var (
	reRuntimeID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	reSHA256    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reFileName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// ValidRuntimeID reports whether s can name a runtime (and a cache directory).
func ValidRuntimeID(s string) bool { return reRuntimeID.MatchString(s) && !strings.Contains(s, "..") }

const manifestFile = "manifest.json"

// RuntimePath returns the cached base model of runtime id (its requantized
// copy when RequantRuntime made one from this base model), without network
// access, or a *MissingError.
func (c *Client) RuntimePath(id string) (string, error) {
	src, err := c.runtimeSource(id)
	if err != nil {
		return "", err
	}
	p, _ := c.requantCopy(id, src)
	return p, nil
}

// runtimeSource is the cached base model of runtime id as pulled.
func (c *Client) runtimeSource(id string) (string, error) {
	root, rt, err := c.runtimeLayout(id)
	if err != nil {
		return "", err
	}
	if rt.File != "" {
		p := filepath.Join(root, "models", id, rt.File)
		if fileExists(p) {
			return p, nil
		}
		return "", &MissingError{Kind: "runtime", Ref: id, Offline: c.Offline}
	}
	// Unpinned: the file name comes from the cached manifest.
	m, err := readManifest(filepath.Join(root, "models", id, manifestFile))
	if err == nil {
		if name, err := modelFileName(m); err == nil {
			if p := filepath.Join(root, "models", id, name); fileExists(p) {
				return p, nil
			}
		}
	}
	return "", &MissingError{Kind: "runtime", Ref: id, Offline: c.Offline}
}

// RuntimeManifest returns the cached manifest of runtime id, if the service
// provided one when it was pulled.
func (c *Client) RuntimeManifest(id string) (*api.RuntimeManifest, error) {
	root, _, err := c.runtimeLayout(id)
	if err != nil {
		return nil, err
	}
	m, err := readManifest(filepath.Join(root, "models", id, manifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &MissingError{Kind: "runtime", Ref: id, Offline: c.Offline}
	}
	return m, err
}

func (c *Client) runtimeLayout(id string) (root string, rt Runtime, err error) {
	if !ValidRuntimeID(id) {
		return "", rt, fmt.Errorf("%w: runtime id %q", ErrBadRef, id)
	}
	root, err = c.dir()
	return root, c.runtimes()[id], err
}

// PullRuntime makes sure runtime id's base model is in the cache and returns
// its path, or that of its requantized copy (see RequantRuntime), remade
// first if it was made from another base model. A pinned runtime downloads
// from its pin (the service's manifest, when there is one, is checked against
// the pin and cached); any other runtime needs the service's manifest.
func (c *Client) PullRuntime(ctx context.Context, id string) (string, error) {
	src, err := c.pullRuntimeSource(ctx, id)
	if err != nil {
		return "", err
	}
	return c.withRequant(ctx, id, src)
}

// pullRuntimeSource is PullRuntime without the requantized copy.
func (c *Client) pullRuntimeSource(ctx context.Context, id string) (string, error) {
	if p, err := c.runtimeSource(id); err == nil {
		c.trace(Event{Kind: EventDone, Item: "runtime " + id, Ref: id, ID: id, Path: p, Cached: true})
		return p, nil
	} else if c.Offline || !errors.Is(err, ErrNotCached) {
		return "", err
	}
	root, pin, err := c.runtimeLayout(id)
	if err != nil {
		return "", err
	}
	if p, ok, err := c.runtimeFromStore(ctx, root, id, pin); err != nil {
		return "", fmt.Errorf("pull runtime %s from the store: %w", id, err)
	} else if ok {
		c.trace(Event{Kind: EventDone, Item: "runtime " + id, Ref: id, ID: id, Path: p})
		return p, nil
	}
	pinned := pin.File != ""
	m, err := c.fetchManifest(ctx, id, !pinned)
	switch {
	case err != nil && !pinned:
		return "", fmt.Errorf("pull runtime %s: %w", id, err)
	case err != nil: // a pin needs no manifest
		m = nil
	}
	rt := pin
	if m != nil {
		if rt, err = mergeManifest(pin, m, c.apiURL("")); err != nil {
			return "", fmt.Errorf("pull runtime %s: %w", id, err)
		}
	}
	dir := filepath.Join(root, "models", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pull runtime %s: %w", id, err)
	}
	unlock, err := c.lock(ctx, root, "runtime-"+id, "runtime "+id)
	if err != nil {
		return "", fmt.Errorf("pull runtime %s: %w", id, err)
	}
	defer unlock()
	dst := filepath.Join(dir, rt.File)
	if m != nil {
		if err := writeJSONAtomic(filepath.Join(dir, manifestFile), m); err != nil {
			return "", fmt.Errorf("pull runtime %s: %w", id, err)
		}
	}
	if fileExists(dst) { // another process installed it while we waited
		c.trace(Event{Kind: EventDone, Item: "runtime " + id, Ref: id, ID: id, Path: dst, Cached: true})
		return dst, nil
	}
	d := download{url: rt.URL, dst: dst, size: rt.Size, sha256: rt.SHA256, item: "runtime " + id, ref: id, id: id}
	if err := c.download(ctx, &d); err != nil {
		return "", fmt.Errorf("pull runtime %s: %w", id, err)
	}
	c.trace(Event{Kind: EventDone, Item: d.item, Ref: id, ID: id, Path: dst, Total: rt.Size, Completed: rt.Size})
	c.publishPulled(d.item, id, func() error { return c.publishRuntime(ctx, rt, m, dst) })
	return dst, nil
}

// fetchManifest gets GET /models/runtimes/{id}.
// A pinned runtime does not need it, so asks once without retries.
func (c *Client) fetchManifest(ctx context.Context, id string, retry bool) (*api.RuntimeManifest, error) {
	b, err := c.get(ctx, c.apiURL("/models/runtimes/"+url.PathEscape(id)), retry)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, err
	}
	if m.RuntimeID != "" && m.RuntimeID != id {
		return nil, fmt.Errorf("%w: manifest for %q names runtime %q", ErrBadResponse, id, m.RuntimeID)
	}
	m.RuntimeID = id
	return m, nil
}

// ParseManifest decodes and checks a runtime manifest body.
func ParseManifest(b []byte) (*api.RuntimeManifest, error) {
	var m api.RuntimeManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: runtime manifest: %w", ErrBadResponse, err)
	}
	bm := m.LocalSDK.BaseModel
	if bm.SizeBytes < 0 || (bm.SHA256 != "" && !reSHA256.MatchString(strings.ToLower(bm.SHA256))) {
		return nil, fmt.Errorf("%w: runtime manifest: bad size or sha256", ErrBadResponse)
	}
	if m.RuntimeID != "" && !ValidRuntimeID(m.RuntimeID) {
		return nil, fmt.Errorf("%w: runtime manifest: bad runtime id %q", ErrBadResponse, m.RuntimeID)
	}
	return &m, nil
}

// mergeManifest combines a pin (possibly zero) with the service's manifest:
// the pin wins, and a manifest that contradicts it is an error. Without a
// pin, the manifest must give a URL, size and sha256.
func mergeManifest(pin Runtime, m *api.RuntimeManifest, base string) (Runtime, error) {
	bm := m.LocalSDK.BaseModel
	sum := strings.ToLower(bm.SHA256)
	if pin.File != "" {
		if (bm.SizeBytes != 0 && bm.SizeBytes != pin.Size) || (sum != "" && sum != pin.SHA256) {
			return pin, fmt.Errorf("%w: %s: manifest says %d bytes sha256 %s, pin says %d bytes sha256 %s",
				ErrPinMismatch, pin.ID, bm.SizeBytes, sum, pin.Size, pin.SHA256)
		}
		return pin, nil
	}
	if bm.URL == "" || bm.SizeBytes <= 0 || !reSHA256.MatchString(sum) {
		return pin, fmt.Errorf("%w: runtime manifest lacks base_model url, size_bytes or sha256", ErrBadResponse)
	}
	u, err := url.Parse(bm.URL)
	if err != nil {
		return pin, fmt.Errorf("%w: base_model url: %w", ErrBadResponse, err)
	}
	if b, err := url.Parse(base); err == nil {
		u = b.ResolveReference(u)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return pin, fmt.Errorf("%w: base_model url %q", ErrBadResponse, bm.URL)
	}
	name, err := modelFileName(m)
	if err != nil {
		return pin, err
	}
	return Runtime{ID: m.RuntimeID, BaseModel: bm.Name, File: name, Size: bm.SizeBytes, SHA256: sum, URL: u.String()}, nil
}

// modelFileName is the cache file name of a manifest's base model.
func modelFileName(m *api.RuntimeManifest) (string, error) {
	bm := m.LocalSDK.BaseModel
	name := bm.Filename
	if name == "" {
		if u, err := url.Parse(bm.URL); err == nil {
			name = path.Base(u.Path)
		}
	}
	if !reFileName.MatchString(name) || strings.Contains(name, "..") || name == manifestFile {
		return "", fmt.Errorf("%w: base model file name %q", ErrBadResponse, name)
	}
	return name, nil
}

func readManifest(p string) (*api.RuntimeManifest, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return ParseManifest(b)
}

package upstream

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/fsutil"
)

// cacheEntry is a cached answer on disk.
type cacheEntry struct {
	Text             *string `json:"text"`
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	LatencyMS        float64 `json:"latency_ms"`
}

// cacheKey is the hex sha256 of what determines an answer: the endpoint,
// the model and the full request (messages, temperature, max tokens).
func (c *Client) cacheKey(req api.ChatRequest) string {
	b, _ := json.Marshal(struct {
		Endpoint string          `json:"endpoint"`
		Request  api.ChatRequest `json:"request"`
	}{c.endpoint(), req}) // plain strings and numbers: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (c *Client) cachePath(key string) string {
	return filepath.Join(c.CacheDir, key[:2], key+".json")
}

// cached returns the cached answer for key. A missing entry is a miss; so
// is an unreadable or corrupt one, which the next store replaces.
func (c *Client) cached(key string) (Completion, bool) {
	if c.CacheDir == "" {
		return Completion{}, false
	}
	path := c.cachePath(key)
	b, err := os.ReadFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			slog.Warn("upstream: cache entry unreadable; asking again", "path", path, "err", err)
		}
		return Completion{}, false
	}
	var e cacheEntry
	if err := json.Unmarshal(b, &e); err != nil || e.Text == nil {
		slog.Warn("upstream: cache entry corrupt; asking again", "path", path, "err", err)
		return Completion{}, false
	}
	return Completion{Text: *e.Text, PromptTokens: e.PromptTokens, CompletionTokens: e.CompletionTokens,
		Latency: time.Duration(math.Round(e.LatencyMS*1000)) * time.Microsecond, Cached: true}, true
}

// store writes comp under key atomically. A cache that cannot be written
// costs a repeated request later, not this answer, so it is only logged.
func (c *Client) store(key string, comp Completion) {
	if c.CacheDir == "" {
		return
	}
	b, _ := json.Marshal(cacheEntry{Text: &comp.Text, PromptTokens: comp.PromptTokens,
		CompletionTokens: comp.CompletionTokens, LatencyMS: float64(comp.Latency.Microseconds()) / 1000})
	if err := fsutil.WriteFileAtomic(c.cachePath(key), b, 0o644); err != nil {
		slog.Warn("upstream: cannot cache answer", "dir", c.CacheDir, "err", err)
	}
}

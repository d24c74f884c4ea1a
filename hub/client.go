package hub

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/retry"
	"github.com/paw-dev/paw/program"
)

// Defaults for zero Client fields.
const (
	DefaultBaseURL       = "https://programasweights.com"
	DefaultHFBaseURL     = "https://huggingface.co/programasweights/paw-programs/resolve/main"
	DefaultRetries       = 4
	DefaultRetryDelay    = time.Second
	DefaultMaxRetryDelay = 2 * time.Minute
	DefaultBuildTimeout  = 10 * time.Minute
	DefaultStallTimeout  = time.Minute
	// DefaultMaxProgramSize caps a downloaded program bundle (program's own cap).
	DefaultMaxProgramSize = program.DefaultMaxArchive
)

// Client fetches programs and base models into the cache at Dir. Its zero
// value (with Dir set) works; it is safe for concurrent use, and separate
// processes may share one Dir.
type Client struct {
	// Dir is the cache root; "" means os.UserCacheDir()/paw.
	Dir string
	// BaseURL is the PAW service (DefaultBaseURL); the API lives under /api/v1.
	BaseURL string
	// HFBaseURL is the file host of published programs, queried as
	// {HFBaseURL}/{id}/{adapter.gguf,meta.json,prompt_template.txt} when the
	// service cannot deliver a program (DefaultHFBaseURL). NoFallback skips it.
	HFBaseURL  string
	NoFallback bool
	// APIKey is sent as X-API-Key to BaseURL (never to other hosts).
	APIKey string
	// HTTPClient makes the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Offline forbids network access: only cached items are returned, and a
	// missing one is a *MissingError matching ErrOffline.
	Offline bool
	// Store, when set, is the shared artifact store behind the cache (see
	// Store); Offline never consults it.
	Store Store
	// Trace, when set, receives progress events.
	Trace func(Event)
	// Quantize, when set, makes the requantized base models RequantRuntime
	// asks for (and remakes them when their base model changes).
	Quantize Quantizer
	// Runtimes are the pinned runtimes, keyed by runtime id; nil means
	// OfficialRuntimes(). A pin's size and sha256 win over any manifest,
	// and a manifest that contradicts them is an error.
	Runtimes map[string]Runtime
	// Retries is how many times a failed request (connection error, timeout,
	// 429, 5xx) is retried: 0 means DefaultRetries, negative means none.
	// Attempts that made download progress do not count.
	Retries int
	// RetryDelay is the first backoff delay (DefaultRetryDelay); it doubles
	// per attempt, with jitter. A Retry-After header overrides it.
	RetryDelay time.Duration
	// MaxRetryDelay caps every wait (DefaultMaxRetryDelay); a server that
	// asks for a longer Retry-After gets its error returned instead.
	MaxRetryDelay time.Duration
	// BuildTimeout bounds the polling while the service answers 202 (still
	// building) for a program download (DefaultBuildTimeout).
	BuildTimeout time.Duration
	// StallTimeout aborts (and retries) a download that receives no bytes
	// for this long (DefaultStallTimeout).
	StallTimeout time.Duration
	// MaxProgramSize caps a program bundle download (DefaultMaxProgramSize).
	MaxProgramSize int64

	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// dir returns the cache root.
func (c *Client) dir() (string, error) {
	if c.Dir != "" {
		return c.Dir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("hub: no cache directory: %w", err)
	}
	return filepath.Join(d, "paw"), nil
}

func (c *Client) httpClient() *http.Client {
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	// Copy the client so redirects to another host drop the API key.
	cp := *hc
	orig := hc.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && req.URL.Host != via[0].URL.Host {
			req.Header.Del(api.KeyHeader)
		}
		if orig != nil {
			return orig(req, via)
		}
		if len(via) >= 10 {
			return fmt.Errorf("hub: stopped after %d redirects", len(via))
		}
		return nil
	}
	return &cp
}

func (c *Client) apiURL(path string) string {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	return strings.TrimRight(base, "/") + api.APIPrefix + path
}

func (c *Client) hfURL(id, file string) string {
	base := c.HFBaseURL
	if base == "" {
		base = DefaultHFBaseURL
	}
	return strings.TrimRight(base, "/") + "/" + id + "/" + file
}

func (c *Client) runtimes() map[string]Runtime {
	if c.Runtimes != nil {
		return c.Runtimes
	}
	return officialRuntimes
}

func (c *Client) retries() int {
	switch {
	case c.Retries < 0:
		return 0
	case c.Retries == 0:
		return DefaultRetries
	}
	return c.Retries
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (c *Client) trace(e Event) {
	if c.Trace != nil {
		c.Trace(e)
	}
}

// backoff returns the wait before attempt n+1 (n ≥ 1): the server's
// Retry-After when given, else exponential from RetryDelay with ±50% jitter.
// ok is false when the wait would exceed MaxRetryDelay.
func (c *Client) backoff(n int, retryAfter time.Duration) (time.Duration, bool) {
	return retry.Backoff(n, retryAfter, orDefault(c.RetryDelay, DefaultRetryDelay), orDefault(c.MaxRetryDelay, DefaultMaxRetryDelay))
}

func (c *Client) wait(ctx context.Context, d time.Duration) error {
	if c.sleep != nil {
		return c.sleep(ctx, d)
	}
	return retry.Sleep(ctx, d)
}

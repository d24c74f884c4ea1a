package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func hashHex(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// send makes a request with the given headers and no body.
func (f *fix) send(t *testing.T, method, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestReadAPIKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "keys")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys, err := ReadAPIKeys(write("# team keys\n" + hashHex("k1") + " alice 10/s\n\n" + hashHex("k2") + "  # no name, no limit\n" +
		hashHex("k3") + " 120/m ci\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0].Name != "alice" || keys[0].Rate != 10 || keys[0].Burst != 10 ||
		keys[1].Name != "line4" || keys[1].Rate != 0 || keys[2].Name != "ci" || keys[2].Rate != rate.Limit(2) || keys[2].Burst != 2 ||
		hex.EncodeToString(keys[0].Hash[:]) != hashHex("k1") {
		t.Errorf("keys %+v", keys)
	}
	for _, tt := range []struct{ name, file, want string }{
		{"a raw key", "sk-live-123 alice\n", ":1: the first field is not a sha256"},
		{"bad rate", hashHex("k") + " alice 10/d\n", `rate "10/d"`},
		{"zero rate", hashHex("k") + " 0/s\n", `rate "0/s"`},
		{"too many fields", hashHex("k") + " a 1/s b\n", "4 fields"},
		{"no keys", "# nothing\n", "has no keys"},
	} {
		_, err := ReadAPIKeys(write(tt.file))
		if !errors.Is(err, ErrKeys) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrKeys with %q", tt.name, err, tt.want)
		}
	}
}

// TestAPIKeys: with keys, a request needs one (X-API-Key or Bearer), else
// 401 in the route's error shape; health checks need none; a key beyond
// its rate gets 429 with its own Retry-After; the access log names the
// key, never shows it.
func TestAPIKeys(t *testing.T) {
	var logs syncBuffer
	keys := []APIKey{{Name: "alice"}, {Name: "bob", Rate: rate.Every(time.Minute), Burst: 1}}
	keys[0].Hash = sha256.Sum256([]byte("alice-secret"))
	keys[1].Hash = sha256.Sum256([]byte("bob-secret"))
	f := newFix(t, Config{APIKeys: keys, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, nil)
	for _, tt := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		code               string
	}{
		{"no key", "GET", "/api/v1/programs/alice/notes", nil, 401, `"error":"unauthorized"`},
		{"no key, OpenAI shape", "GET", "/v1/models", nil, 401, `"code":"unauthorized"`},
		{"wrong key", "GET", "/v1/models", map[string]string{"X-API-Key": "alice-secre"}, 401, "unauthorized"},
		{"basic auth", "GET", "/v1/models", map[string]string{"Authorization": "Basic YWxpY2Utc2VjcmV0"}, 401, "unauthorized"},
		{"metrics", "GET", "/metrics", nil, 401, "unauthorized"},
		{"X-API-Key", "GET", "/v1/models", map[string]string{"X-API-Key": "alice-secret"}, 200, `"object":"list"`},
		{"bearer", "GET", "/api/v1/programs/alice/notes", map[string]string{"Authorization": "Bearer alice-secret"}, 200, `"spec"`},
		{"health", "GET", "/health", nil, 200, `"status"`},
		{"ready", "GET", "/api/v1/ready", nil, 200, `"status"`},
		{"bob once", "GET", "/v1/models", map[string]string{"X-API-Key": "bob-secret"}, 200, `"object":"list"`},
		{"bob again", "GET", "/v1/models", map[string]string{"X-API-Key": "bob-secret"}, 429, `"code":"rate_limited"`},
		{"alice unlimited", "GET", "/metrics", map[string]string{"X-API-Key": "alice-secret"}, 200, "paw_queue_depth"},
	} {
		if tt.name == "ready" {
			for !f.srv.Ready() {
				time.Sleep(10 * time.Millisecond)
			}
		}
		resp, body := f.send(t, tt.method, tt.path, tt.header)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.code) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, resp.StatusCode, body, tt.status, tt.code)
		}
		if tt.status == 401 && resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, resp.Header.Get("WWW-Authenticate"))
		}
		if tt.status == 429 {
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 59 || ra > 60 {
				t.Errorf("%s: Retry-After %q, want about a minute", tt.name, resp.Header.Get("Retry-After"))
			}
		}
	}
	if l := logs.String(); strings.Contains(l, "secret") || !strings.Contains(l, `"key":"alice"`) || !strings.Contains(l, `"key":"bob"`) {
		t.Errorf("access log names keys badly:\n%s", l)
	}
	if _, m := f.send(t, "GET", "/metrics", map[string]string{"X-API-Key": "alice-secret"}); !strings.Contains(m, "paw_queue_rejected_total 0") {
		t.Error("a rate-limited request counted as a queue rejection")
	}
}

// TestCORS: no CORS headers unless origins are configured; then an
// allowed origin gets them and its preflight a 204, without a key.
func TestCORS(t *testing.T) {
	f := newFix(t, Config{}, nil)
	resp, _ := f.send(t, "GET", "/health", map[string]string{"Origin": "https://app.example"})
	if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Errorf("CORS off: Access-Control-Allow-Origin %q", h)
	}
	keys := []APIKey{{Name: "a", Hash: sha256.Sum256([]byte("k"))}}
	f = newFix(t, Config{CORSOrigins: []string{"https://app.example"}, APIKeys: keys}, nil)
	preflight := map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "x-api-key, content-type"}
	resp, _ = f.send(t, "OPTIONS", "/v1/chat/completions", preflight)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-API-Key") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = f.send(t, "GET", "/v1/models", map[string]string{"Origin": "https://app.example", "X-API-Key": "k"})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Paw-Path") {
		t.Errorf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	preflight["Origin"] = "https://evil.example"
	resp, _ = f.send(t, "OPTIONS", "/v1/chat/completions", preflight)
	if resp.StatusCode == 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d %v", resp.StatusCode, resp.Header)
	}
}

package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Auth errors.
var (
	ErrUnauthorized = errors.New("server: missing or invalid API key (send X-API-Key or Authorization: Bearer)")
	ErrRateLimited  = errors.New("server: rate limit exceeded for this API key")
	ErrKeys         = errors.New("server: API key file")
)

// APIKey is one key the server accepts: the sha256 of the key (the key
// itself is never stored), a name for the logs, and a rate limit.
type APIKey struct {
	Name string
	Hash [sha256.Size]byte
	// Rate is the requests per second the key may make, with bursts of
	// Burst; 0 is unlimited.
	Rate  rate.Limit
	Burst int
}

// ReadAPIKeys reads a key file; see ParseAPIKeys.
func ReadAPIKeys(path string) ([]APIKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeys, err)
	}
	return ParseAPIKeys(data, path)
}

// ParseAPIKeys decodes a key file: one key a line, as `SHA256HEX [NAME]
// [RATE]`, where RATE is N/s, N/m or N/h; blank lines and # comments are
// skipped. Make a line with `printf %s "$KEY" | sha256sum`. Errors name
// the file (path) and the line.
func ParseAPIKeys(data []byte, path string) ([]APIKey, error) {
	var keys []APIKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		k, err := parseKeyLine(fields)
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrKeys, path, n, err)
		}
		if k.Name == "" {
			k.Name = fmt.Sprintf("line%d", n)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeys, path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s has no keys: it would lock every client out", ErrKeys, path)
	}
	return keys, nil
}

func parseKeyLine(fields []string) (APIKey, error) {
	var k APIKey
	if len(fields) > 3 {
		return k, fmt.Errorf("want SHA256HEX [NAME] [RATE], got %d fields", len(fields))
	}
	b, err := hex.DecodeString(fields[0])
	if err != nil || len(b) != sha256.Size {
		return k, errors.New("the first field is not a sha256 in hex (64 digits): store hashes, never keys")
	}
	copy(k.Hash[:], b)
	for _, f := range fields[1:] {
		if strings.Contains(f, "/") {
			if k.Rate, k.Burst, err = parseRate(f); err != nil {
				return k, err
			}
		} else {
			k.Name = f
		}
	}
	return k, nil
}

// parseRate reads N/s, N/m or N/h; the burst is a second's worth, at
// least one request.
func parseRate(s string) (rate.Limit, int, error) {
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if err != nil || per == 0 || !(n > 0) || math.IsInf(n, 0) {
		return 0, 0, fmt.Errorf("rate %q: want N/s, N/m or N/h with N > 0", s)
	}
	r := n / per.Seconds()
	return rate.Limit(r), max(1, int(math.Ceil(r))), nil
}

// keyring checks requests' keys and their rate limits.
type keyring struct {
	keys     []APIKey
	limiters []*rate.Limiter // nil for unlimited keys
}

func newKeyring(keys []APIKey) *keyring {
	kr := &keyring{keys: keys, limiters: make([]*rate.Limiter, len(keys))}
	for i, k := range keys {
		if k.Rate > 0 {
			kr.limiters[i] = rate.NewLimiter(k.Rate, k.Burst)
		}
	}
	return kr
}

// check finds the request's key, comparing its hash with every stored one
// in constant time, and takes a token from its limiter. It returns the
// key's name; a rate-limited request also gets how long to wait.
func (kr *keyring) check(r *http.Request) (name string, retryAfter time.Duration, err error) {
	key := r.Header.Get("X-API-Key")
	if key == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			key = strings.TrimSpace(v)
		}
	}
	if key == "" {
		return "", 0, ErrUnauthorized
	}
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range kr.keys { // no early exit: the time does not tell which key matched
		if subtle.ConstantTimeCompare(sum[:], kr.keys[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", 0, ErrUnauthorized
	}
	name = kr.keys[found].Name
	if lim := kr.limiters[found]; lim != nil {
		res := lim.Reserve()
		if d := res.Delay(); d > 0 {
			res.Cancel()
			return name, d, fmt.Errorf("%w (%s): retry in %v", ErrRateLimited, name, d.Round(time.Millisecond))
		}
	}
	return name, 0, nil
}

// keyless reports routes served without a key: health checks and the
// playground's static files (its API calls carry the key the user gives).
func keyless(route string) bool {
	switch route {
	case "GET /health", "GET /ready", "GET /api/v1/health", "GET /api/v1/ready", "GET /{$}", "GET /static/{file}":
		return true
	}
	return false
}

// CORS headers the browser may send and read.
const (
	corsAllowHeaders  = "Authorization, Content-Type, X-API-Key, X-Request-ID"
	corsExposeHeaders = "Retry-After, X-Paw-Path, X-Request-ID"
	corsAllowMethods  = "GET, POST, DELETE"
)

// cors sets the CORS headers for an allowed Origin and reports whether r
// was a preflight, which it has answered. Without configured origins it
// does nothing: browsers then refuse cross-origin calls.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.CORSOrigins) == 0 {
		return false
	}
	w.Header().Add("Vary", "Origin")
	allowed := false
	for _, o := range s.cfg.CORSOrigins {
		allowed = allowed || o == "*" || o == origin
	}
	if !allowed {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

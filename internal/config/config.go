// Package config declares every PAW_* environment variable once, with its
// default and meaning, and parses them into a Config.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/paw-dev/paw/internal/fsutil"
)

// Var is one environment variable paw reads.
type Var struct {
	Name    string
	Default string
	Doc     string
}

// Vars lists every variable, in the order `paw help environment` prints them.
var Vars = []Var{
	{"PAW_LOG_LEVEL", "warn", "diagnostics on stderr: debug, info, warn or error (debug includes llama.cpp's own log)"},
	{"PAW_THREADS", "0", "compute threads; 0 = one per CPU core (more than the cores is never used)"},
	{"PAW_CACHE_DIR", "", "where pulled programs and base models are kept (empty = the user cache dir + /paw, e.g. ~/.cache/paw)"},
	{"PAW_KV_CACHE_MAX", "2GiB", "most disk the prefix states and extracted adapters under PAW_CACHE_DIR/kv may take before the least recently used go (e.g. 500MB, 4GiB; 0 = no limit)"},
	{"PAW_API_URL", "https://programasweights.com", "the hosted PAW service (resolve, download, compile)"},
	{"PAW_API_KEY", "", "API key for the PAW service (empty = the key `paw login` saved)"},
	{"PAW_HF_URL", "https://huggingface.co/programasweights/paw-programs/resolve/main", "file host of published programs, the fallback download source"},
	{"PAW_OFFLINE", "false", "never touch the network; use only cached programs and models"},
	{"PAW_QUIET", "false", "no progress output on stderr"},
	{"PAW_STORE", "", "shared artifact store behind the cache: s3://bucket/prefix (endpoint, region and credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...) or file:///dir; programs and base models missing locally come from it, pulls, packs and compiles publish to it (empty = the local cache only)"},
	{"PAW_REGISTRY", "", "the function registry: a SQLite file path, or a postgres:// DSN shared by several servers (empty = PAW_CACHE_DIR/registry.db)"},
}

// Config is the parsed environment.
type Config struct {
	LogLevel slog.Level
	Threads  int
	CacheDir string // PAW_CACHE_DIR, resolved to a directory
	APIURL   string // PAW_API_URL
	APIKey   string // PAW_API_KEY, else the saved key (KeyFile)
	HFURL    string // PAW_HF_URL
	Offline  bool   // PAW_OFFLINE
	Quiet    bool   // PAW_QUIET
	Registry string // PAW_REGISTRY, resolved to a file path or DSN
	Store    string // PAW_STORE: "" or a store URL (package store)
	// KVCacheMax is PAW_KV_CACHE_MAX in bytes, -1 for 0 (no limit), as
	// paw.Options takes it.
	KVCacheMax int64
}

// FromEnv parses the PAW_* variables, naming the variable in any error.
func FromEnv() (Config, error) {
	var c Config
	if err := c.LogLevel.UnmarshalText([]byte(get("PAW_LOG_LEVEL"))); err != nil {
		return c, fmt.Errorf("PAW_LOG_LEVEL=%q: want debug, info, warn or error", os.Getenv("PAW_LOG_LEVEL"))
	}
	n, err := strconv.Atoi(get("PAW_THREADS"))
	if err != nil || n < 0 {
		return c, fmt.Errorf("PAW_THREADS=%q: want a whole number >= 0", os.Getenv("PAW_THREADS"))
	}
	c.Threads = n
	if c.Offline, err = getBool("PAW_OFFLINE"); err != nil {
		return c, err
	}
	if c.Quiet, err = getBool("PAW_QUIET"); err != nil {
		return c, err
	}
	c.APIURL, c.HFURL, c.Store = get("PAW_API_URL"), get("PAW_HF_URL"), get("PAW_STORE")
	if c.Store != "" && !strings.HasPrefix(c.Store, "s3://") && !strings.HasPrefix(c.Store, "file:///") {
		return c, fmt.Errorf("PAW_STORE=%q: want s3://bucket/prefix or file:///dir", c.Store)
	}
	if c.KVCacheMax, err = parseBytes(get("PAW_KV_CACHE_MAX")); err != nil {
		return c, fmt.Errorf("PAW_KV_CACHE_MAX=%q: %w", os.Getenv("PAW_KV_CACHE_MAX"), err)
	}
	if c.KVCacheMax == 0 {
		c.KVCacheMax = -1
	}
	if c.CacheDir = get("PAW_CACHE_DIR"); c.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return c, fmt.Errorf("PAW_CACHE_DIR is unset and there is no user cache dir: %w", err)
		}
		c.CacheDir = filepath.Join(d, "paw")
	}
	if c.Registry = get("PAW_REGISTRY"); c.Registry == "" {
		c.Registry = filepath.Join(c.CacheDir, "registry.db")
	}
	if c.APIKey = get("PAW_API_KEY"); c.APIKey == "" {
		c.APIKey, err = savedKey()
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// getBool parses a boolean variable, naming it in any error.
func getBool(name string) (bool, error) {
	b, err := strconv.ParseBool(get(name))
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, os.Getenv(name))
	}
	return b, nil
}

// keyFile is the JSON file `paw login` writes the API key to.
type keyFile struct {
	APIKey string `json:"api_key"`
}

// KeyFile returns where `paw login` saves the API key: paw/credentials.json
// in the user config dir (e.g. ~/.config/paw/credentials.json).
func KeyFile() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no user config dir: %w", err)
	}
	return filepath.Join(d, "paw", "credentials.json"), nil
}

// savedKey returns the saved API key, or "" when there is none.
func savedKey() (string, error) {
	p, err := KeyFile()
	if err != nil {
		return "", nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var k keyFile
	if err := json.Unmarshal(b, &k); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return k.APIKey, nil
}

// SaveAPIKey writes key to KeyFile with mode 0600, atomically, and returns
// the file's path.
func SaveAPIKey(key string) (string, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return "", errors.New("empty API key")
	}
	p, err := KeyFile()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, _ := json.Marshal(keyFile{APIKey: key})
	return p, fsutil.WriteFileAtomic(p, append(b, '\n'), 0o600)
}

// byteUnits are the size suffixes parseBytes knows, in lower case.
var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "tib": 1 << 40,
}

// parseBytes reads a size such as 2GiB, 500MB, 1.5G or 1024.
func parseBytes(s string) (int64, error) {
	num := strings.TrimRight(s, "bBkKmMgGtTiI ")
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(s[len(num):]))]
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || !(n >= 0 && n*unit < 1<<63) {
		return 0, errors.New("want a size such as 2GiB, 500MB or 0")
	}
	return int64(n * unit), nil
}

// get returns the variable's value or its declared default.
func get(name string) string {
	if v, ok := os.LookupEnv(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	for _, v := range Vars {
		if v.Name == name {
			return v.Default
		}
	}
	panic("config: undeclared variable " + name)
}

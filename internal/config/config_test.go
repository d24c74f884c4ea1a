package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name, level, threads string
		want                 Config
		wantErr              bool
	}{
		{name: "defaults", want: Config{LogLevel: slog.LevelWarn}},
		{name: "set", level: "debug", threads: "2", want: Config{LogLevel: slog.LevelDebug, Threads: 2}},
		{name: "bad level", level: "loud", wantErr: true},
		{name: "negative threads", threads: "-1", wantErr: true},
		{name: "words for threads", threads: "many", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PAW_LOG_LEVEL", tt.level)
			t.Setenv("PAW_THREADS", tt.threads)
			got, err := FromEnv()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (got.LogLevel != tt.want.LogLevel || got.Threads != tt.want.Threads) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHubVars(t *testing.T) {
	cfgHome := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgHome)
	t.Setenv("HOME", cfgHome)
	t.Setenv("PAW_CACHE_DIR", "/tmp/pawcache")
	t.Setenv("PAW_API_KEY", "")
	t.Setenv("PAW_OFFLINE", "1")
	t.Setenv("PAW_QUIET", "")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.CacheDir != "/tmp/pawcache" || !c.Offline || c.Quiet || c.APIKey != "" || c.APIURL != "https://programasweights.com" {
		t.Errorf("got %+v", c)
	}
	p, err := SaveAPIKey(" k-123\n")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %s: %v %v", p, fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	if c, _ := FromEnv(); c.APIKey != "k-123" {
		t.Errorf("saved key not read: %q", c.APIKey)
	}
	t.Setenv("PAW_API_KEY", "env-key")
	if c, _ := FromEnv(); c.APIKey != "env-key" {
		t.Errorf("env key does not win: %q", c.APIKey)
	}
	t.Setenv("PAW_OFFLINE", "maybe")
	if _, err := FromEnv(); err == nil {
		t.Error("PAW_OFFLINE=maybe accepted")
	}
}

func TestKVCacheMax(t *testing.T) {
	tests := []struct {
		value string
		want  int64
		bad   bool
	}{
		{value: "", want: 2 << 30}, // the default
		{value: "2GiB", want: 2 << 30},
		{value: "500MB", want: 500e6},
		{value: "1.5g", want: 1.5e9},
		{value: "64 KiB", want: 64 << 10},
		{value: "1024", want: 1024},
		{value: "0", want: -1}, // no limit
		{value: "-1GB", bad: true},
		{value: "lots", bad: true},
		{value: "2GiBs", bad: true},
		{value: "NaN", bad: true},
		{value: "1e30TB", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Setenv("PAW_KV_CACHE_MAX", tt.value)
			got, err := FromEnv()
			if tt.bad {
				if err == nil || !strings.Contains(err.Error(), "PAW_KV_CACHE_MAX") {
					t.Errorf("err = %v, want one naming PAW_KV_CACHE_MAX", err)
				}
				return
			}
			if err != nil || got.KVCacheMax != tt.want {
				t.Errorf("KVCacheMax = %d, %v; want %d", got.KVCacheMax, err, tt.want)
			}
		})
	}
}

// TestRegistryVar: PAW_REGISTRY defaults to a file under the cache dir and
// takes a path or a DSN as given.
func TestRegistryVar(t *testing.T) {
	t.Setenv("PAW_CACHE_DIR", "/tmp/pawcache")
	t.Setenv("PAW_REGISTRY", "")
	if c, err := FromEnv(); err != nil || c.Registry != filepath.Join("/tmp/pawcache", "registry.db") {
		t.Errorf("default registry = %q, %v", c.Registry, err)
	}
	t.Setenv("PAW_REGISTRY", "postgres://paw@db/paw")
	if c, err := FromEnv(); err != nil || c.Registry != "postgres://paw@db/paw" {
		t.Errorf("registry = %q, %v", c.Registry, err)
	}
}

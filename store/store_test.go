package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeS3 is an in-memory, path-style S3 endpoint: enough of GET, HEAD and
// PUT for the real SDK client to talk to.
type fakeS3 struct {
	mu   sync.Mutex
	objs map[string][]byte // "/bucket/key" → bytes
	puts []string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.objs[r.URL.Path] = b
		f.puts = append(f.puts, r.URL.Path)
	case http.MethodGet, http.MethodHead:
		b, ok := f.objs[r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>`)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (f *fakeS3) corrupt(suffix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.objs {
		if strings.Contains(k, suffix) {
			f.objs[k] = append([]byte("X"), v[1:]...)
		}
	}
}

// s3Env points the AWS SDK at url with test credentials and no shared files.
func s3Env(t *testing.T, url string) {
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
}

func TestStore(t *testing.T) {
	fake := &fakeS3{objs: map[string][]byte{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s3Env(t, srv.URL)
	for _, tc := range []struct {
		name, url string
		corrupt   func()
	}{
		{"s3", "s3://paw-bucket/team/prod", func() { fake.corrupt("/blobs/") }},
		{"dir", "file://" + t.TempDir(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(t.TempDir(), "x.paw")
			os.WriteFile(src, []byte("program bytes"), 0o644)
			sum, err := s.Publish(ctx, "programs/abc.paw", src)
			if err != nil {
				t.Fatal(err)
			}
			if h := sha256.Sum256([]byte("program bytes")); sum != hex.EncodeToString(h[:]) {
				t.Fatalf("sum %q", sum)
			}
			// Publishing the same bytes under a second name stores no second blob.
			if sum2, err := s.Publish(ctx, "programs/def.paw", src); err != nil || sum2 != sum {
				t.Fatalf("second publish: %v %s", err, sum2)
			}
			dst := filepath.Join(t.TempDir(), "y.paw")
			got, err := s.Fetch(ctx, "programs/def.paw", dst)
			if b, _ := os.ReadFile(dst); err != nil || got != sum || string(b) != "program bytes" {
				t.Fatalf("fetch: %v %s %q", err, got, b)
			}
			_, err = s.Fetch(ctx, "programs/none.paw", filepath.Join(t.TempDir(), "z"))
			if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("missing name: %v", err)
			}
			if _, err := s.Fetch(ctx, "../etc/passwd", dst); !errors.Is(err, ErrBadURL) {
				t.Fatalf("escaping name: %v", err)
			}
			if tc.corrupt == nil {
				return
			}
			tc.corrupt()
			bad := filepath.Join(t.TempDir(), "bad.paw")
			if _, err := s.Fetch(ctx, "programs/abc.paw", bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corrupt blob: %v", err)
			}
			if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a corrupt blob was installed: %v", err)
			}
		})
	}
	// Keys: one blob, two refs, under the bucket and prefix.
	var blobs, refs int
	for _, k := range fake.puts {
		switch {
		case strings.HasPrefix(k, "/paw-bucket/team/prod/blobs/sha256/"):
			blobs++
		case strings.HasPrefix(k, "/paw-bucket/team/prod/refs/programs/"):
			refs++
		default:
			t.Errorf("unexpected key %s", k)
		}
	}
	if blobs != 1 || refs != 2 {
		t.Errorf("puts: %d blobs, %d refs, want 1 and 2: %v", blobs, refs, fake.puts)
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"http://x/y", "s3:///prefix", "file://host/x", "bucket/prefix"} {
		if _, err := Open(context.Background(), u); !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: %v", u, err)
		}
	}
}

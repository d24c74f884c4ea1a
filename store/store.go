// Package store keeps paw's artifacts (program bundles, base models and
// their manifests) in a store shared by several machines, behind each
// machine's local cache: an S3-compatible bucket (s3://bucket/prefix) or a
// directory (file:///path, e.g. a network mount).
//
// Objects are content-addressed: a file's bytes live once under
// blobs/sha256/<hex>, and a name ("programs/<id>.paw",
// "runtimes/<id>/<file>") is a small ref object pointing at a blob. Reads
// stream through sha256 and are refused unless the bytes match the blob's
// key; writes are atomic (an S3 PutObject, or a rename in a directory), the
// blob before the ref, so a reader never finds a ref to a missing or partial
// blob.
package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrNotFound is a name (or blob) the store does not hold; it matches
// fs.ErrNotExist too, which is how hub tells a miss from a failure.
var ErrNotFound = fmt.Errorf("store: not found: %w", fs.ErrNotExist)

// ErrCorrupt is an object whose bytes do not match its sha256 key or size.
var ErrCorrupt = errors.New("store: object does not match its sha256")

// ErrBadURL is a PAW_STORE value that names no store.
var ErrBadURL = errors.New("store: bad store URL")

// maxRef bounds a ref object: it is a few dozen bytes of JSON.
const maxRef = 4 << 10

// backend is the object layer: whole objects by key, each written atomically.
type backend interface {
	get(ctx context.Context, key string) (io.ReadCloser, error) // ErrNotFound when absent
	put(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	exists(ctx context.Context, key string) (bool, error)
	String() string
}

// Store is a content-addressed artifact store. It is safe for concurrent
// use by goroutines and by processes on several machines.
type Store struct {
	b      backend
	prefix string // "" or "dir/" inside the bucket
}

// ref is the object a name points at.
type ref struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

var (
	reName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$`)
	reSum  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Open returns the store a URL names: s3://bucket[/prefix] (endpoint,
// region and credentials the usual way for AWS clients: AWS_ENDPOINT_URL,
// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, a profile or an
// instance role), or file:///dir.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrBadURL, rawURL, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("%w %q: no bucket", ErrBadURL, rawURL)
		}
		b, err := newS3(ctx, u.Host)
		if err != nil {
			return nil, err
		}
		return &Store{b: b, prefix: prefix}, nil
	case "file":
		if u.Host != "" || u.Path == "" {
			return nil, fmt.Errorf("%w %q: want file:///absolute/dir", ErrBadURL, rawURL)
		}
		return &Store{b: dirBackend(filepath.Clean(u.Path))}, nil
	}
	return nil, fmt.Errorf("%w %q: want s3://bucket/prefix or file:///dir", ErrBadURL, rawURL)
}

// String names the store, for logs.
func (s *Store) String() string { return s.b.String() + "/" + s.prefix }

func blobKey(sum string) string { return "blobs/sha256/" + sum }

func refKey(name string) string { return "refs/" + name + ".json" }

func checkName(name string) error {
	if !reName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%w: bad name %q", ErrBadURL, name)
	}
	return nil
}

// Publish uploads the file at src under name: its bytes as a blob (skipped
// when the store holds it already), then the ref, and returns its sha256.
func (s *Store) Publish(ctx context.Context, name, src string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("store: publish %s: %w", name, err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return "", fmt.Errorf("store: publish %s: %w", name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	have, err := s.b.exists(ctx, s.prefix+blobKey(sum))
	if err != nil {
		return "", fmt.Errorf("store: publish %s: %w", name, err)
	}
	if !have {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		if err := s.b.put(ctx, s.prefix+blobKey(sum), f, size); err != nil {
			return "", fmt.Errorf("store: publish %s: %w", name, err)
		}
	}
	b, _ := json.Marshal(ref{SHA256: sum, Size: size})
	if err := s.b.put(ctx, s.prefix+refKey(name), bytes.NewReader(b), int64(len(b))); err != nil {
		return "", fmt.Errorf("store: publish %s: %w", name, err)
	}
	return sum, nil
}

// Fetch downloads name to dst through a temporary file beside it, renamed
// into place only when its bytes match the blob's sha256 and size, and
// returns that sha256. A name the store lacks is ErrNotFound.
func (s *Store) Fetch(ctx context.Context, name, dst string) (string, error) {
	r, err := s.lookup(ctx, name)
	if err != nil {
		return "", err
	}
	body, err := s.b.get(ctx, s.prefix+blobKey(r.SHA256))
	if err != nil {
		return "", fmt.Errorf("store: fetch %s: blob %s: %w", name, r.SHA256, err)
	}
	defer body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".store-")
	if err != nil {
		return "", fmt.Errorf("store: fetch %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, r.Size+1))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("store: fetch %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 || n != r.Size {
		return "", fmt.Errorf("%w: %s: got %d bytes sha256 %s, want %d bytes %s", ErrCorrupt, name, n, got, r.Size, r.SHA256)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("store: fetch %s: %w", name, err)
	}
	return r.SHA256, nil
}

// lookup reads and checks name's ref.
func (s *Store) lookup(ctx context.Context, name string) (ref, error) {
	var r ref
	if err := checkName(name); err != nil {
		return r, err
	}
	body, err := s.b.get(ctx, s.prefix+refKey(name))
	if err != nil {
		return r, fmt.Errorf("store: fetch %s: %w", name, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxRef))
	if err != nil {
		return r, fmt.Errorf("store: fetch %s: %w", name, err)
	}
	if err := json.Unmarshal(b, &r); err != nil || !reSum.MatchString(r.SHA256) || r.Size < 0 {
		return r, fmt.Errorf("%w: ref %s is not {sha256, size}", ErrCorrupt, name)
	}
	return r, nil
}

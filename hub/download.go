package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// download describes one file to fetch into dst.
type download struct {
	url    string
	dst    string
	size   int64  // expected bytes; 0 = unknown
	sha256 string // expected lowercase hex; "" = not checked
	max    int64  // cap when size is unknown
	// building lets the server answer 202 (still building) with Retry-After.
	building bool

	item, ref, id string
}

var (
	errStalled = errors.New("hub: download stalled")
	errRestart = errors.New("hub: server ignored the range request")
)

// buildingError is a 202 answer: try again after retryAfter.
type buildingError struct{ retryAfter time.Duration }

func (e *buildingError) Error() string { return "hub: program is still being built" }

// partialState is kept next to a partial file so that a later process can
// resume it with If-Range.
type partialState struct {
	URL          string `json:"url"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

func partialPath(dst string) string {
	return filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".partial")
}

// download fetches d into d.dst: into a partial file first (resumed when a
// previous attempt or process left one), verified, then renamed. The caller
// holds d's lock.
func (c *Client) download(ctx context.Context, d *download) error {
	part := partialPath(d.dst)
	f, off, st, err := openPartial(part, d)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, off)); err != nil {
		return err
	}
	resumedStale := off > 0
	if err := c.fetchLoop(ctx, d, f, h, &off, &st); err != nil {
		if !temporary(ctx, err) && ctx.Err() == nil {
			removePartial(f, part)
		}
		return err
	}
	c.trace(Event{Kind: EventVerify, Item: d.item, Ref: d.ref, ID: d.id, Total: d.size, Completed: off})
	got := hex.EncodeToString(h.Sum(nil))
	if (d.size > 0 && off != d.size) || (d.sha256 != "" && got != d.sha256) {
		removePartial(f, part)
		err := fmt.Errorf("%w: %s: got %d bytes sha256 %s, want %d bytes sha256 %s", ErrChecksum, d.url, off, got, d.size, d.sha256)
		if resumedStale { // the bytes a dead process left may be the culprit: once more, from scratch
			d2 := *d
			c.trace(Event{Kind: EventRetry, Item: d.item, Ref: d.ref, ID: d.id, Attempt: 1, Err: err})
			return c.downloadFresh(ctx, &d2)
		}
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, d.dst); err != nil {
		return err
	}
	os.Remove(part + ".json")
	syncDir(filepath.Dir(d.dst))
	return nil
}

// downloadFresh discards any partial file and downloads again.
func (c *Client) downloadFresh(ctx context.Context, d *download) error {
	part := partialPath(d.dst)
	os.Remove(part)
	os.Remove(part + ".json")
	return c.download(ctx, d)
}

func removePartial(f *os.File, part string) {
	f.Close()
	os.Remove(part)
	os.Remove(part + ".json")
}

// openPartial opens (creating) the partial file; it keeps its bytes only
// when the state file says they belong to the same download.
func openPartial(part string, d *download) (*os.File, int64, partialState, error) {
	want := partialState{URL: d.url, Size: d.size, SHA256: d.sha256}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, want, err
	}
	var st partialState
	b, err := os.ReadFile(part + ".json")
	fi, serr := f.Stat()
	if err == nil && serr == nil && json.Unmarshal(b, &st) == nil && st.URL == want.URL && st.Size == want.Size &&
		st.SHA256 == want.SHA256 && (st.ETag != "" || st.LastModified != "") && (d.size == 0 || fi.Size() <= d.size) {
		return f, fi.Size(), st, nil
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, 0, want, err
	}
	return f, 0, want, nil
}

// fetchLoop runs attempts until the file is complete, retrying temporary
// failures (attempts that made progress are free) and polling while the
// server is still building.
func (c *Client) fetchLoop(ctx context.Context, d *download, f *os.File, h hash.Hash, off *int64, st *partialState) error {
	failures, restarts := 0, 0
	deadline := time.Now().Add(orDefault(c.BuildTimeout, DefaultBuildTimeout))
	for attempt := 1; ; attempt++ {
		before := *off
		err := c.fetchOnce(ctx, d, f, h, off, st)
		if err == nil {
			return nil
		}
		var be *buildingError
		switch {
		case errors.As(err, &be):
			if time.Now().After(deadline) {
				return fmt.Errorf("%w after %s", ErrNotReady, orDefault(c.BuildTimeout, DefaultBuildTimeout))
			}
			wait := be.retryAfter
			if wait <= 0 {
				wait = orDefault(c.RetryDelay, DefaultRetryDelay)
			}
			wait = min(wait, orDefault(c.MaxRetryDelay, DefaultMaxRetryDelay))
			c.trace(Event{Kind: EventRetry, Item: d.item, Ref: d.ref, ID: d.id, Attempt: attempt, Wait: wait, Err: err})
			if err := c.wait(ctx, wait); err != nil {
				return err
			}
			continue
		case errors.Is(err, errRestart):
			if restarts++; restarts > 2 {
				return fmt.Errorf("%w: %s: %w", ErrBadResponse, d.url, err)
			}
			if err := resetPartial(f, h, off, st); err != nil {
				return err
			}
			continue
		case !temporary(ctx, err):
			return err
		}
		if *off == before {
			failures++
		}
		if failures > c.retries() || attempt > 10*(c.retries()+1) {
			return err
		}
		if err := c.retryWait(ctx, failures, err, Event{Item: d.item, Ref: d.ref, ID: d.id, Completed: *off, Total: d.size}); err != nil {
			return err
		}
	}
}

func resetPartial(f *os.File, h hash.Hash, off *int64, st *partialState) error {
	h.Reset()
	*off = 0
	st.ETag, st.LastModified = "", ""
	return f.Truncate(0)
}

// fetchOnce makes one request, resuming from *off, and appends the body.
func (c *Client) fetchOnce(ctx context.Context, d *download, f *os.File, h hash.Hash, off *int64, st *partialState) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := c.newRequest(actx, d.url)
	if err != nil {
		return err
	}
	if *off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", *off))
		if st.ETag != "" {
			req.Header.Set("If-Range", st.ETag)
		} else if st.LastModified != "" {
			req.Header.Set("If-Range", st.LastModified)
		}
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	total, err := c.checkResponse(resp, d, f, h, off, st)
	if err != nil || total == -2 {
		return err
	}
	if err := saveState(d.dst, st, resp); err != nil {
		return err
	}
	c.trace(Event{Kind: EventStart, Item: d.item, Ref: d.ref, ID: d.id, Total: total, Completed: *off})
	return c.copyBody(actx, cancel, resp.Body, d, f, h, off, total)
}

// checkResponse interprets the status of a (range) request. It returns the
// full file size (-1 unknown), or -2 when the partial file is already whole.
func (c *Client) checkResponse(resp *http.Response, d *download, f *os.File, h hash.Hash, off *int64, st *partialState) (int64, error) {
	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusAccepted:
		if !d.building {
			return 0, fmt.Errorf("%w: %s: unexpected 202", ErrBadResponse, d.url)
		}
		return 0, &buildingError{retryAfter: retryAfterHeader(resp)}
	case http.StatusOK:
		if *off > 0 { // Range ignored (or If-Range failed): start over
			if err := resetPartial(f, h, off, st); err != nil {
				return 0, err
			}
		}
		total = resp.ContentLength
	case http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != *off || *off == 0 {
			return 0, errRestart
		}
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		if d.size > 0 && *off == d.size {
			return -2, nil
		}
		return 0, errRestart
	default:
		return 0, statusError(resp)
	}
	if d.size > 0 && total >= 0 && total != d.size {
		return 0, fmt.Errorf("%w: %s: server has %d bytes, want %d", ErrChecksum, d.url, total, d.size)
	}
	if d.size == 0 && total > d.max {
		return 0, fmt.Errorf("%w: %s: %d bytes is over the %d-byte limit", ErrBadResponse, d.url, total, d.max)
	}
	if total < 0 && d.size > 0 {
		total = d.size
	}
	return total, nil
}

// copyBody appends the body at *off, hashing it, aborting when the server
// stalls for StallTimeout, and reporting progress at most every 100ms.
func (c *Client) copyBody(ctx context.Context, cancel context.CancelCauseFunc, body io.Reader, d *download, f *os.File, h hash.Hash, off *int64, total int64) error {
	if _, err := f.Seek(*off, io.SeekStart); err != nil {
		return err
	}
	stall := orDefault(c.StallTimeout, DefaultStallTimeout)
	timer := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer timer.Stop()
	limit := d.max
	if d.size > 0 {
		limit = d.size
	}
	buf := make([]byte, 256<<10)
	last := time.Now()
	for {
		n, rerr := body.Read(buf)
		timer.Reset(stall)
		if n > 0 {
			if *off+int64(n) > limit {
				return fmt.Errorf("%w: %s: more than %d bytes", ErrChecksum, d.url, limit)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return err
			}
			h.Write(buf[:n])
			*off += int64(n)
			if time.Since(last) >= 100*time.Millisecond {
				last = time.Now()
				c.trace(Event{Kind: EventProgress, Item: d.item, Ref: d.ref, ID: d.id, Total: total, Completed: *off})
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if context.Cause(ctx) == errStalled {
				return errStalled
			}
			return rerr
		}
	}
	c.trace(Event{Kind: EventProgress, Item: d.item, Ref: d.ref, ID: d.id, Total: total, Completed: *off})
	if total >= 0 && *off < total {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// saveState records the validator of the response so a later attempt or
// process can resume with If-Range. Weak ETags cannot be used for that.
func saveState(dst string, st *partialState, resp *http.Response) error {
	etag := resp.Header.Get("ETag")
	if strings.HasPrefix(etag, "W/") {
		etag = ""
	}
	lm := resp.Header.Get("Last-Modified")
	if resp.StatusCode == http.StatusPartialContent && st.ETag+st.LastModified != "" {
		return nil // unchanged
	}
	st.ETag, st.LastModified = etag, lm
	if etag == "" && lm == "" {
		os.Remove(partialPath(dst) + ".json")
		return nil
	}
	return writeJSONAtomic(partialPath(dst)+".json", st)
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be "*").
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	size = -1
	if sz != "*" {
		n, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || n <= end {
			return 0, 0, false
		}
		size = n
	}
	return start, size, true
}

package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/internal/retry"
)

// maxJSONBody caps a JSON response from the service.
const maxJSONBody = 1 << 20

// newRequest builds a GET that carries the API key to the service only.
func (c *Client) newRequest(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "paw-hub")
	if c.APIKey != "" && strings.HasPrefix(url, c.apiURL("")) {
		req.Header.Set(api.KeyHeader, c.APIKey)
	}
	return req, nil
}

// get fetches a small body from url, retrying temporary failures when retry
// is set. A non-2xx answer is an *api.Error (a 404 also matches ErrNotFound).
func (c *Client) get(ctx context.Context, url string, retry bool) ([]byte, error) {
	retries := c.retries()
	if !retry {
		retries = 0
	}
	for attempt := 1; ; attempt++ {
		b, err := c.getOnce(ctx, url)
		if err == nil || attempt > retries || !temporary(ctx, err) {
			return b, err
		}
		if err := c.retryWait(ctx, attempt, err, Event{Item: url}); err != nil {
			return nil, err
		}
	}
}

func (c *Client) getOnce(ctx context.Context, url string) ([]byte, error) {
	req, err := c.newRequest(ctx, url)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSONBody {
		return nil, fmt.Errorf("%w: %s: body over %d bytes", ErrBadResponse, url, maxJSONBody)
	}
	return b, nil
}

// statusError turns a non-success response into an *api.Error, wrapped
// with ErrNotFound for 404s.
func statusError(resp *http.Response) error {
	e := api.ReadError(resp)
	if e.Status == http.StatusNotFound || e.Status == http.StatusGone {
		return fmt.Errorf("%w: %w", ErrNotFound, e)
	}
	return e
}

// temporary reports whether err is worth retrying: connection errors,
// timeouts, truncated bodies, 429 and 5xx — but not a cancelled ctx.
func temporary(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	if errors.Is(err, ErrChecksum) || errors.Is(err, ErrBadResponse) || errors.Is(err, ErrNotFound) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, errStalled) {
		return true
	}
	return retry.TransientNetError(err)
}

// retryAfterOf is the Retry-After an error carries, or 0.
func retryAfterOf(err error) time.Duration {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	var be *buildingError
	if errors.As(err, &be) {
		return be.retryAfter
	}
	return 0
}

// retryWait reports attempt's failure and waits before the next; it returns
// the failure itself when the wait the server asked for is too long.
func (c *Client) retryWait(ctx context.Context, attempt int, cause error, e Event) error {
	d, ok := c.backoff(attempt, retryAfterOf(cause))
	if !ok {
		return cause
	}
	e.Kind, e.Attempt, e.Wait, e.Err = EventRetry, attempt, d, cause
	c.trace(e)
	if err := c.wait(ctx, d); err != nil {
		return err
	}
	return nil
}

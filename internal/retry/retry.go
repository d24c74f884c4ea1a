// Package retry is the retry policy of paw's HTTP clients (hub,
// compile/hosted): which network failures are transient, how long to wait
// before the next attempt, and a wait that ends with its context.
package retry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// TransientNetError reports whether err is a network failure that may pass
// on its own — a refused or reset connection, a timeout, a body cut short —
// and not a host name that does not resolve, which will not resolve a few
// seconds later either (a resolver timeout does count as transient).
func TransientNetError(err error) bool {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTimeout || de.IsTemporary
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Backoff returns the wait before retry attempt n+1 (n ≥ 1): retryAfter
// when the server sent one, else exponential from base with ±50% jitter. ok
// is false when the wait would exceed maxWait.
func Backoff(n int, retryAfter, base, maxWait time.Duration) (d time.Duration, ok bool) {
	if retryAfter > 0 {
		return retryAfter, retryAfter <= maxWait
	}
	d = base
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = d/2 + rand.N(d+1) // jitter: [d/2, 3d/2]
	return min(d, maxWait), true
}

// Sleep waits d, or less if ctx is done first (returning its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// DefaultDrain is how long Serve waits for requests in flight on shutdown.
const DefaultDrain = 30 * time.Second

// Serve serves h on ln until ctx is cancelled, then stops accepting and
// waits up to drain (DefaultDrain if 0) for the requests in flight, which
// keep their contexts: a SIGTERM drains rather than cuts.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, drain time.Duration) error {
	if drain <= 0 {
		drain = DefaultDrain
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return errors.Join(err, srv.Close())
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

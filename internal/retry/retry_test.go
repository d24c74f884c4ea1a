package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"
)

func TestTransientNetError(t *testing.T) {
	dial := func(err error) error {
		return fmt.Errorf("fetch: %w", &url.Error{Op: "Get", URL: "https://h.example/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}})
	}
	cases := []struct {
		err  error
		want bool
	}{
		{dial(&net.DNSError{Err: "no such host", Name: "h.example", IsNotFound: true}), false},
		{dial(&net.DNSError{Err: "i/o timeout", Name: "h.example", IsTimeout: true}), true},
		{dial(&net.DNSError{Err: "server misbehaving", Name: "h.example", IsTemporary: true}), true},
		{dial(errors.New("connection refused")), true},
		{fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), true},
		{errors.New("checksum mismatch"), false},
	}
	for _, c := range cases {
		if got := TransientNetError(c.err); got != c.want {
			t.Errorf("TransientNetError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n <= 4; n++ {
		base := time.Second << (n - 1)
		for range 50 {
			d, ok := Backoff(n, 0, time.Second, time.Hour)
			if !ok || d < base/2 || d > base*3/2 {
				t.Fatalf("attempt %d: %v %v, want within [%v, %v]", n, d, ok, base/2, base*3/2)
			}
		}
	}
	if d, ok := Backoff(30, 0, time.Second, time.Minute); !ok || d > time.Minute {
		t.Errorf("capped: %v %v", d, ok)
	}
	if d, ok := Backoff(1, 5*time.Second, time.Second, time.Minute); !ok || d != 5*time.Second {
		t.Errorf("Retry-After: %v %v", d, ok)
	}
	if _, ok := Backoff(1, time.Hour, time.Second, time.Minute); ok {
		t.Error("a Retry-After beyond the cap: ok")
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("a short sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("a cancelled sleep: %v after %v, want context.Canceled at once", err, time.Since(start))
	}
}

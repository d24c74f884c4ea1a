package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// levelFor logs server failures as errors, the rest as info.
func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// slogAttrs is one access log record. The X-API-Key is never logged.
func slogAttrs(r *http.Request, rw *recorder, id string, d time.Duration) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rw.status),
		slog.Int64("bytes", rw.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	}
	if rw.function != "" {
		attrs = append(attrs, slog.String("function", rw.function), slog.String("answered_by", rw.path),
			slog.Int("tokens_in", rw.tokensIn), slog.Int("tokens_out", rw.tokens))
	}
	if rw.key != "" {
		attrs = append(attrs, slog.String("key", rw.key)) // the key's name, never the key
	}
	if rw.code != "" {
		attrs = append(attrs, slog.String("error", rw.code))
	}
	return attrs
}

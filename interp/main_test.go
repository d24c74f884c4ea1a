package interp

import (
	"log/slog"
	"os"
	"testing"
)

// TestMain turns on debug logs (one line per decode) with PAW_TEST_DEBUG=1.
func TestMain(m *testing.M) {
	if os.Getenv("PAW_TEST_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	os.Exit(m.Run())
}

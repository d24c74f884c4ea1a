package discover

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/paw-dev/paw/discover/discovertest"
)

// TestWriteBigLog writes the synthetic log of PAW_DISCOVER_MB megabytes to
// PAW_DISCOVER_LOG for make discover-bench (skipped without them; a file
// already there is kept).
func TestWriteBigLog(t *testing.T) {
	path, mb := os.Getenv("PAW_DISCOVER_LOG"), os.Getenv("PAW_DISCOVER_MB")
	if path == "" || mb == "" {
		t.Skip("set PAW_DISCOVER_LOG and PAW_DISCOVER_MB (make discover-bench)")
	}
	n, err := strconv.Atoi(mb)
	if err != nil || n < 1 {
		t.Fatalf("PAW_DISCOVER_MB=%q: want megabytes", mb)
	}
	if st, err := os.Stat(path); err == nil && st.Size() >= int64(n)<<20 {
		t.Logf("%s exists (%d MB)", path, st.Size()>>20)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// About 700 bytes a call: enough calls for n MB, over 30 days.
	calls := n << 20 / 700
	if _, err := discovertest.Write(w, discovertest.Config{Calls: calls, Seed: 1, Days: 30, Noise: 0.05, Malformed: 0.0001, Repeat: 0.1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	t.Logf("%s: %d calls, %d MB", path, calls, st.Size()>>20)
}

// BenchmarkRead mines a synthetic log held in memory (MB/s by SetBytes).
func BenchmarkRead(b *testing.B) {
	var log bytes.Buffer
	if _, err := discovertest.Write(&log, discovertest.Config{Calls: 20000, Seed: 1, Days: 30, Noise: 0.05, Repeat: 0.1}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(log.Len()))
	for b.Loop() {
		d := New(Options{})
		if err := d.Read(context.Background(), bytes.NewReader(log.Bytes()), "log", FormatOpenAI); err != nil {
			b.Fatal(err)
		}
		d.Report(RankOptions{})
	}
}

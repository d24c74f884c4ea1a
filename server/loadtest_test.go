package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
)

var (
	loadFor     = flag.Duration("load", 0, "run TestLoad for this long (e.g. 30s); 0 skips it")
	loadClients = flag.Int("load-clients", 32, "TestLoad's concurrent clients")
)

// TestLoad is the load test of docs/serve.md, run only when asked:
//
//	go test ./server -run TestLoad -load 30s -v
//
// loadClients clients call 4 fixture programs (2 free-text, 2 labels) on
// loopback for the given time, drafts off, half through PAW REST and half
// through the OpenAI routes: every answer must be 200 and equal to that
// input's serial answer. It logs throughput and latency percentiles, then
// overloads the server (a burst of twice the queue) and checks that the
// refused get 429 within 50 ms and that the process' memory stays bounded.
func TestLoad(t *testing.T) {
	if *loadFor <= 0 {
		t.Skip("run with -load DURATION")
	}
	f := newFix(t, Config{QueueDepth: 64}, nil)
	packProgram(t, f.hub.Dir, f.base, "bob/notes", 6, "")
	packProgram(t, f.hub.Dir, f.base, "bob/sentiment", 7, `{"kind":"labels","labels":["positive","negative","neutral"]}`)
	refs := []string{"alice/notes", "alice/triage", "bob/notes", "bob/sentiment"}
	inputs := []string{"my cat sleeps all day", "the invoice is wrong", "server down since noon", "refund please",
		"hello there", "great product, thanks", "login fails with error 500", "a b c d"}
	const maxTokens = 8
	want := map[string]string{}
	for _, ref := range refs {
		for _, in := range inputs {
			want[ref+"|"+in] = f.serial(t, ref, in, paw.WithMaxTokens(maxTokens)).Output
		}
	}
	for _, ref := range refs { // loaded before the clock starts, as a server warmed by --program
		resp, body := f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: ref, Input: inputs[0], MaxTokens: maxTokens})
		wantStatus(t, resp, body, 200)
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  []string
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(*loadFor)
	start := time.Now()
	for c := range *loadClients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				n := int(next.Add(1))
				ref, in := refs[n%len(refs)], inputs[(n/len(refs))%len(inputs)]
				t0 := time.Now()
				got, err := f.ask(ref, in, maxTokens, c%2 == 0)
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil || got != want[ref+"|"+in] {
					failures = append(failures, fmt.Sprintf("%s %q: %q (%v), serial %q", ref, in, got, err, want[ref+"|"+in]))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	t.Logf("load: %d clients, %d programs, %v: %d requests, %d failed, %.1f req/s, latency p50 %v p99 %v max %v",
		*loadClients, len(refs), elapsed.Round(time.Millisecond), len(latencies), len(failures),
		float64(len(latencies))/elapsed.Seconds(), pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond),
		latencies[len(latencies)-1].Round(time.Millisecond))
	for _, e := range failures[:min(len(failures), 10)] {
		t.Error(e)
	}
	overload(t, f, refs[1], 2*f.srv.cfg.QueueDepth)
}

// ask sends one request, through PAW REST or the OpenAI chat route, and
// returns the answer.
func (f *fix) ask(ref, input string, maxTokens int, viaPAW bool) (string, error) {
	if viaPAW {
		var r api.InferResponse
		err := f.post("/api/v1/infer", api.InferRequest{ProgramID: ref, Input: input, MaxTokens: maxTokens}, &r)
		return r.Output, err
	}
	req := chatReq(ref, input)
	req.MaxTokens = maxTokens
	var r api.ChatResponse
	if err := f.post("/v1/chat/completions", req, &r); err != nil {
		return "", err
	}
	return string(r.Choices[0].Message.Content), nil
}

// overload sends n requests at once, from clients already connected: those
// beyond the queue must get 429 within 50 ms, the rest 200, and the
// process' resident memory must grow by less than 64 MiB.
func overload(t *testing.T, f *fix, ref string, n int) {
	t.Helper()
	warm(f, n)
	rss0 := rss(t)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		codes    = map[int]int{}
		slow429  time.Duration
		rejected []time.Duration
	)
	for i := range n {
		wg.Go(func() {
			t0 := time.Now()
			code, err := f.postStatus("/api/v1/infer", api.InferRequest{ProgramID: ref, Input: "burst " + strconv.Itoa(i), MaxTokens: 8})
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[-1]++
				return
			}
			codes[code]++
			if code == http.StatusTooManyRequests {
				rejected = append(rejected, d)
				slow429 = max(slow429, d)
			}
		})
	}
	wg.Wait()
	grown := rss(t) - rss0
	slices.Sort(rejected)
	t.Logf("overload: %d requests at once on a queue of %d: %v; slowest 429 after %v; resident memory %+d MiB",
		n, f.srv.cfg.QueueDepth, codes, slow429.Round(time.Microsecond), grown>>20)
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusOK]+codes[http.StatusTooManyRequests] != n {
		t.Errorf("overload answers %v, want only 200s and 429s, some 429s", codes)
	}
	if slow429 > 50*time.Millisecond && !raceEnabled {
		t.Errorf("a 429 took %v (p50 %v), want within 50 ms", slow429, rejected[len(rejected)/2])
	}
	if grown > 64<<20 {
		t.Errorf("resident memory grew by %d MiB under overload", grown>>20)
	}
}

// post sends a JSON request and decodes a 200 answer into out.
func (f *fix) post(path string, body, out any) error {
	resp, b, err := f.roundTrip(path, body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func (f *fix) postStatus(path string, body any) (int, error) {
	resp, _, err := f.roundTrip(path, body)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// rss is the process' resident memory in bytes (Linux).
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// loadClient keeps a connection per client open, as real clients do.
var loadClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}

// roundTrip is f.do for goroutines: errors are returned, not fatal.
func (f *fix) roundTrip(path string, body any) (*http.Response, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	resp, err := loadClient.Post(f.ts.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err = io.ReadAll(resp.Body)
	return resp, b, err
}

// warm opens n keep-alive connections, so that a burst measures the
// server, not TCP handshakes.
func warm(f *fix, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if resp, err := loadClient.Get(f.ts.URL + "/health"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

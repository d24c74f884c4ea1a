package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
)

// blockingCall replaces the server's call: each call reports its context
// on entered and waits for release or its context's end, then answers for
// real.
type blockingCall struct {
	entered chan context.Context
	release chan struct{}
}

func newBlockingCall(s *Server) *blockingCall {
	b := &blockingCall{entered: make(chan context.Context, 8), release: make(chan struct{})}
	call := s.call
	s.call = func(ctx context.Context, fn *paw.Function, input string, opts ...paw.Option) (paw.Result, error) {
		b.entered <- ctx
		select {
		case <-b.release:
		case <-ctx.Done():
			return paw.Result{}, ctx.Err()
		}
		return call(ctx, fn, input, opts...)
	}
	return b
}

func inferBody(ref string) api.InferRequest {
	return api.InferRequest{ProgramID: ref, Input: "hi", MaxTokens: 4}
}

// TestQueueFull: with a queue of one held by a blocked call, the next
// request gets 429 with Retry-After at once; the held one then completes.
func TestQueueFull(t *testing.T) {
	var b *blockingCall
	f := newFix(t, Config{QueueDepth: 1, Timeout: 10 * time.Second}, func(s *Server) { b = newBlockingCall(s) })
	first := make(chan int)
	go func() {
		resp, _ := f.do(t, "POST", "/api/v1/infer", inferBody("alice/notes"))
		first <- resp.StatusCode
	}()
	<-b.entered
	start := time.Now()
	resp, body := f.do(t, "POST", "/v1/chat/completions", chatReq("alice/notes", "x"))
	took := time.Since(start)
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" || errorCode(t, body) != "queue_full" || took > 50*time.Millisecond {
		t.Errorf("429 after %v, Retry-After %q, body %s", took, resp.Header.Get("Retry-After"), body)
	}
	metrics := f.metrics(t)
	for _, s := range []string{"paw_queue_depth 1", "paw_queue_rejected_total 1"} {
		if !strings.Contains(metrics, s+"\n") {
			t.Errorf("metrics lack %q", s)
		}
	}
	close(b.release)
	if code := <-first; code != 200 {
		t.Errorf("held request: %d", code)
	}
	if n := f.srv.queue.len(); n != 0 {
		t.Errorf("queue holds %d after the request", n)
	}
}

// TestDisconnect: a client that leaves cancels its call's context and
// frees its place in the queue.
func TestDisconnect(t *testing.T) {
	var b *blockingCall
	f := newFix(t, Config{QueueDepth: 1, Timeout: 10 * time.Second}, func(s *Server) { b = newBlockingCall(s) })
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.ts.URL+"/api/v1/infer", strings.NewReader(`{"program_id":"alice/notes","input":"hi"}`))
	done := make(chan error)
	go func() {
		_, err := http.DefaultClient.Do(req)
		done <- err
	}()
	callCtx := <-b.entered
	cancel()
	<-done
	select {
	case <-callCtx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call's context was not cancelled when its client left")
	}
	for start := time.Now(); f.srv.queue.len() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the queue place was not freed")
		}
	}
	close(b.release)
	resp, body := f.do(t, "POST", "/api/v1/infer", inferBody("alice/notes"))
	wantStatus(t, resp, body, 200)
}

// TestDeadline: a call past Config.Timeout is cut with 504.
func TestDeadline(t *testing.T) {
	f := newFix(t, Config{Timeout: 50 * time.Millisecond}, func(s *Server) { newBlockingCall(s) })
	resp, body := f.do(t, "POST", "/api/v1/infer", inferBody("alice/notes"))
	wantStatus(t, resp, body, http.StatusGatewayTimeout)
}

// TestConcurrentEqualsSerial: many clients at once over two programs get
// each input's serial answer (drafts off), through both APIs.
func TestConcurrentEqualsSerial(t *testing.T) {
	f := newFix(t, Config{}, nil)
	inputs := []string{"my cat sleeps", "the invoice is wrong", "server down", "refund please", "hello", "a b c d"}
	refs := []string{"alice/notes", "alice/triage"}
	want := map[string]string{}
	for _, ref := range refs {
		for _, in := range inputs {
			want[ref+"|"+in] = f.serial(t, ref, in, paw.WithMaxTokens(6)).Output
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range inputs {
				ref, in := refs[(c+i)%2], inputs[(c+i)%len(inputs)]
				var got string
				if c%2 == 0 {
					_, body := f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: ref, Input: in, MaxTokens: 6})
					var r api.InferResponse
					mustJSON(t, body, &r)
					got = r.Output
				} else {
					r := chatReq(ref, in)
					r.MaxTokens = 6
					_, body := f.do(t, "POST", "/v1/chat/completions", r)
					var cr api.ChatResponse
					mustJSON(t, body, &cr)
					got = string(cr.Choices[0].Message.Content)
				}
				if got != want[ref+"|"+in] {
					errs <- fmt.Sprintf("%s %q: %q, serial %q", ref, in, got, want[ref+"|"+in])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// Batching across clients shows in the metrics: more calls than decodes.
	m := f.metrics(t)
	decodes, calls := metricValue(t, m, "paw_engine_decodes_total"), metricValue(t, m, "paw_engine_decode_calls_total")
	if decodes == 0 || calls <= decodes {
		t.Errorf("8 concurrent clients: %v calls over %v decodes, want a mean batch above 1", calls, decodes)
	}
}

// metricValue reads an unlabelled series from a Prometheus text page.
func metricValue(t *testing.T, page, name string) float64 {
	t.Helper()
	for line := range strings.Lines(page) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics", name)
	return 0
}

func (f *fix) metrics(t *testing.T) string {
	t.Helper()
	resp, body := f.do(t, "GET", "/metrics", nil)
	wantStatus(t, resp, body, 200)
	return string(body)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMetrics: /metrics has requests and latency per route, function and
// path, tokens in and out, queue depth and loaded functions; the access log
// has a JSON record per request, without the API key.
func TestMetrics(t *testing.T) {
	var logs syncBuffer
	f := newFix(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, nil)
	resp, body := f.do(t, "POST", "/api/v1/infer", inferBody("alice/notes"))
	wantStatus(t, resp, body, 200)
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &rec); err != nil {
		t.Fatalf("access log %q: %v", logs.String(), err)
	}
	if rec["msg"] != "request" || rec["method"] != "POST" || rec["path"] != "/api/v1/infer" || rec["status"] != 200.0 ||
		rec["function"] != f.textID || rec["answered_by"] != "local" || rec["request_id"] != resp.Header.Get("X-Request-ID") ||
		strings.Contains(logs.String(), "any-key") {
		t.Errorf("access log record %v", rec)
	}
	m := f.metrics(t)
	for _, s := range []string{
		fmt.Sprintf(`paw_requests_total{function="%s",path="local",route="POST /api/v1/infer",status="200"} 1`, f.textID),
		fmt.Sprintf(`paw_request_duration_seconds_count{function="%s",path="local",route="POST /api/v1/infer"} 1`, f.textID),
		fmt.Sprintf(`paw_tokens_total{direction="in",function="%s"}`, f.textID),
		fmt.Sprintf(`paw_tokens_total{direction="out",function="%s"}`, f.textID),
		"paw_queue_depth 0", "paw_functions_loaded 1", "paw_queue_rejected_total 0",
	} {
		if !strings.Contains(m, s) {
			t.Errorf("metrics lack %q", s)
		}
	}
}

// TestLRU: with MaxLoaded 1, loading a second program evicts the first,
// which loads again when asked; preloaded programs are never evicted.
func TestLRU(t *testing.T) {
	f := newFix(t, Config{MaxLoaded: 1}, nil)
	for _, ref := range []string{"alice/notes", "alice/triage", "alice/notes"} {
		resp, body := f.do(t, "POST", "/api/v1/infer", inferBody(ref))
		wantStatus(t, resp, body, 200)
		if n := f.srv.funcs.len(); n != 1 {
			t.Errorf("after %s: %d loaded, want 1", ref, n)
		}
	}
	if l := f.srv.funcs.loaded(); len(l) != 1 || l[0].fn.Name() != f.textID {
		t.Errorf("loaded %v", l)
	}
}

// TestOneLoadPerProgram: a program asked for by id and by slug, in either
// order, is loaded once.
func TestOneLoadPerProgram(t *testing.T) {
	f := newFix(t, Config{}, nil)
	for _, ref := range []string{f.textID, "alice/notes", f.labelsID, "alice/triage", f.labelsID} {
		resp, body := f.do(t, "POST", "/api/v1/infer", inferBody(ref))
		wantStatus(t, resp, body, 200)
	}
	if n := f.srv.funcs.len(); n != 2 {
		t.Errorf("%d functions loaded for 2 programs", n)
	}
}

// TestServeDrains: cancelling Serve's context (SIGTERM in paw serve)
// stops new connections but lets the request in flight finish.
func TestServeDrains(t *testing.T) {
	var b *blockingCall
	f := newFix(t, Config{}, func(s *Server) { b = newBlockingCall(s) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- Serve(ctx, ln, f.srv, 10*time.Second) }()
	status := make(chan int)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/api/v1/infer", "application/json", strings.NewReader(`{"program_id":"alice/notes","input":"hi","max_tokens":4}`))
		if err != nil {
			t.Error(err)
			status <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-b.entered
	cancel()
	time.Sleep(50 * time.Millisecond) // Shutdown has closed the listener
	if _, err := http.Get("http://" + ln.Addr().String() + "/health"); err == nil {
		t.Error("a new request was served during the drain")
	}
	close(b.release)
	if s := <-status; s != 200 {
		t.Errorf("in-flight request: %d", s)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

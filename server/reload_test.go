package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/registry"
)

// TestRegistryReload: the server serves a registry name's live version; a
// promote on the registry reaches new requests without a restart, while a
// call in flight finishes on the version it started on; a retire turns the
// name into an error naming the owner.
func TestRegistryReload(t *testing.T) {
	ctx := context.Background()
	reg, err := registry.Open(ctx, filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // before the server's cleanup waits for the held call
	f := newFix(t, Config{Registry: reg, RegistryPoll: 20 * time.Millisecond}, func(s *Server) {
		call := s.call
		s.call = func(ctx context.Context, fn *paw.Function, input string, opts ...paw.Option) (paw.Result, error) {
			if input == "hold" {
				entered <- struct{}{}
				<-release
			}
			return call(ctx, fn, input, opts...)
		}
	})
	if err := reg.AddFunction(ctx, registry.Function{Name: "triage", Owner: "ops-team"}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{f.textID, f.labelsID} {
		if _, err := reg.AddVersion(ctx, registry.Version{Function: "triage", ProgramID: id}); err != nil {
			t.Fatal(err)
		}
	}
	promote := func(n int) {
		t.Helper()
		if err := reg.Promote(ctx, "triage", n, registry.PromoteOptions{Actor: "test", Force: true, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	infer := func(input string) (int, api.InferResponse, string) {
		t.Helper()
		resp, body := f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: "triage", Input: input, MaxTokens: 2})
		var r api.InferResponse
		json.Unmarshal(body, &r)
		return resp.StatusCode, r, string(body)
	}
	promote(1)
	if status, r, body := infer("hi"); status != 200 || r.ProgramID != f.textID {
		t.Fatalf("triage before the promote: %d %s, want v1's program %s", status, body, f.textID)
	}

	held := make(chan api.InferResponse)
	go func() {
		_, r, _ := infer("hold")
		held <- r
	}()
	<-entered
	promote(2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, r, body := infer("hi")
		if status != 200 {
			t.Fatalf("triage during the switch: %d %s", status, body)
		}
		if r.ProgramID == f.labelsID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("triage still answered by %s 5 s after v2 went live", r.ProgramID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	unblock()
	if r := <-held; r.ProgramID != f.textID {
		t.Errorf("the call in flight during the promote: %+v, want it finished on v1 (%s)", r, f.textID)
	}
	if !strings.Contains(f.metrics(t), `paw_registry_reloads_total{function="triage"} 1`) {
		t.Errorf("metrics do not count the reload:\n%s", f.metrics(t))
	}

	if err := reg.Retire(ctx, "triage", registry.ChangeOptions{Actor: "test", Reason: "replaced"}); err != nil {
		t.Fatal(err)
	}
	for {
		status, _, body := infer("hi")
		if status != 200 {
			if !strings.Contains(body, "ops-team") {
				t.Errorf("a retired function: %d %s, want the owner named", status, body)
			}
			break
		}
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("triage still served after it was retired")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

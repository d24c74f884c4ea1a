package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The subprocess of TestKillDuringPromote runs this package's test binary
// with helperEnv set; TestMain then runs runHelper instead of the tests.
const (
	helperEnv      = "PAW_REGISTRY_TEST_HELPER"
	helperDSNEnv   = "PAW_REGISTRY_TEST_DSN"
	helperReadyEnv = "PAW_REGISTRY_TEST_READY"
)

// runHelper promotes triage@v2 and, inside the transaction, after the live
// version is written and before the change is logged and committed, says
// so in a file and waits to be killed.
func runHelper() int {
	ready := os.Getenv(helperReadyEnv)
	testHook = func(point string) {
		if point != "promote" {
			return
		}
		if err := os.WriteFile(ready, []byte("paused"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		time.Sleep(time.Hour) // a sleep, not select{}: the runtime would call that a deadlock
	}
	ctx := context.Background()
	r, err := Open(ctx, os.Getenv(helperDSNEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	err = r.Promote(ctx, "triage", 2, PromoteOptions{Actor: "killed"})
	fmt.Fprintln(os.Stderr, "promote returned:", err)
	return 3
}

// TestKillDuringPromote: a process killed with SIGKILL inside promote's
// transaction leaves the registry at the old live version with a log that
// does not mention the new one, and the registry works on.
func TestKillDuringPromote(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry, dsn string) {
		ctx := context.Background()
		seed(t, r, "triage", 2, true, true)
		must(t, r.Promote(ctx, "triage", 1, PromoteOptions{Actor: "alice"}))
		gen, err := r.Generation(ctx)
		must(t, err)

		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=promote", helperDSNEnv+"="+dsn, helperReadyEnv+"="+ready)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(60 * time.Second)
		for paused := false; !paused; {
			select {
			case err := <-exited:
				t.Fatalf("helper exited before pausing: %v\n%s", err, stderr.String())
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("helper did not pause\n%s", stderr.String())
			case <-time.After(10 * time.Millisecond):
				_, err := os.Stat(ready)
				paused = err == nil
			}
		}
		// v2 is written inside the paused transaction: nobody sees it.
		if v, err := r.Resolve(ctx, "triage"); err != nil || v.Number != 1 {
			t.Fatalf("during the paused promote: live = %+v, %v", v, err)
		}
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		if err := <-exited; err == nil || !isKilled(err) {
			t.Fatalf("helper: %v", err)
		}

		r2 := open(t, dsn) // as a restarted server would
		if v, err := r2.Resolve(ctx, "triage"); err != nil || v.Number != 1 {
			t.Fatalf("after the kill: live = %+v, %v", v, err)
		}
		es, err := r2.Log(ctx, "triage", 0)
		must(t, err)
		checkChain(t, es)
		if last := es[len(es)-1]; last.To != 1 || last.Actor == "killed" {
			t.Errorf("the killed promote left %+v", last)
		}
		if g, _ := r2.Generation(ctx); g != gen {
			t.Errorf("generation moved from %d to %d", gen, g)
		}
		// Its lock is gone: the same promote goes through now.
		must(t, r2.Promote(ctx, "triage", 2, PromoteOptions{Actor: "alice"}))
		if v, err := r.Resolve(ctx, "triage"); err != nil || v.Number != 2 {
			t.Errorf("after promoting again: live = %+v, %v", v, err)
		}
	})
}

func isKilled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// TestConcurrentPromoteRollback: 8 promoters and rollbackers on one
// function, half through their own connection pool, for two seconds. The
// log is one history that replays to the live version, every successful
// rollback is in it, and a reader only ever sees promoted versions.
func TestConcurrentPromoteRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry, dsn string) {
		ctx := context.Background()
		seed(t, r, "triage", 5, true, true, true, true, false) // v5 fails its gates: never live
		must(t, r.Promote(ctx, "triage", 1, PromoteOptions{Actor: "w"}))
		const workers = 8
		regs := make([]*Registry, workers)
		for i := range regs {
			regs[i] = r
			if i%2 == 1 {
				regs[i] = open(t, dsn)
			}
		}
		deadline := time.Now().Add(2 * time.Second)
		var rollbacks atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers+1)
		for i, reg := range regs {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(i), 14))
				actor := fmt.Sprintf("w%d", i)
				for time.Now().Before(deadline) {
					if rng.IntN(3) == 0 {
						_, err := reg.Rollback(ctx, "triage", ChangeOptions{Actor: actor})
						if err == nil {
							rollbacks.Add(1)
						} else if !errors.Is(err, ErrNoPrevious) {
							errs <- err
							return
						}
						continue
					}
					v := 1 + rng.IntN(5)
					if err := reg.Promote(ctx, "triage", v, PromoteOptions{Actor: actor}); err != nil &&
						!(v == 5 && errors.Is(err, ErrGatesFailed)) {
						errs <- err
						return
					}
				}
			})
		}
		wg.Go(func() {
			for time.Now().Before(deadline) {
				live, err := r.LiveVersions(ctx)
				if err != nil {
					errs <- err
					return
				}
				if v := live["triage"]; v < 1 || v > 4 {
					errs <- fmt.Errorf("reader saw live version %d", v)
					return
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		es, err := r.Log(ctx, "triage", 0)
		must(t, err)
		checkChain(t, es)
		var stack []int
		var n int64
		for _, e := range es {
			switch e.Action {
			case ActionPromote:
				stack = append(stack, e.From)
			case ActionRollback:
				n++
				if len(stack) == 0 || stack[len(stack)-1] != e.To {
					t.Fatalf("rollback %+v is not to the previous live version (stack %v)", e, stack)
				}
				stack = stack[:len(stack)-1]
			case ActionForcePromote:
				t.Fatalf("unforced run logged %+v", e)
			}
		}
		if n != rollbacks.Load() {
			t.Errorf("%d rollbacks succeeded, %d logged", rollbacks.Load(), n)
		}
		v, err := r.Resolve(ctx, "triage")
		must(t, err)
		if last := es[len(es)-1]; v.Number != last.To {
			t.Errorf("live v%d, log ends at v%d", v.Number, last.To)
		}
		if len(es) < 5+5+1+20 {
			t.Errorf("only %d log entries: the workers hardly ran", len(es))
		}
		t.Logf("%d changes, %d rollbacks", len(es), n)
	})
}

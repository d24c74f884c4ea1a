package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fakeQuantizer "quantizes" by writing the type and the source's bytes, and
// counts its calls; fail makes the next call write half a file and fail.
type fakeQuantizer struct {
	calls int
	fail  bool
}

func (q *fakeQuantizer) quantize(_ context.Context, src, dst, typ string) error {
	q.calls++
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if q.fail {
		q.fail = false
		// What a quantizer writing in place would leave: the record must not point at it.
		_ = os.WriteFile(dst+".partial", b[:len(b)/2], 0o644)
		return errors.New("quantizer crashed")
	}
	return os.WriteFile(dst, append([]byte(typ+":"), b...), 0o644)
}

func TestRequantRuntime(t *testing.T) {
	ctx := context.Background()
	model := testModel(t)
	h := newFakeHub(t)
	c := h.client(t.TempDir())
	c.Runtimes = h.addModel(model)
	q := &fakeQuantizer{}
	c.Quantize = q.quantize
	dir := filepath.Join(c.Dir, "models", "test-rt")
	src := filepath.Join(dir, "model.gguf")

	// The source is pulled first; the copy sits next to it and runs use it.
	p, err := c.RequantRuntime(ctx, "test-rt", "Q8_0")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "model.requant-q8_0.gguf"); p != want {
		t.Fatalf("path %s, want %s", p, want)
	}
	if b, _ := os.ReadFile(p); string(b[:5]) != "q8_0:" || len(b) != 5+len(model) {
		t.Errorf("copy holds %q...", b[:min(len(b), 5)])
	}
	for name, f := range map[string]func() (string, error){
		"RuntimePath": func() (string, error) { return c.RuntimePath("test-rt") },
		"PullRuntime": func() (string, error) { return c.PullRuntime(ctx, "test-rt") },
		"Pull":        func() (string, error) { return c.Pull(ctx, "test-rt") },
	} {
		if got, err := f(); err != nil || got != p {
			t.Errorf("%s = %s, %v; want the copy", name, got, err)
		}
	}
	if _, err := c.RequantRuntime(ctx, "test-rt", "q8_0"); err != nil || q.calls != 1 {
		t.Errorf("an up-to-date copy was remade (calls %d, err %v)", q.calls, err)
	}

	// A new base model (another pin): the stale copy is not used offline and is
	// remade by the next pull.
	model2 := append([]byte(nil), model...)
	model2[len(model2)-1] ^= 1
	os.Remove(src)
	c.Runtimes = h.addModel(model2)
	off := *c
	off.Offline, off.Quantize = true, nil
	if _, err := off.RuntimePath("test-rt"); err == nil {
		t.Error("RuntimePath found a runtime whose base model is gone")
	}
	got, err := c.PullRuntime(ctx, "test-rt")
	if err != nil || got != p || q.calls != 2 {
		t.Errorf("after a source change: PullRuntime = %s, %v, quantizer calls %d; want the copy remade", got, err, q.calls)
	}
	if b, _ := os.ReadFile(p); len(b) != 5+len(model2) || b[len(b)-1] != model2[len(model2)-1] {
		t.Error("the remade copy is not of the new base model")
	}

	// A stale copy without a quantizer: runs take the base model.
	c.Runtimes = h.addModel(model)
	os.Remove(src)
	if _, err := off.PullRuntime(ctx, "test-rt"); err == nil {
		t.Fatal("offline pull of a missing base model succeeded")
	}
	noQ := *c
	noQ.Quantize = nil
	if got, err := noQ.PullRuntime(ctx, "test-rt"); err != nil || got != src {
		t.Errorf("stale copy without a quantizer: %s, %v; want the base model %s", got, err, src)
	}

	// "none" drops the copy.
	if got, err := c.RequantRuntime(ctx, "test-rt", RequantNone); err != nil || got != src {
		t.Errorf("none: %s, %v", got, err)
	}
	if fileExists(p) || fileExists(filepath.Join(dir, requantFile)) {
		t.Error("none left the copy or its record")
	}
	if got, err := c.RuntimePath("test-rt"); err != nil || got != src {
		t.Errorf("after none: RuntimePath = %s, %v", got, err)
	}
}

// TestRequantRuntimeFailure: a failed quantization records nothing, so runs
// keep loading the base model; errors for a bad type or no quantizer.
func TestRequantRuntimeFailure(t *testing.T) {
	ctx := context.Background()
	h := newFakeHub(t)
	c := h.client(t.TempDir())
	c.Runtimes = h.addModel(testModel(t))
	src := filepath.Join(c.Dir, "models", "test-rt", "model.gguf")
	if _, err := c.RequantRuntime(ctx, "test-rt", "q8_0"); !errors.Is(err, ErrNoQuantizer) {
		t.Errorf("no quantizer: err = %v", err)
	}
	q := &fakeQuantizer{fail: true}
	c.Quantize = q.quantize
	if _, err := c.RequantRuntime(ctx, "test-rt", "../x"); !errors.Is(err, ErrBadRef) {
		t.Errorf("bad type: err = %v", err)
	}
	if _, err := c.RequantRuntime(ctx, "test-rt", "q8_0"); err == nil {
		t.Fatal("a failed quantization succeeded")
	}
	if fileExists(filepath.Join(filepath.Dir(src), requantFile)) {
		t.Error("a failed quantization was recorded")
	}
	if got, err := c.RuntimePath("test-rt"); err != nil || got != src {
		t.Errorf("after a failure: RuntimePath = %s, %v; want the base model", got, err)
	}
	if _, err := c.RequantRuntime(ctx, "no-such-rt", "q8_0"); err == nil {
		t.Error("requant of an unknown runtime succeeded")
	}
}

// TestRequantProgramRef: requantizing applies to runtimes only.
func TestRequantProgramRef(t *testing.T) {
	c := newFakeHub(t).client(t.TempDir())
	c.Quantize = (&fakeQuantizer{}).quantize
	if _, err := c.RequantRuntime(context.Background(), "someone/triage", "q8_0"); !errors.Is(err, ErrBadRef) {
		t.Errorf("program ref: err = %v, want ErrBadRef", err)
	}
}

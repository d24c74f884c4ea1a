package lora

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/paw-dev/paw/internal/fsutil"
	"github.com/paw-dev/paw/internal/llama"
)

// DefaultCheckpointEvery is how many steps pass between checkpoints.
const DefaultCheckpointEvery = 20

// checkpointFile is the checkpoint's name inside its compile's directory.
const checkpointFile = "checkpoint.gob"

// checkpointPath is where the compile with key keeps its checkpoint under
// dir: one directory per compile, so that compiles in parallel keep theirs.
func checkpointPath(dir, key string) string { return filepath.Join(dir, key[:24], checkpointFile) }

// checkpoint is a compile's state after Step steps: enough to continue it
// as if it had never stopped.
type checkpoint struct {
	Key      string // runKey of the compile that wrote it
	Step     int
	Weights  [][]float32
	M, V     [][]float32
	AdamStep int64
	Losses   []float64
	Curve    []EpochLoss
	Tokens   int
	Elapsed  time.Duration
	BaseAcc  float64
}

// runKey identifies a compile: the base model, the template, the data and
// every option that changes the result. A checkpoint is resumed only by a
// compile with the same key.
func runKey(o Options, examples, heldOut []Example) (string, error) {
	st, err := os.Stat(o.Base)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBase, err)
	}
	h := sha256.New()
	_ = json.NewEncoder(h).Encode([]any{o.Base, st.Size(), st.ModTime().UnixNano(), o.Template, o.Rank, o.Alpha, o.Targets,
		o.Epochs, o.LR, o.BatchSize, o.Clip, o.Seed, dataHash(examples), dataHash(heldOut)})
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loadCheckpoint returns the checkpoint in dir written under key, or nil
// when there is none or it belongs to another compile.
func loadCheckpoint(dir, key string) (*checkpoint, error) {
	if dir == "" {
		return nil, nil
	}
	b, err := os.ReadFile(checkpointPath(dir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var c checkpoint
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if c.Key != key {
		return nil, nil
	}
	return &c, nil
}

// save writes the checkpoint atomically: a reader (or a resumed compile
// after a crash) sees the previous one or this one, never a mix.
func (c *checkpoint) save(dir string) error {
	return fsutil.WriteAtomic(checkpointPath(dir, c.Key), 0o644, func(w io.Writer) error {
		return gob.NewEncoder(w).Encode(c)
	})
}

// restore loads the checkpoint's weights into tr and its moments into a.
func (c *checkpoint) restore(tr *llama.Trainer, a *adam) error {
	if len(c.Weights) != len(a.m) || len(c.M) != len(a.m) || len(c.V) != len(a.v) {
		return fmt.Errorf("checkpoint: %d tensors, the trainer has %d", len(c.Weights), len(a.m))
	}
	for i, w := range c.Weights {
		if err := tr.SetWeights(i, w); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if len(c.M[i]) != len(a.m[i]) || len(c.V[i]) != len(a.v[i]) {
			return fmt.Errorf("checkpoint: tensor %d has the wrong size", i)
		}
		copy(a.m[i], c.M[i])
		copy(a.v[i], c.V[i])
	}
	a.step = c.AdamStep
	return nil
}

// capture fills the checkpoint's tensors from tr and a.
func (c *checkpoint) capture(tr *llama.Trainer, a *adam) {
	c.Weights = c.Weights[:0]
	for i := range a.m {
		c.Weights = append(c.Weights, tr.Weights(i))
	}
	c.M, c.V, c.AdamStep = a.m, a.v, a.step
}

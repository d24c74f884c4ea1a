package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// lockPoll is how often a blocked lock is retried.
const lockPoll = 50 * time.Millisecond

// lock takes the cross-process lock named name under root/locks, waiting
// (and reporting EventWait once) while another process or goroutine holds
// it. Lock files are never deleted: deleting one would let two holders lock
// different inodes.
func (c *Client) lock(ctx context.Context, root, name, item string) (unlock func(), err error) {
	dir := filepath.Join(root, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	waited := false
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if ok {
			return func() { unlockFile(f); f.Close() }, nil
		}
		if !waited {
			waited = true
			c.trace(Event{Kind: EventWait, Item: item})
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

package server

import "sync"

// queue is admission control: at most max inference inputs admitted at
// once, running or waiting for the engine (which batches the running ones).
// A request that does not fit is refused at once, never made to wait.
type queue struct {
	mu  sync.Mutex
	n   int
	max int
}

func newQueue(max int) *queue { return &queue{max: max} }

// admit takes k places, or returns ErrQueueFull; release gives them back.
func (q *queue) admit(k int) (release func(), err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n+k > q.max {
		return nil, ErrQueueFull
	}
	q.n += k
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			q.n -= k
			q.mu.Unlock()
		})
	}, nil
}

// len is how many places are taken.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

package server

import (
	"context"
	"errors"
	"sync"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/eval"
)

// Defaults of the shadow pool.
const (
	DefaultShadowWorkers = 2
	DefaultShadowQueue   = 64
)

// Shadow outcomes, as the paw_shadow_total metric labels them.
const (
	shadowAgree    = "agree"
	shadowDisagree = "disagree" // an invalid local answer disagrees too
	shadowError    = "error"    // the local call failed otherwise
	shadowDropped  = "dropped"  // the queue was full
)

// shadowJob is one local call to compare with the upstream's answer.
type shadowJob struct {
	ref   string // the program id
	name  string // the reference the request named (a registry name, for its stats)
	input string
	opts  []paw.Option
	want  string // what the upstream answered
}

// shadowPool runs shadow calls off the request path: a bounded queue and a
// few workers; a job that does not fit is dropped and counted, so shadow
// traffic never slows or blocks the requests it copies.
type shadowPool struct {
	jobs chan shadowJob
	wg   sync.WaitGroup
	run  func(shadowJob) string // runs a job, returns its outcome
	note func(j shadowJob, outcome string)
}

func newShadowPool(ctx context.Context, workers, queue int, run func(shadowJob) string, note func(j shadowJob, outcome string)) *shadowPool {
	p := &shadowPool{jobs: make(chan shadowJob, queue), run: run, note: note}
	for range workers {
		p.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-p.jobs:
					p.note(j, p.run(j))
				}
			}
		})
	}
	return p
}

// submit queues j, or drops it when the queue is full.
func (p *shadowPool) submit(j shadowJob) {
	select {
	case p.jobs <- j:
	default:
		p.note(j, shadowDropped)
	}
}

// wait waits for the workers, once their context is done.
func (p *shadowPool) wait() { p.wg.Wait() }

// runShadow runs one shadow job on the program and compares its answer
// with the upstream's.
func (s *Server) runShadow(j shadowJob) string {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	fn, done, err := s.funcs.get(ctx, s.ctx, j.ref, false)
	if err != nil {
		s.log.Warn("shadow call failed", "function", j.ref, "err", err)
		return shadowError
	}
	defer done()
	res, err := s.call(ctx, fn, j.input, j.opts...)
	switch {
	case errors.Is(err, paw.ErrNoValidOutput):
		return shadowDisagree
	case err != nil:
		s.log.Warn("shadow call failed", "function", j.ref, "err", err)
		return shadowError
	case eval.Agree(res.Output, j.want):
		return shadowAgree
	}
	return shadowDisagree
}

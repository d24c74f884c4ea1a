package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/paw-dev/paw/registry"
)

// DefaultStatsFlush is how often the server writes what it counted of each
// registry function's versions (calls, fallbacks, shadow agreement) to the
// registry, for paw fn show; it writes the rest on Close.
const DefaultStatsFlush = 5 * time.Second

// statKey is a registry function and the program serving it.
type statKey struct{ name, program string }

// stats counts, in memory, what requests for registry names did; flush
// adds the counts to the registry. Only names the registry knows are kept.
type stats struct {
	mu     sync.Mutex
	counts map[statKey]*registry.ServeStats
}

// add counts an event for the function ref names, served by program; refs
// that are not registry names (program ids, slugs, paths) are left out at
// flush.
func (st *stats) add(ref, program string, f func(*registry.ServeStats)) {
	name, _, err := registry.ParseRef(ref)
	if err != nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	k := statKey{name, program}
	if st.counts[k] == nil {
		st.counts[k] = &registry.ServeStats{}
	}
	f(st.counts[k])
}

// count counts an event for a registry's function (see stats.add); the
// server without a registry counts nothing.
func (s *Server) count(ref, program string, f func(*registry.ServeStats)) {
	if s.cfg.Registry != nil {
		s.stats.add(ref, program, f)
	}
}

func (st *stats) take() map[statKey]*registry.ServeStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.counts
	st.counts = map[statKey]*registry.ServeStats{}
	return c
}

// putBack re-adds counts a failed flush did not write.
func (st *stats) putBack(c map[statKey]*registry.ServeStats) {
	for k, v := range c {
		st.add(k.name, k.program, func(s *registry.ServeStats) {
			s.Calls += v.Calls
			s.Fallbacks += v.Fallbacks
			s.ShadowCompared += v.ShadowCompared
			s.ShadowAgreed += v.ShadowAgreed
		})
	}
}

// flushStats writes the counts to the registry, each under the version its
// program is of; counts the registry cannot place (not a registered name,
// or a program that is none of its versions) are dropped, and a write that
// fails is retried at the next flush.
func (s *Server) flushStats(ctx context.Context) {
	counts := s.stats.take()
	if len(counts) == 0 {
		return
	}
	versions := map[string]map[string]int{} // name → program id → version
	var deltas []registry.StatsDelta
	placed := map[statKey]*registry.ServeStats{}
	for k, c := range counts {
		byProgram, ok := versions[k.name]
		if !ok {
			byProgram = map[string]int{}
			d, err := s.cfg.Registry.Show(ctx, k.name)
			switch {
			case errors.Is(err, registry.ErrNotFound):
			case err != nil:
				s.log.Warn("serve stats: read the registry", "function", k.name, "err", err)
				s.stats.putBack(map[statKey]*registry.ServeStats{k: c})
				continue // this name's other counts fail the same way, or succeed
			}
			for _, v := range d.Versions {
				byProgram[v.ProgramID] = v.Number
			}
			versions[k.name] = byProgram
		}
		if v, ok := byProgram[k.program]; ok {
			deltas = append(deltas, registry.StatsDelta{Function: k.name, Version: v, ServeStats: *c})
			placed[k] = c
		}
	}
	if err := s.cfg.Registry.AddServeStats(ctx, deltas); err != nil {
		s.log.Warn("serve stats: write the registry", "err", err)
		s.stats.putBack(placed)
	}
}

// writeStats flushes the counts every StatsFlush until the server closes.
func (s *Server) writeStats() {
	defer close(s.statsDone)
	t := time.NewTicker(s.cfg.StatsFlush)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.flushStats(s.ctx)
		}
	}
}

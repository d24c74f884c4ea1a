package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/paw-dev/paw"
	"github.com/paw-dev/paw/registry"
)

// DefaultRegistryPoll is how often the server asks the registry whether
// anything changed (one indexed row read).
const DefaultRegistryPoll = 2 * time.Second

// watchRegistry keeps the loaded functions in step with the registry: when
// its generation moves (a promote, rollback or retire anywhere), every
// loaded function served under a registry name is checked against that
// name's live version, and one that no longer matches is dropped — new
// requests load the live version, while calls in flight finish on the
// version they started on (a dropped function closes when its last call
// returns).
func (s *Server) watchRegistry() {
	defer close(s.watched)
	reg := s.cfg.Registry
	seen := int64(-1)
	t := time.NewTicker(s.cfg.RegistryPoll)
	defer t.Stop()
	for {
		gen, err := reg.Generation(s.ctx)
		switch {
		case err != nil:
			if s.ctx.Err() == nil {
				s.log.Warn("registry poll", "err", err)
			}
		case gen != seen:
			seen = gen
			s.syncRegistry(s.ctx, reg)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncRegistry drops the loaded functions whose registry name now resolves
// to another program (or to none: retired, no live version).
func (s *Server) syncRegistry(ctx context.Context, reg *registry.Registry) {
	for _, ref := range s.funcs.names() {
		if strings.Contains(ref, "@") { // name@vN names one version for good
			continue
		}
		if _, _, err := registry.ParseRef(ref); err != nil {
			continue // a program id, slug or path: not the registry's
		}
		dropped, pinned := s.funcs.stale(ref, func(fn *paw.Function) bool {
			v, err := reg.Resolve(ctx, ref)
			switch {
			case errors.Is(err, registry.ErrNotFound):
				return true // not a registered name
			case err != nil:
				var retired *registry.RetiredError
				// Keep serving through a transient error; drop on a definite answer.
				return !errors.As(err, &retired) && !errors.Is(err, registry.ErrNoLive)
			}
			return fn.Program() != nil && fn.Program().Meta.ProgramID == v.ProgramID
		})
		if !dropped {
			continue
		}
		s.metrics.reloaded(ref)
		s.log.Info("registry: live version changed", "function", ref)
		if pinned {
			go func() {
				if err := s.funcs.pin(s.ctx, ref); err != nil && s.ctx.Err() == nil {
					s.log.Warn("registry: reload", "function", ref, "err", err)
				}
			}()
		}
	}
}

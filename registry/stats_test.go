package registry

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestServeStats: servers' counts add up per version, from concurrent
// writers and across registries opened on one database; a delta for an
// unknown version fails its whole batch; stats move no generation; Show
// carries them and the rates follow.
func TestServeStats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry, dsn string) {
		ctx := context.Background()
		seed(t, r, "triage", 2, true)
		g0, err := r.Generation(ctx)
		must(t, err)
		other := open(t, dsn) // a second server on the same registry
		var wg sync.WaitGroup
		for i := range 8 {
			reg := r
			if i%2 == 1 {
				reg = other
			}
			wg.Go(func() {
				if err := reg.AddServeStats(ctx, []StatsDelta{
					{Function: "triage", Version: 1, ServeStats: ServeStats{Calls: 10, Fallbacks: 1, ShadowCompared: 4, ShadowAgreed: 3}},
				}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		wantErr(t, r.AddServeStats(ctx, []StatsDelta{
			{Function: "triage", Version: 2, ServeStats: ServeStats{Calls: 5}},
			{Function: "triage", Version: 9, ServeStats: ServeStats{Calls: 5}},
		}), ErrNotFound)
		if g, _ := r.Generation(ctx); g != g0 {
			t.Errorf("generation %d, want %d: stats are not changes", g, g0)
		}
		d, err := r.Show(ctx, "triage")
		must(t, err)
		want := &ServeStats{Calls: 80, Fallbacks: 8, ShadowCompared: 32, ShadowAgreed: 24, FallbackRate: 0.1, AgreementRate: 0.75}
		if diff := cmp.Diff(want, d.Versions[0].Serve, cmpopts.IgnoreFields(ServeStats{}, "Updated")); diff != "" {
			t.Errorf("v1 stats (-want +got):\n%s", diff)
		}
		if d.Versions[1].Serve != nil {
			t.Errorf("v2 stats %+v: its failed batch must add nothing", d.Versions[1].Serve)
		}
		if d.Versions[0].Serve.Updated.IsZero() {
			t.Error("stats without an update time")
		}
	})
}

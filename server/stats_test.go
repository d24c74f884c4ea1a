package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/paw-dev/paw/api"
	"github.com/paw-dev/paw/registry"
)

// TestRegistryServeStats: requests for registry names are counted per
// version (calls, fallbacks, shadow comparisons and agreements) and
// written to the registry every StatsFlush, and on Close; requests by
// program id are not a registry function's.
func TestRegistryServeStats(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flush time.Duration
	}{{"periodic", 20 * time.Millisecond}, {"on close", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			reg, err := registry.Open(ctx, filepath.Join(t.TempDir(), "registry.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			up := newFakeUpstream(t, func(in string) string {
				if in == "p=0.2" {
					return "technical"
				}
				return "billing"
			})
			routes := map[string]Route{
				"triage":  {Mode: RouteFallback, Threshold: ptr(0.8), Upstream: up.client(5 * time.Second)},
				"shadowy": {Mode: RouteShadow, Upstream: up.client(5 * time.Second)},
			}
			f := newFix(t, Config{Registry: reg, Routes: routes, StatsFlush: tc.flush}, labelCall)
			for _, name := range []string{"triage", "shadowy"} {
				if err := reg.AddFunction(ctx, registry.Function{Name: name, Owner: "ops"}, "test"); err != nil {
					t.Fatal(err)
				}
				for _, id := range []string{f.textID, f.labelsID} {
					if _, err := reg.AddVersion(ctx, registry.Version{Function: name, ProgramID: id}); err != nil {
						t.Fatal(err)
					}
				}
				if err := reg.Promote(ctx, name, 2, registry.PromoteOptions{Actor: "test", Force: true, Reason: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []struct{ ref, input string }{
				{"triage", "p=0.95"}, {"triage", "p=0.55"}, {"triage", "broken"}, {"triage", "p=0.9"},
				{"shadowy", "p=0.9"}, {"shadowy", "p=0.2"}, {"shadowy", "p=0.7"},
				{f.labelsID, "p=0.1"}, // by program id: no function's
			} {
				resp, body := f.do(t, "POST", "/api/v1/infer", api.InferRequest{ProgramID: r.ref, Input: r.input})
				wantStatus(t, resp, body, 200)
			}
			want := map[string]*registry.ServeStats{
				"triage":  {Calls: 4, Fallbacks: 2, FallbackRate: 0.5},
				"shadowy": {Calls: 3, ShadowCompared: 3, ShadowAgreed: 2, AgreementRate: 2.0 / 3},
			}
			if tc.flush == time.Hour {
				f.wantMetrics(t, `paw_shadow_total{function="`+f.labelsID+`",result="disagree"} 1`) // the shadow calls ran
				f.ts.Close()
				f.srv.Close()
			}
			for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
				got := map[string]*registry.ServeStats{}
				for name := range want {
					d, err := reg.Show(ctx, name)
					if err != nil {
						t.Fatal(err)
					}
					if d.Versions[0].Serve != nil {
						t.Errorf("%s v1 (not served) has stats %+v", name, d.Versions[0].Serve)
					}
					got[name] = d.Versions[1].Serve
				}
				diff := cmp.Diff(want, got, cmpopts.IgnoreFields(registry.ServeStats{}, "Updated"), cmpopts.EquateApprox(0, 1e-9))
				if diff == "" {
					break
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("registry stats (-want +got):\n%s", diff)
				}
			}
		})
	}
}

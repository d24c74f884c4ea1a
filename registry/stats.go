package registry

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ServeStats is what servers saw of a version: the calls they answered, how
// many fell back to the upstream model, and how many shadow comparisons
// they made and how many of those agreed. The rates are set on reads:
// FallbackRate is Fallbacks/Calls, AgreementRate ShadowAgreed/ShadowCompared
// (0 when nothing was counted).
type ServeStats struct {
	Calls          int64     `json:"calls"`
	Fallbacks      int64     `json:"fallbacks"`
	ShadowCompared int64     `json:"shadow_compared"`
	ShadowAgreed   int64     `json:"shadow_agreed"`
	FallbackRate   float64   `json:"fallback_rate"`
	AgreementRate  float64   `json:"agreement_rate"`
	Updated        time.Time `json:"updated,omitzero"`
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// StatsDelta is what to add to one version's ServeStats (the counts only).
type StatsDelta struct {
	Function string
	Version  int
	ServeStats
}

// AddServeStats adds the deltas to their versions' stats, all in one
// transaction; a delta for a version not registered fails them all with
// ErrNotFound.
func (r *Registry) AddServeStats(ctx context.Context, deltas []StatsDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	err := r.write(ctx, func(w *writer) error {
		t := now()
		for _, d := range deltas {
			var n int
			if err := w.tx.QueryRowContext(w.ctx, "SELECT COUNT(*) FROM versions WHERE function = $1 AND number = $2",
				d.Function, d.Version).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%s@v%d: %w", d.Function, d.Version, ErrNotFound)
			}
			if _, err := w.exec(`INSERT INTO serve_stats (function, version, calls, fallbacks, shadow_compared, shadow_agreed, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (function, version) DO UPDATE SET calls = serve_stats.calls + excluded.calls,
					fallbacks = serve_stats.fallbacks + excluded.fallbacks,
					shadow_compared = serve_stats.shadow_compared + excluded.shadow_compared,
					shadow_agreed = serve_stats.shadow_agreed + excluded.shadow_agreed, updated_at = excluded.updated_at`,
				d.Function, d.Version, d.Calls, d.Fallbacks, d.ShadowCompared, d.ShadowAgreed, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add serve stats: %w", err)
	}
	return nil
}

// serveStats reads the stats of name's versions, by number.
func serveStats(ctx context.Context, tx *sql.Tx, name string) (map[int]*ServeStats, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version, calls, fallbacks, shadow_compared, shadow_agreed, updated_at
		FROM serve_stats WHERE function = $1`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]*ServeStats{}
	for rows.Next() {
		var v int
		var s ServeStats
		var at int64
		if err := rows.Scan(&v, &s.Calls, &s.Fallbacks, &s.ShadowCompared, &s.ShadowAgreed, &at); err != nil {
			return nil, err
		}
		s.Updated = fromMicros(at)
		s.FallbackRate, s.AgreementRate = ratio(s.Fallbacks, s.Calls), ratio(s.ShadowAgreed, s.ShadowCompared)
		out[v] = &s
	}
	return out, rows.Err()
}

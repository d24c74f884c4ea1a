package registry

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// read runs fn in one read-only transaction: its queries see one snapshot.
func (r *Registry) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := r.db.BeginTx(ctx, r.d.readTx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Resolve returns the version a ref names: "name" is the live version,
// "name@vN" version N. A retired function returns a *RetiredError.
func (r *Registry) Resolve(ctx context.Context, ref string) (Version, error) {
	name, number, err := ParseRef(ref)
	if err != nil {
		return Version{}, err
	}
	var v Version
	err = r.read(ctx, func(tx *sql.Tx) error {
		s, err := queryState(ctx, tx, name)
		if err != nil {
			return err
		}
		if s.retired {
			return &RetiredError{Function: name, Owner: s.owner}
		}
		if number == 0 {
			if number = s.live; number == 0 {
				return ErrNoLive
			}
		}
		vs, err := queryVersions(ctx, tx, "WHERE function = $1 AND number = $2", name, number)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return fmt.Errorf("version v%d: %w", number, ErrNotFound)
		}
		v = vs[0]
		return nil
	})
	if err != nil {
		return Version{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return v, nil
}

// List returns every function by name, marking those past their expiry.
func (r *Registry) List(ctx context.Context) ([]Function, error) {
	var fs []Function
	err := r.read(ctx, func(tx *sql.Tx) error {
		var err error
		fs, err = queryFunctions(ctx, tx, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	return fs, nil
}

// Show returns a function with its versions.
func (r *Registry) Show(ctx context.Context, name string) (Detail, error) {
	var d Detail
	err := r.read(ctx, func(tx *sql.Tx) error {
		fs, err := queryFunctions(ctx, tx, "WHERE f.name = $1", name)
		if err != nil {
			return err
		}
		if len(fs) == 0 {
			return fmt.Errorf("function %q: %w", name, ErrNotFound)
		}
		d.Function = fs[0]
		if d.Versions, err = queryVersions(ctx, tx, "WHERE function = $1", name); err != nil {
			return err
		}
		stats, err := serveStats(ctx, tx, name)
		for i := range d.Versions {
			d.Versions[i].Serve = stats[d.Versions[i].Number]
		}
		return err
	})
	if err != nil {
		return Detail{}, fmt.Errorf("show %s: %w", name, err)
	}
	return d, nil
}

// Log returns the audit log, oldest first: of one function, or of all when
// name is empty; limit > 0 keeps only the last limit entries.
func (r *Registry) Log(ctx context.Context, name string, limit int) ([]Entry, error) {
	q := `SELECT id, function, actor, action, version, from_live, to_live, reason, at FROM audit
		WHERE function = $1 OR $1 = '' ORDER BY id DESC`
	args := []any{name}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var es []Entry
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &e.Function, &e.Actor, &e.Action, &e.Version, &e.From, &e.To, &e.Reason, &at); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.At = fromMicros(at)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es, nil
}

// Generation counts the registry's changes: a server polls it, cheaply, and
// reloads what it serves (LiveVersions, Resolve) only when it moved.
func (r *Registry) Generation(ctx context.Context) (int64, error) {
	var g int64
	if err := r.db.QueryRowContext(ctx, "SELECT generation FROM registry_state WHERE id = 1").Scan(&g); err != nil {
		return 0, fmt.Errorf("registry generation: %w", err)
	}
	return g, nil
}

// LiveVersions returns the live version of every function that has one and
// is not retired, by name.
func (r *Registry) LiveVersions(ctx context.Context) (map[string]int, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT f.name, l.version FROM functions f JOIN live l ON l.function = f.name
		WHERE NOT f.retired`)
	if err != nil {
		return nil, fmt.Errorf("live versions: %w", err)
	}
	defer rows.Close()
	live := map[string]int{}
	for rows.Next() {
		var name string
		var v int
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("live versions: %w", err)
		}
		live[name] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("live versions: %w", err)
	}
	return live, nil
}

func queryFunctions(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]Function, error) {
	rows, err := tx.QueryContext(ctx, `SELECT f.name, f.owner, f.scope, f.expires, f.retire_when, f.cases_path,
		f.cases_hash, f.gates, f.retired, COALESCE(l.version, 0), f.created_at, f.updated_at
		FROM functions f LEFT JOIN live l ON l.function = f.name `+where+` ORDER BY f.name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fs []Function
	t := time.Now()
	for rows.Next() {
		var f Function
		var expires, created, updated int64
		var gates string
		if err := rows.Scan(&f.Name, &f.Owner, &f.Scope, &expires, &f.RetireWhen, &f.CasesPath, &f.CasesHash, &gates,
			&f.Retired, &f.Live, &created, &updated); err != nil {
			return nil, err
		}
		f.Expires, f.Created, f.Updated = fromMicros(expires), fromMicros(created), fromMicros(updated)
		f.Expired = !f.Expires.IsZero() && f.Expires.Before(t)
		if gates != "" {
			f.Gates = []byte(gates)
		}
		fs = append(fs, f)
	}
	return fs, rows.Err()
}

func queryVersions(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]Version, error) {
	rows, err := tx.QueryContext(ctx, `SELECT function, number, program_id, adapter_sha256, compiler_snapshot,
		spec_hash, built_at, created_at, created_by, test_result, test_passed, tested_at FROM versions `+where+
		` ORDER BY number`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []Version
	for rows.Next() {
		var v Version
		var built, created int64
		var result sql.NullString
		var passed sql.NullBool
		var tested sql.NullInt64
		if err := rows.Scan(&v.Function, &v.Number, &v.ProgramID, &v.AdapterSHA256, &v.CompilerSnapshot, &v.SpecHash,
			&built, &created, &v.CreatedBy, &result, &passed, &tested); err != nil {
			return nil, err
		}
		v.BuiltAt, v.Created = fromMicros(built), fromMicros(created)
		if passed.Valid {
			v.Test = &TestResult{Passed: passed.Bool, At: fromMicros(tested.Int64)}
			if result.String != "" {
				v.Test.Result = []byte(result.String)
			}
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

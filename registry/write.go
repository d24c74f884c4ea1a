package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// testHook, set only by this package's tests, is called inside write
// transactions at the named point, so that a test can kill the process
// there.
var testHook func(point string)

// writer is one write transaction; every change goes through one.
type writer struct {
	ctx context.Context
	tx  *sql.Tx
}

// write runs fn in one transaction and commits it if fn succeeds. The
// transaction first locks registry_state's row, so writers serialize on
// PostgreSQL as they do on SQLite (BEGIN IMMEDIATE): a change reads the
// state that the previous one committed, and two promotes of one function
// can never interleave.
func (r *Registry) write(ctx context.Context, fn func(w *writer) error) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "UPDATE registry_state SET generation = generation WHERE id = 1"); err != nil {
		return fmt.Errorf("lock registry: %w", err)
	}
	if err := fn(&writer{ctx, tx}); err != nil {
		return err
	}
	return tx.Commit()
}

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	return w.tx.ExecContext(w.ctx, query, args...)
}

// fnState is what a change needs to know of a function.
type fnState struct {
	owner   string
	retired bool
	live    int
}

func (w *writer) function(name string) (fnState, error) {
	return queryState(w.ctx, w.tx, name)
}

// serving reads a function that is not retired: a retired one is a
// *RetiredError.
func (w *writer) serving(name string) (fnState, error) {
	s, err := w.function(name)
	if err == nil && s.retired {
		err = &RetiredError{Function: name, Owner: s.owner}
	}
	return s, err
}

// queryState reads a function's owner, retirement and live version.
func queryState(ctx context.Context, tx *sql.Tx, name string) (fnState, error) {
	var s fnState
	err := tx.QueryRowContext(ctx, `SELECT f.owner, f.retired, COALESCE(l.version, 0)
		FROM functions f LEFT JOIN live l ON l.function = f.name WHERE f.name = $1`, name).
		Scan(&s.owner, &s.retired, &s.live)
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	return s, err
}

// log appends e to the audit log under the next generation number.
func (w *writer) log(e Entry) error {
	var id int64
	if err := w.tx.QueryRowContext(w.ctx,
		"UPDATE registry_state SET generation = generation + 1 WHERE id = 1 RETURNING generation").Scan(&id); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	_, err := w.exec(`INSERT INTO audit (id, function, actor, action, version, from_live, to_live, reason, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		id, e.Function, e.Actor, e.Action, e.Version, e.From, e.To, e.Reason, now())
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func (w *writer) setLive(name string, version int) error {
	_, err := w.exec(`INSERT INTO live (function, version) VALUES ($1, $2)
		ON CONFLICT (function) DO UPDATE SET version = excluded.version`, name, version)
	return err
}

// checkFunction validates what AddFunction and UpdateFunction store.
func checkFunction(f *Function) error {
	if err := checkName(f.Name); err != nil {
		return err
	}
	if len(f.Gates) > 0 && !json.Valid(f.Gates) {
		return fmt.Errorf("%w: gates of %q are not JSON", ErrInvalid, f.Name)
	}
	return nil
}

// AddFunction registers a new function; ErrExists if the name is taken.
func (r *Registry) AddFunction(ctx context.Context, f Function, actor string) error {
	if err := checkFunction(&f); err != nil {
		return err
	}
	err := r.write(ctx, func(w *writer) error { return w.addFunction(f, actor) })
	if err != nil {
		return fmt.Errorf("add function %s: %w", f.Name, err)
	}
	return nil
}

func (w *writer) addFunction(f Function, actor string) error {
	if _, err := w.function(f.Name); err == nil {
		return fmt.Errorf("function %q: %w", f.Name, ErrExists)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	at := now()
	_, err := w.exec(`INSERT INTO functions (name, owner, scope, expires, retire_when, cases_path, cases_hash, gates,
		retired, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
		f.Name, f.Owner, f.Scope, toMicros(f.Expires), f.RetireWhen, f.CasesPath, f.CasesHash, string(f.Gates), false, at)
	if err != nil {
		return err
	}
	return w.log(Entry{Function: f.Name, Actor: actor, Action: ActionAdd})
}

// UpdateFunction replaces a function's owner, scope, expiry, retirement
// criteria, cases and gates with f's.
func (r *Registry) UpdateFunction(ctx context.Context, f Function, actor string) error {
	if err := checkFunction(&f); err != nil {
		return err
	}
	err := r.write(ctx, func(w *writer) error {
		s, err := w.function(f.Name)
		if err != nil {
			return err
		}
		_, err = w.exec(`UPDATE functions SET owner = $2, scope = $3, expires = $4, retire_when = $5, cases_path = $6,
			cases_hash = $7, gates = $8, updated_at = $9 WHERE name = $1`,
			f.Name, f.Owner, f.Scope, toMicros(f.Expires), f.RetireWhen, f.CasesPath, f.CasesHash, string(f.Gates), now())
		if err != nil {
			return err
		}
		return w.log(Entry{Function: f.Name, Actor: actor, Action: ActionUpdate, From: s.live, To: s.live})
	})
	if err != nil {
		return fmt.Errorf("update function %s: %w", f.Name, err)
	}
	return nil
}

// AddVersion registers a build of v.Function as its next version and
// returns it numbered. v.CreatedBy is the actor.
func (r *Registry) AddVersion(ctx context.Context, v Version) (Version, error) {
	err := r.write(ctx, func(w *writer) error {
		var err error
		v, err = w.addVersion(v)
		return err
	})
	if err != nil {
		return Version{}, fmt.Errorf("add version of %s: %w", v.Function, err)
	}
	return v, nil
}

func (w *writer) addVersion(v Version) (Version, error) {
	if v.ProgramID == "" {
		return v, fmt.Errorf("%w: version without a program id", ErrInvalid)
	}
	s, err := w.function(v.Function)
	if err != nil {
		return v, err
	}
	if err := w.tx.QueryRowContext(w.ctx, "SELECT COALESCE(MAX(number), 0) + 1 FROM versions WHERE function = $1",
		v.Function).Scan(&v.Number); err != nil {
		return v, err
	}
	at := now()
	v.Created, v.Test = fromMicros(at), nil
	_, err = w.exec(`INSERT INTO versions (function, number, program_id, adapter_sha256, compiler_snapshot, spec_hash,
		built_at, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		v.Function, v.Number, v.ProgramID, v.AdapterSHA256, v.CompilerSnapshot, v.SpecHash, toMicros(v.BuiltAt), at, v.CreatedBy)
	if err != nil {
		return v, err
	}
	return v, w.log(Entry{Function: v.Function, Actor: v.CreatedBy, Action: ActionVersion, Version: v.Number,
		From: s.live, To: s.live})
}

// RecordTest stores the result of testing a version against its function's
// gates, replacing the previous one; passed is the gates' verdict.
func (r *Registry) RecordTest(ctx context.Context, name string, version int, result json.RawMessage, passed bool, actor string) error {
	if len(result) > 0 && !json.Valid(result) {
		return fmt.Errorf("%w: test result of %s@v%d is not JSON", ErrInvalid, name, version)
	}
	err := r.write(ctx, func(w *writer) error {
		s, err := w.function(name)
		if err != nil {
			return err
		}
		res, err := w.exec(`UPDATE versions SET test_result = $3, test_passed = $4, tested_at = $5
			WHERE function = $1 AND number = $2`, name, version, string(result), passed, now())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("version v%d: %w", version, ErrNotFound)
		}
		verdict := "passed its gates"
		if !passed {
			verdict = "failed its gates"
		}
		return w.log(Entry{Function: name, Actor: actor, Action: ActionTest, Version: version,
			From: s.live, To: s.live, Reason: verdict})
	})
	if err != nil {
		return fmt.Errorf("record test of %s@v%d: %w", name, version, err)
	}
	return nil
}

// Promote makes version the live one. It refuses a version that has no
// test result (ErrUntested) or whose last test failed its gates
// (ErrGatesFailed) unless opts.Force, which needs opts.Reason. Promoting
// the live version changes nothing.
func (r *Registry) Promote(ctx context.Context, name string, version int, opts PromoteOptions) error {
	if opts.Force && opts.Reason == "" {
		return fmt.Errorf("promote %s@v%d: %w", name, version, ErrReasonRequired)
	}
	err := r.write(ctx, func(w *writer) error {
		s, err := w.serving(name)
		if err != nil {
			return err
		}
		var passed sql.NullBool
		err = w.tx.QueryRowContext(w.ctx, "SELECT test_passed FROM versions WHERE function = $1 AND number = $2",
			name, version).Scan(&passed)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("version v%d: %w", version, ErrNotFound)
		}
		if err != nil {
			return err
		}
		action := ActionPromote
		if !passed.Bool {
			if !opts.Force {
				if !passed.Valid {
					return ErrUntested
				}
				return ErrGatesFailed
			}
			action = ActionForcePromote
		}
		if s.live == version {
			return nil
		}
		if err := w.setLive(name, version); err != nil {
			return err
		}
		if testHook != nil {
			testHook("promote")
		}
		return w.log(Entry{Function: name, Actor: opts.Actor, Action: action, Version: version,
			From: s.live, To: version, Reason: opts.Reason})
	})
	if err != nil {
		return fmt.Errorf("promote %s@v%d: %w", name, version, err)
	}
	return nil
}

// Rollback makes the version that was live before the current one live
// again and returns it. Rollbacks walk back through the promotions: after
// v1, v2, v3 were promoted, two rollbacks reach v1.
func (r *Registry) Rollback(ctx context.Context, name string, opts ChangeOptions) (int, error) {
	var target int
	err := r.write(ctx, func(w *writer) error {
		s, err := w.serving(name)
		if err != nil {
			return err
		}
		if target, err = w.previousLive(name); err != nil {
			return err
		}
		if err := w.setLive(name, target); err != nil {
			return err
		}
		return w.log(Entry{Function: name, Actor: opts.Actor, Action: ActionRollback, Version: target,
			From: s.live, To: target, Reason: opts.Reason})
	})
	if err != nil {
		return 0, fmt.Errorf("roll back %s: %w", name, err)
	}
	return target, nil
}

// previousLive replays the function's promotions and rollbacks as a stack
// (a promotion pushes the version it replaced, a rollback pops) and
// returns its top.
func (w *writer) previousLive(name string) (int, error) {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT action, from_live FROM audit
		WHERE function = $1 AND action IN ($2, $3, $4) ORDER BY id`,
		name, ActionPromote, ActionForcePromote, ActionRollback)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var stack []int
	for rows.Next() {
		var action string
		var from int
		if err := rows.Scan(&action, &from); err != nil {
			return 0, err
		}
		switch {
		case action == ActionRollback && len(stack) > 0:
			stack = stack[:len(stack)-1]
		case action == ActionRollback:
		case from != 0:
			stack = append(stack, from)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(stack) == 0 {
		return 0, ErrNoPrevious
	}
	return stack[len(stack)-1], nil
}

// Retire stops serving a function: Resolve then returns a *RetiredError
// naming its owner. Its versions and log stay.
func (r *Registry) Retire(ctx context.Context, name string, opts ChangeOptions) error {
	err := r.write(ctx, func(w *writer) error {
		s, err := w.function(name)
		if err != nil || s.retired {
			return err
		}
		if _, err := w.exec("UPDATE functions SET retired = $2, updated_at = $3 WHERE name = $1", name, true, now()); err != nil {
			return err
		}
		return w.log(Entry{Function: name, Actor: opts.Actor, Action: ActionRetire, From: s.live, To: s.live,
			Reason: opts.Reason})
	})
	if err != nil {
		return fmt.Errorf("retire %s: %w", name, err)
	}
	return nil
}

// ImportLock registers the builds a lock file pins, in one transaction: a
// function it names that the registry lacks is added (without an owner), and
// a build already registered for its function (same program, adapter,
// compiler and spec) is not added again.
func (r *Registry) ImportLock(ctx context.Context, entries []LockEntry, actor string) ([]Imported, error) {
	var out []Imported
	err := r.write(ctx, func(w *writer) error {
		out = out[:0]
		for _, e := range entries {
			im, err := w.importEntry(e, actor)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
			out = append(out, im)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import lock: %w", err)
	}
	return out, nil
}

func (w *writer) importEntry(e LockEntry, actor string) (Imported, error) {
	if err := checkName(e.Name); err != nil {
		return Imported{}, err
	}
	if _, err := w.function(e.Name); errors.Is(err, ErrNotFound) {
		if err := w.addFunction(Function{Name: e.Name}, actor); err != nil {
			return Imported{}, err
		}
	} else if err != nil {
		return Imported{}, err
	}
	im := Imported{Function: e.Name}
	err := w.tx.QueryRowContext(w.ctx, `SELECT number FROM versions WHERE function = $1 AND program_id = $2
		AND adapter_sha256 = $3 AND compiler_snapshot = $4 AND spec_hash = $5 ORDER BY number LIMIT 1`,
		e.Name, e.ProgramID, e.AdapterSHA256, e.CompilerSnapshot, e.SpecHash).Scan(&im.Version)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return im, err
	}
	v, err := w.addVersion(Version{Function: e.Name, ProgramID: e.ProgramID, AdapterSHA256: e.AdapterSHA256,
		CompilerSnapshot: e.CompilerSnapshot, SpecHash: e.SpecHash, BuiltAt: e.BuiltAt, CreatedBy: actor})
	im.Version, im.Added = v.Number, true
	return im, err
}

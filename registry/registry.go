// Package registry keeps the functions a deployment serves: their owners,
// scope and expiry, their versions with the last test of each, which
// version is live, and an audit log of every change. It stores them in
// SQLite (one file, the default) or in PostgreSQL (shared by several
// servers) through the same SQL.
package registry

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, pure Go
)

// DefaultBusyTimeoutMS is how long a SQLite writer waits for another's
// transaction before failing with "database is locked".
const DefaultBusyTimeoutMS = 10000

// Sentinel errors; wrapped with the function or version they concern.
var (
	ErrNotFound       = errors.New("registry: not found")
	ErrExists         = errors.New("registry: already exists")
	ErrInvalid        = errors.New("registry: invalid")
	ErrUntested       = errors.New("registry: version has no test result")
	ErrGatesFailed    = errors.New("registry: version's last test failed its gates")
	ErrReasonRequired = errors.New("registry: a forced promote needs a reason")
	ErrNoPrevious     = errors.New("registry: no previous live version to roll back to")
	ErrNoLive         = errors.New("registry: function has no live version")
)

// RetiredError is returned for a retired function: whoever calls it learns
// whom to ask.
type RetiredError struct {
	Function string
	Owner    string
}

func (e *RetiredError) Error() string {
	owner := e.Owner
	if owner == "" {
		owner = "no owner recorded"
	}
	return fmt.Sprintf("registry: function %q is retired (owner: %s)", e.Function, owner)
}

// dialect holds what differs between the two databases; the SQL of the
// operations themselves is the same ($n placeholders work on both).
type dialect struct {
	name string
	// lockMigrations, run first in the migration transaction, keeps two
	// servers from migrating at once; SQLite's BEGIN IMMEDIATE already does.
	lockMigrations string
	// readTx gives reads one consistent snapshot.
	readTx *sql.TxOptions
}

var (
	sqliteDialect   = dialect{name: "sqlite", readTx: &sql.TxOptions{ReadOnly: true}}
	postgresDialect = dialect{
		name:           "postgres",
		lockMigrations: "SELECT pg_advisory_xact_lock(7061770)", // any constant shared by paw's servers
		readTx:         &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
	}
)

// Registry is an open registry database. It is safe for concurrent use, and
// several processes (or, on PostgreSQL, servers) may open the same one.
type Registry struct {
	db *sql.DB
	d  dialect
}

// Open opens the registry at dsn, creating and migrating it as needed: a
// postgres:// or postgresql:// URL opens PostgreSQL, anything else is a
// SQLite file path (its directory is created).
func Open(ctx context.Context, dsn string) (*Registry, error) {
	r := &Registry{d: sqliteDialect}
	driver, source := "sqlite", ""
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		r.d, driver, source = postgresDialect, "pgx", dsn
	} else {
		if dsn == "" || strings.ContainsAny(dsn, "?#") {
			return nil, fmt.Errorf("%w: registry path %q", ErrInvalid, dsn)
		}
		if err := os.MkdirAll(filepath.Dir(dsn), 0o755); err != nil {
			return nil, fmt.Errorf("open registry: %w", err)
		}
		// _txlock=immediate: a write transaction takes the write lock at
		// BEGIN, so two writers never both read and then fail to upgrade.
		source = dsn + "?_txlock=immediate&_pragma=busy_timeout(" + strconv.Itoa(DefaultBusyTimeoutMS) +
			")&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	r.db = db
	if err := r.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open registry %s: %w", redact(dsn), err)
	}
	return r, nil
}

// Close closes the database.
func (r *Registry) Close() error { return r.db.Close() }

// redact hides a DSN's password in errors.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return dsn
}

//go:embed migrations/*.sql
var migrations embed.FS

// migration is one embedded schema step, keyed by the number its file
// name starts with.
type migration struct {
	version int
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := filepath.Base(name)
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version number", base)
		}
		b, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{n, string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the migrations the database lacks, all in one
// transaction. A schema_migrations table (rather than SQLite's PRAGMA
// user_version) records them, so that one mechanism serves both databases.
func (r *Registry) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if r.d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, r.d.lockMigrations); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx,
		"CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return err
	}
	if last := ms[len(ms)-1].version; have > last {
		return fmt.Errorf("%w: database schema version %d is newer than this paw's %d", ErrInvalid, have, last)
	}
	for _, m := range ms {
		if m.version <= have {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
			m.version, now()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

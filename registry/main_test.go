package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paw-dev/paw/internal/pgtest"
)

// The PostgreSQL tests run on a real server: PAW_TEST_POSTGRES (a DSN whose
// user may CREATE DATABASE), or else a private one that the first test
// needing it starts from Debian's postgresql binaries, on a unix socket in a
// temporary directory with no TCP listener, and that TestMain stops.
const pgEnv = "PAW_TEST_POSTGRES"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	code := m.Run()
	pg.stop()
	os.Exit(code)
}

// pgServer is the package's shared PostgreSQL server.
type pgServer struct {
	once   sync.Once
	admin  string         // DSN of a database to CREATE DATABASE from
	skip   string         // why there is no server, when there is none
	err    error          // why the server failed to start
	server *pgtest.Server // the private server; nil if not ours
	dbs    atomic.Int64
}

var pg pgServer

// dsn returns a new, empty database for t, or skips t (fails it in CI)
// when PostgreSQL is not installed.
func (s *pgServer) dsn(t *testing.T) string {
	t.Helper()
	s.once.Do(s.start)
	if s.skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: .ci/run installs it", s.skip)
		}
		t.Skip(s.skip)
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	name := fmt.Sprintf("paw_test_%d_%d", os.Getpid(), s.dbs.Add(1))
	db, err := sql.Open("pgx", s.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", s.admin)
		if err == nil {
			db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, _ := url.Parse(s.admin)
	u.Path = "/" + name
	return u.String()
}

func (s *pgServer) start() {
	if s.admin = os.Getenv(pgEnv); s.admin != "" {
		return
	}
	srv, err := pgtest.Start(context.Background(), 5433)
	switch {
	case errors.Is(err, pgtest.ErrNotInstalled):
		s.skip = err.Error() + " and " + pgEnv + " unset"
	case err != nil:
		s.err = err
	default:
		s.server, s.admin = srv, srv.Admin
	}
}

func (s *pgServer) stop() {
	if s.server != nil {
		s.server.Stop()
	}
}

// forEachBackend runs test on a fresh registry on SQLite and on PostgreSQL;
// dsn opens the same registry again (another process or server).
func forEachBackend(t *testing.T, test func(t *testing.T, r *Registry, dsn string)) {
	backends := []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "sub", "registry.db") }},
		{"postgres", pg.dsn},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			r := open(t, dsn)
			test(t, r, dsn)
		})
	}
}

// open opens a registry closed at the end of t.
func open(t *testing.T, dsn string) *Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// must fails t on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails t unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	once    sync.Once
	admin   string // DSN of a database to CREATE DATABASE from
	skip    string // why there is no server, when there is none
	err     error  // why the server failed to start
	dir     string // the private server's directory; "" if not ours
	pgCtl   string
	asOwner []string // prefix that runs a command as the data directory's owner
	dbs     atomic.Int64
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
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		s.skip = "postgresql not installed (no /usr/lib/postgresql/*/bin/pg_ctl) and " + pgEnv + " unset"
		return
	}
	s.pgCtl = bins[len(bins)-1]
	// Under /tmp when root: the postgres user must reach the directory, and
	// a short path keeps the socket's within the unix limit (107 bytes).
	base := ""
	if os.Geteuid() == 0 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "paw-registry-pg-")
	if err != nil {
		s.err = err
		return
	}
	s.dir = dir
	owner := "postgres"
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: the server runs as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			s.skip = "running as root and there is no postgres user to run the server as"
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			s.err = err
			return
		}
		s.asOwner = []string{"runuser", "-u", "postgres", "--"}
	} else if u, err := user.Current(); err == nil {
		owner = u.Username
	}
	data, port := filepath.Join(dir, "data"), "5433"
	initdb := filepath.Join(filepath.Dir(s.pgCtl), "initdb")
	if out, err := s.run(initdb, "-D", data, "-U", owner, "--auth=trust", "--no-locale", "-E", "UTF8"); err != nil {
		s.err = fmt.Errorf("initdb: %v\n%s", err, out)
		return
	}
	// fsync=off: a test server's durability does not matter, and the
	// kill tests kill the client, never the server.
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -p %s -c fsync=off -c max_connections=100", dir, port)
	if out, err := s.run(s.pgCtl, "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		s.err = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
		return
	}
	s.admin = fmt.Sprintf("postgres://%s@/postgres?host=%s&port=%s&sslmode=disable", owner, dir, port)
}

func (s *pgServer) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, s.asOwner...), name), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

func (s *pgServer) stop() {
	if s.dir == "" {
		return
	}
	if s.pgCtl != "" {
		s.run(s.pgCtl, "stop", "-m", "immediate", "-D", filepath.Join(s.dir, "data"))
	}
	os.RemoveAll(s.dir)
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

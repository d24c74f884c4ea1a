// Package pgtest starts a private PostgreSQL server for tests and local
// clusters: Debian's postgresql binaries, on a unix socket in a temporary
// directory, no TCP listener, run as the postgres user when the caller is
// root (PostgreSQL refuses to run as root).
package pgtest

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

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// ErrNotInstalled is a machine without /usr/lib/postgresql/*/bin/pg_ctl.
var ErrNotInstalled = errors.New("pgtest: postgresql not installed (no /usr/lib/postgresql/*/bin/pg_ctl)")

// Server is a running private server. Stop it when done.
type Server struct {
	// Admin is the DSN of the postgres database, to create others from.
	Admin   string
	dir     string
	pgCtl   string
	asOwner []string // prefix that runs a command as the data directory's owner
}

// Start initialises and starts a server on port (the socket's name; no
// TCP listener), fsync off: a test server's durability does not matter.
func Start(ctx context.Context, port int) (*Server, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		return nil, ErrNotInstalled
	}
	s := &Server{pgCtl: bins[len(bins)-1]}
	// Under /tmp when root: the postgres user must reach the directory, and
	// a short path keeps the socket's within the unix limit (107 bytes).
	base := ""
	if os.Geteuid() == 0 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "paw-pg-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	owner := "postgres"
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("pgtest: running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			s.Stop()
			return nil, err
		}
		s.asOwner = []string{"runuser", "-u", "postgres", "--"}
	} else if u, err := user.Current(); err == nil {
		owner = u.Username
	}
	data := filepath.Join(dir, "data")
	initdb := filepath.Join(filepath.Dir(s.pgCtl), "initdb")
	if out, err := s.run(ctx, initdb, "-D", data, "-U", owner, "--auth=trust", "--no-locale", "-E", "UTF8"); err != nil {
		s.Stop()
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -p %d -c fsync=off -c max_connections=100", dir, port)
	if out, err := s.run(ctx, s.pgCtl, "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		s.Stop()
		return nil, fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	s.Admin = fmt.Sprintf("postgres://%s@/postgres?host=%s&port=%d&sslmode=disable", owner, dir, port)
	return s, nil
}

// CreateDB creates an empty database and returns its DSN.
func (s *Server) CreateDB(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", s.Admin)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	u, _ := url.Parse(s.Admin)
	u.Path = "/" + name
	return u.String(), nil
}

func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, s.asOwner...), name), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	if _, err := os.Stat(filepath.Join(s.dir, "data", "postmaster.pid")); err == nil {
		s.run(context.Background(), s.pgCtl, "stop", "-m", "immediate", "-D", filepath.Join(s.dir, "data"))
	}
	os.RemoveAll(s.dir)
}

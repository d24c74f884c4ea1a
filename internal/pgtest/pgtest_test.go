package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"
)

func TestStart(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, 5434)
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	dsn, err := s.CreateDB(ctx, "pgtest_db")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil || name != "pgtest_db" {
		t.Fatalf("current_database() = %q, %v", name, err)
	}
}

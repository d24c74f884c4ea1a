package registry

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seed adds function name with n versions; passed[i] is recorded as the
// test verdict of version i+1 (no entry: untested).
func seed(t *testing.T, r *Registry, name string, n int, passed ...bool) {
	t.Helper()
	ctx := context.Background()
	must(t, r.AddFunction(ctx, Function{Name: name, Owner: "alice", Gates: json.RawMessage(`{"min_accuracy":0.9}`)}, "alice"))
	for i := 1; i <= n; i++ {
		v, err := r.AddVersion(ctx, Version{Function: name, ProgramID: "prog" + string(rune('0'+i)), CreatedBy: "ci"})
		must(t, err)
		if v.Number != i {
			t.Fatalf("version %d numbered %d", i, v.Number)
		}
		if i <= len(passed) {
			must(t, r.RecordTest(ctx, name, i, json.RawMessage(`{"accuracy":0.5}`), passed[i-1], "ci"))
		}
	}
}

// checkChain checks that es, one function's log, is one history: each
// entry's From is the previous entry's To, and ids increase.
func checkChain(t *testing.T, es []Entry) {
	t.Helper()
	live, id := 0, int64(0)
	for _, e := range es {
		if e.From != live || e.ID <= id {
			t.Fatalf("entry %+v does not follow live v%d, id %d", e, live, id)
		}
		live, id = e.To, e.ID
	}
}

// moves returns the log's live changes as "action from->to" strings.
func moves(es []Entry) []string {
	var out []string
	for _, e := range es {
		if e.From != e.To {
			out = append(out, e.Action+" "+string(rune('0'+e.From))+"->"+string(rune('0'+e.To)))
		}
	}
	return out
}

// TestPromoteGatesRollback: promote refuses untested and failing versions
// unless forced with a reason, which the log keeps; rollbacks walk back
// through the promotions; every change is logged as one history.
func TestPromoteGatesRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry, _ string) {
		ctx := context.Background()
		seed(t, r, "triage", 3, true, false) // v1 passed, v2 failed, v3 untested
		wantErr(t, r.Promote(ctx, "triage", 3, PromoteOptions{Actor: "bob"}), ErrUntested)
		wantErr(t, r.Promote(ctx, "triage", 2, PromoteOptions{Actor: "bob"}), ErrGatesFailed)
		wantErr(t, r.Promote(ctx, "triage", 2, PromoteOptions{Actor: "bob", Force: true}), ErrReasonRequired)
		wantErr(t, r.Promote(ctx, "triage", 9, PromoteOptions{Actor: "bob"}), ErrNotFound)
		wantErr(t, r.Promote(ctx, "nope", 1, PromoteOptions{Actor: "bob"}), ErrNotFound)
		if _, err := r.Resolve(ctx, "triage"); !errors.Is(err, ErrNoLive) {
			t.Fatalf("resolve before any promote: %v", err)
		}
		g0, err := r.Generation(ctx)
		must(t, err)

		must(t, r.Promote(ctx, "triage", 1, PromoteOptions{Actor: "bob"}))
		must(t, r.Promote(ctx, "triage", 2, PromoteOptions{Actor: "bob", Force: true, Reason: "hotfix for INC-7"}))
		must(t, r.RecordTest(ctx, "triage", 3, json.RawMessage(`{"accuracy":0.95}`), true, "ci"))
		must(t, r.Promote(ctx, "triage", 3, PromoteOptions{Actor: "carol"}))
		must(t, r.Promote(ctx, "triage", 3, PromoteOptions{Actor: "carol"})) // already live: no change
		if g, _ := r.Generation(ctx); g != g0+4 {
			t.Errorf("generation %d after 4 changes from %d", g, g0)
		}
		v, err := r.Resolve(ctx, "triage")
		must(t, err)
		if v.Number != 3 || v.ProgramID != "prog3" || v.Test == nil || !v.Test.Passed {
			t.Errorf("live = %+v", v)
		}
		if v, err := r.Resolve(ctx, "triage@v2"); err != nil || v.Number != 2 || v.Test.Passed {
			t.Errorf("triage@v2 = %+v, %v", v, err)
		}
		for _, want := range []int{2, 1} {
			got, err := r.Rollback(ctx, "triage", ChangeOptions{Actor: "dave", Reason: "bad outputs"})
			if err != nil || got != want {
				t.Fatalf("rollback = v%d, %v; want v%d", got, err, want)
			}
		}
		if _, err := r.Rollback(ctx, "triage", ChangeOptions{Actor: "dave"}); !errors.Is(err, ErrNoPrevious) {
			t.Fatalf("rollback past the first promotion: %v", err)
		}
		es, err := r.Log(ctx, "triage", 0)
		must(t, err)
		checkChain(t, es)
		want := []string{"promote 0->1", "force-promote 1->2", "promote 2->3", "rollback 3->2", "rollback 2->1"}
		if diff := cmp.Diff(want, moves(es)); diff != "" {
			t.Errorf("live changes (-want +got):\n%s", diff)
		}
		var forced Entry
		for _, e := range es {
			if e.Action == ActionForcePromote {
				forced = e
			}
		}
		if forced.Reason != "hotfix for INC-7" || forced.Actor != "bob" || forced.Version != 2 {
			t.Errorf("forced promote logged as %+v", forced)
		}
		if last, _ := r.Log(ctx, "", 2); len(last) != 2 || last[1].Action != ActionRollback || last[1].Reason != "bad outputs" {
			t.Errorf("last 2 entries: %+v", last)
		}
		if live, err := r.LiveVersions(ctx); err != nil || !cmp.Equal(live, map[string]int{"triage": 1}) {
			t.Errorf("live versions %v, %v", live, err)
		}
		d, err := r.Show(ctx, "triage")
		must(t, err)
		if d.Live != 1 || len(d.Versions) != 3 || d.Versions[2].Test == nil || string(d.Versions[2].Test.Result) != `{"accuracy":0.95}` ||
			string(d.Gates) != `{"min_accuracy":0.9}` || d.Owner != "alice" {
			t.Errorf("show = %+v", d)
		}
	})
}

// TestExpiryRetire: List marks functions past their expiry; a retired
// function resolves to an error naming its owner and cannot be promoted.
func TestExpiryRetire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry, _ string) {
		ctx := context.Background()
		day := 24 * time.Hour
		must(t, r.AddFunction(ctx, Function{Name: "old", Owner: "erin", Expires: time.Now().Add(-day)}, "erin"))
		must(t, r.AddFunction(ctx, Function{Name: "new", Owner: "erin", Expires: time.Now().Add(day)}, "erin"))
		must(t, r.AddFunction(ctx, Function{Name: "forever", Owner: "erin"}, "erin"))
		fs, err := r.List(ctx)
		must(t, err)
		expired := map[string]bool{}
		for _, f := range fs {
			expired[f.Name] = f.Expired
		}
		if want := map[string]bool{"old": true, "new": false, "forever": false}; !cmp.Equal(expired, want) {
			t.Errorf("expired = %v, want %v", expired, want)
		}

		seed(t, r, "intent", 1, true)
		must(t, r.Promote(ctx, "intent", 1, PromoteOptions{Actor: "alice"}))
		must(t, r.Retire(ctx, "intent", ChangeOptions{Actor: "alice", Reason: "replaced by intent2"}))
		for _, ref := range []string{"intent", "intent@v1"} {
			_, err := r.Resolve(ctx, ref)
			var re *RetiredError
			if !errors.As(err, &re) || re.Function != "intent" || re.Owner != "alice" {
				t.Fatalf("resolve %s of a retired function: %v", ref, err)
			}
		}
		var re *RetiredError
		if err := r.Promote(ctx, "intent", 1, PromoteOptions{Actor: "bob"}); !errors.As(err, &re) {
			t.Errorf("promote of a retired function: %v", err)
		}
		if _, err := r.Rollback(ctx, "intent", ChangeOptions{Actor: "bob"}); !errors.As(err, &re) {
			t.Errorf("rollback of a retired function: %v", err)
		}
		if live, _ := r.LiveVersions(ctx); live["intent"] != 0 {
			t.Errorf("retired function still live: %v", live)
		}
		es, _ := r.Log(ctx, "intent", 1)
		if len(es) != 1 || es[0].Action != ActionRetire || es[0].Reason != "replaced by intent2" {
			t.Errorf("retire logged as %+v", es)
		}
	})
}

// TestImportLock: a lock's builds become versions once; a new build of a
// function becomes its next version; an unknown function is added.
func TestImportLock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry, dsn string) {
		ctx := context.Background()
		built := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		lock := []LockEntry{
			{Name: "triage", ProgramID: "p1", AdapterSHA256: "aa", CompilerSnapshot: "c1", SpecHash: "s1", BuiltAt: built},
			{Name: "repair", ProgramID: "p2", AdapterSHA256: "bb", CompilerSnapshot: "c1", SpecHash: "s2"},
		}
		got, err := r.ImportLock(ctx, lock, "ci")
		must(t, err)
		want := []Imported{{"triage", 1, true}, {"repair", 1, true}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("first import (-want +got):\n%s", diff)
		}
		lock[1].SpecHash = "s3"
		got, err = r.ImportLock(ctx, lock, "ci")
		must(t, err)
		want = []Imported{{"triage", 1, false}, {"repair", 2, true}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("second import (-want +got):\n%s", diff)
		}
		// A bad entry rolls back the whole import.
		gen, _ := r.Generation(ctx)
		_, err = r.ImportLock(ctx, []LockEntry{{Name: "fresh", ProgramID: "p9"}, {Name: "bad@name", ProgramID: "p"}}, "ci")
		wantErr(t, err, ErrInvalid)
		if _, err := r.Show(ctx, "fresh"); !errors.Is(err, ErrNotFound) {
			t.Errorf("failed import left a function: %v", err)
		}
		if g, _ := r.Generation(ctx); g != gen {
			t.Errorf("failed import moved the generation from %d to %d", gen, g)
		}
		v, err := open(t, dsn).Resolve(ctx, "triage@v1") // a second opening: the migrations run once
		must(t, err)
		if v.ProgramID != "p1" || v.AdapterSHA256 != "aa" || v.SpecHash != "s1" || !v.BuiltAt.Equal(built) || v.CreatedBy != "ci" {
			t.Errorf("imported version %+v", v)
		}
	})
}

// TestInvalid: bad names, duplicate functions and non-JSON are refused.
func TestInvalid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *Registry, _ string) {
		ctx := context.Background()
		must(t, r.AddFunction(ctx, Function{Name: "f"}, "a"))
		wantErr(t, r.AddFunction(ctx, Function{Name: "f"}, "a"), ErrExists)
		wantErr(t, r.AddFunction(ctx, Function{Name: "g@v1"}, "a"), ErrInvalid)
		wantErr(t, r.AddFunction(ctx, Function{Name: "g", Gates: json.RawMessage("{")}, "a"), ErrInvalid)
		wantErr(t, r.UpdateFunction(ctx, Function{Name: "g"}, "a"), ErrNotFound)
		_, err := r.AddVersion(ctx, Version{Function: "g", ProgramID: "p"})
		wantErr(t, err, ErrNotFound)
		wantErr(t, r.RecordTest(ctx, "f", 1, nil, true, "a"), ErrNotFound)
		_, err = r.Resolve(ctx, "f@vx")
		wantErr(t, err, ErrInvalid)
		// The database itself refuses a live pointer to a missing version.
		if err := r.write(ctx, func(w *writer) error { return w.setLive("f", 9) }); err == nil {
			t.Error("live set to a version that does not exist")
		}
		must(t, r.UpdateFunction(ctx, Function{Name: "f", Owner: "bob", Scope: "tickets only"}, "a"))
		if d, _ := r.Show(ctx, "f"); d.Owner != "bob" || d.Scope != "tickets only" {
			t.Errorf("update not stored: %+v", d)
		}
	})
}

// TestSQLiteSettings: the SQLite file runs in WAL mode with foreign keys
// and a busy timeout on every connection.
func TestSQLiteSettings(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "registry.db"))
	var mode string
	var fk, busy int
	for i := 0; i < 3; i++ { // several connections of the pool
		conn, err := r.db.Conn(context.Background())
		must(t, err)
		defer conn.Close()
		must(t, conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode))
		must(t, conn.QueryRowContext(context.Background(), "PRAGMA foreign_keys").Scan(&fk))
		must(t, conn.QueryRowContext(context.Background(), "PRAGMA busy_timeout").Scan(&busy))
		if mode != "wal" || fk != 1 || busy != DefaultBusyTimeoutMS {
			t.Errorf("connection %d: journal_mode %s, foreign_keys %d, busy_timeout %d", i, mode, fk, busy)
		}
	}
}

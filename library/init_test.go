package library

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paw-dev/paw/eval"
)

// TestInit: the starter project loads, its cases read, and a second Init
// refuses without touching anything.
func TestInit(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	written, err := Init(dir, now)
	if err != nil || len(written) != 2 {
		t.Fatalf("Init = %v, %v", written, err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatalf("the starter manifest does not load: %v", err)
	}
	f := m.Function("pager_worthy")
	if f == nil || f.Expires != now.AddDate(1, 0, 0) || f.Owner == "" || f.Gates.MinAccuracy == nil {
		t.Fatalf("starter function = %+v", f)
	}
	cases, err := eval.OpenCases(m.CasesPath(f), eval.Columns{})
	if err != nil || len(cases) != 8 {
		t.Fatalf("starter cases: %d, %v", len(cases), err)
	}
	os.Remove(filepath.Join(dir, ManifestFile))
	before, _ := os.ReadFile(filepath.Join(dir, "cases", "pager_worthy.jsonl"))
	if _, err := Init(dir, now); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second Init = %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !os.IsNotExist(err) {
		t.Error("a refused Init wrote paw.yaml")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "cases", "pager_worthy.jsonl")); string(after) != string(before) {
		t.Error("a refused Init changed the cases")
	}
}

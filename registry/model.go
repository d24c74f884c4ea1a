package registry

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Function is a registered fuzzy function and how it is governed.
type Function struct {
	Name       string          `json:"name"`
	Owner      string          `json:"owner"`
	Scope      string          `json:"scope,omitempty"`       // intended use, and what it must not be used for
	Expires    time.Time       `json:"expires,omitzero"`      // zero: never
	RetireWhen string          `json:"retire_when,omitempty"` // deletion criteria, as text
	CasesPath  string          `json:"cases_path,omitempty"`  // the test set
	CasesHash  string          `json:"cases_hash,omitempty"`
	Gates      json.RawMessage `json:"gates,omitempty"` // e.g. {"min_accuracy":0.9}
	Retired    bool            `json:"retired"`
	Live       int             `json:"live"`    // the live version's number; 0: none
	Expired    bool            `json:"expired"` // Expires has passed (set on reads)
	Created    time.Time       `json:"created"`
	Updated    time.Time       `json:"updated"`
}

// Version is one build of a function, numbered 1, 2, … per function.
type Version struct {
	Function         string      `json:"function"`
	Number           int         `json:"number"`
	ProgramID        string      `json:"program_id"`
	AdapterSHA256    string      `json:"adapter_sha256,omitempty"`
	CompilerSnapshot string      `json:"compiler_snapshot,omitempty"`
	SpecHash         string      `json:"spec_hash,omitempty"`
	BuiltAt          time.Time   `json:"built_at,omitzero"`
	Created          time.Time   `json:"created"`
	CreatedBy        string      `json:"created_by"`
	Test             *TestResult `json:"test,omitempty"` // the last test; nil: never tested
	// Serve is what servers saw of this version (Show only); nil: never served.
	Serve *ServeStats `json:"serve,omitempty"`
}

// Ref returns "name@vN".
func (v Version) Ref() string { return fmt.Sprintf("%s@v%d", v.Function, v.Number) }

// TestResult is a version's last recorded test against its function's gates.
type TestResult struct {
	Passed bool            `json:"passed"`
	Result json.RawMessage `json:"result,omitempty"` // the harness's report
	At     time.Time       `json:"at"`
}

// Detail is a function with all its versions, oldest first.
type Detail struct {
	Function
	Versions []Version `json:"versions"`
}

// Audit log actions.
const (
	ActionAdd          = "add"
	ActionUpdate       = "update"
	ActionVersion      = "version" // a version was registered
	ActionTest         = "test"
	ActionPromote      = "promote"
	ActionForcePromote = "force-promote" // promoted past its gates
	ActionRollback     = "rollback"
	ActionRetire       = "retire"
)

// Entry is one change in the audit log. From and To are the live version
// before and after it (0: none), so each entry's From is the previous
// entry's To for the same function.
type Entry struct {
	ID       int64     `json:"id"`
	Function string    `json:"function"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Version  int       `json:"version,omitempty"` // the version acted on
	From     int       `json:"from"`
	To       int       `json:"to"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// PromoteOptions qualify a promote.
type PromoteOptions struct {
	Actor  string
	Reason string
	// Force promotes a version that is untested or failed its gates; it
	// needs a Reason, which the audit log keeps.
	Force bool
}

// ChangeOptions say who makes a change and why.
type ChangeOptions struct {
	Actor  string
	Reason string
}

// LockEntry is one function's pinned build, as a paw.lock records it.
type LockEntry struct {
	Name             string
	ProgramID        string
	AdapterSHA256    string
	CompilerSnapshot string
	SpecHash         string
	BuiltAt          time.Time
}

// Imported says what ImportLock did with one entry.
type Imported struct {
	Function string `json:"function"`
	Version  int    `json:"version"`
	Added    bool   `json:"added"` // false: that build was already registered
}

// ParseRef splits "name" or "name@vN" (also "name@N"); version 0 means the
// live one.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, ok := strings.Cut(ref, "@")
	if err := checkName(name); err != nil {
		return "", 0, err
	}
	if !ok {
		return name, 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("%w: version %q: want vN, N >= 1", ErrInvalid, v)
	}
	return name, n, nil
}

// checkName rejects names that could not be written as a ref.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "@ \t\n/") {
		return fmt.Errorf("%w: function name %q", ErrInvalid, name)
	}
	return nil
}

// now is the time a change is stamped with, in the stored unit.
func now() int64 { return time.Now().UnixMicro() }

// fromMicros reads a stored time; 0 is the zero time.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// toMicros stores a time; the zero time is 0.
func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

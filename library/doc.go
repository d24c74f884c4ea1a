// Package library is a project's typed library of fuzzy functions: the
// manifest paw.yaml (each function's spec, output contract, owner, scope,
// expiry, test set and gates), the lock paw.lock that pins what each
// function compiled to, the build plan that recompiles only what changed,
// and the typed Go code generated for the functions.
package library

import "errors"

// Sentinel errors.
var (
	// ErrManifest means paw.yaml is malformed; the *Error values joined with
	// it name the line and column.
	ErrManifest = errors.New("library: invalid manifest")
	// ErrLock means paw.lock is malformed.
	ErrLock = errors.New("library: invalid lock")
	// ErrNotBuilt means a function has no lock entry for its current spec:
	// `paw build` has not run since it changed.
	ErrNotBuilt = errors.New("library: function not built")
	// ErrMismatch means a cached program differs from what the lock pins.
	ErrMismatch = errors.New("library: program does not match the lock")
	// ErrUnsupportedSchema means a JSON Schema uses a construct the Go
	// generator does not turn into types.
	ErrUnsupportedSchema = errors.New("library: JSON Schema construct not supported by the Go generator")
)

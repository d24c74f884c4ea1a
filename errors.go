package paw

import (
	"errors"

	"github.com/paw-dev/paw/hub"
	"github.com/paw-dev/paw/interp"
	"github.com/paw-dev/paw/registry"
)

// Errors callers can test with errors.Is. Most are the engine's and the
// hub's own values, so a caller needs no other package to match them.
var (
	// ErrClosed: the engine or the function was closed before or during the call.
	ErrClosed = interp.ErrClosed
	// ErrFuncClosed: the function was closed; it matches ErrClosed too.
	ErrFuncClosed = interp.ErrFuncClosed
	// ErrInputTooLong: the input does not fit the base model's context.
	ErrInputTooLong = interp.ErrInputTooLong
	// ErrNoValidOutput: a call with a contract found no output satisfying it.
	ErrNoValidOutput = interp.ErrNoValidOutput
	// ErrOptions: a call's options are invalid (a negative temperature, say).
	ErrOptions = interp.ErrOptions
	// ErrBaseMismatch: the program's adapter does not fit the base model
	// (Options.Model, or the model its runtime names).
	ErrBaseMismatch = interp.ErrBaseMismatch
	// ErrNotCached: a program or base model is not in the cache; with
	// Options.Offline the error also matches ErrOffline. Both come as a
	// *MissingError saying what is missing.
	ErrNotCached = hub.ErrNotCached
	ErrOffline   = hub.ErrOffline
	// ErrNotFound: the service has no such program or runtime.
	ErrNotFound = hub.ErrNotFound
	// ErrNoRuntime: a program names no runtime or known interpreter, so only
	// Options.Model can say which base model runs it.
	ErrNoRuntime = errors.New("paw: program names no runtime or known interpreter")
	// ErrEngineOptions: Open was given Options that contradict each other.
	ErrEngineOptions = errors.New("paw: conflicting Options")
	// ErrNoLive: a name resolved through Options.Registry has no live version.
	ErrNoLive = registry.ErrNoLive
)

// RetiredError: a name resolved through Options.Registry is retired; it
// names the owner to ask.
type RetiredError = registry.RetiredError

// MissingError names a program or base model that is not cached.
type MissingError = hub.MissingError

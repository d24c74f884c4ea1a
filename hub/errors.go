package hub

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrNotCached means the item is not in the cache.
	ErrNotCached = errors.New("hub: not cached")
	// ErrOffline means the item is not cached and Client.Offline forbids the network.
	ErrOffline = errors.New("hub: offline")
	// ErrNotFound means the service has no such program or runtime.
	ErrNotFound = errors.New("hub: not found")
	// ErrChecksum means downloaded bytes do not match the expected size or sha256.
	ErrChecksum = errors.New("hub: checksum mismatch")
	// ErrInvalidBundle means a downloaded program failed validation.
	ErrInvalidBundle = errors.New("hub: invalid program bundle")
	// ErrPinMismatch means a runtime manifest contradicts a pinned runtime.
	ErrPinMismatch = errors.New("hub: runtime manifest conflicts with pin")
	// ErrBadRef means a reference or identifier cannot name a cached item.
	ErrBadRef = errors.New("hub: invalid reference")
	// ErrBadResponse means the service sent something malformed.
	ErrBadResponse = errors.New("hub: malformed response")
	// ErrNotReady means the service kept building a program past Client.BuildTimeout.
	ErrNotReady = errors.New("hub: program still building")
	// ErrNoQuantizer means a requantized base model was asked of a Client without a Quantizer.
	ErrNoQuantizer = errors.New("hub: no quantizer configured")
)

// MissingError says what is not cached and how to get it. It matches
// ErrOffline (in offline mode) or ErrNotCached.
type MissingError struct {
	Kind    string // "program", "slug", "runtime", "compiler" or "pseudo-program writer"
	Ref     string // what was asked for
	Offline bool
}

func (e *MissingError) Error() string {
	if e.Offline {
		return fmt.Sprintf("hub: offline mode and %s %s is not cached; run `paw pull %s` while online", e.Kind, e.Ref, e.Ref)
	}
	return fmt.Sprintf("hub: %s %s is not cached; run `paw pull %s`", e.Kind, e.Ref, e.Ref)
}

func (e *MissingError) Unwrap() error {
	if e.Offline {
		return ErrOffline
	}
	return ErrNotCached
}

// Is lets a MissingError match ErrNotCached even in offline mode.
func (e *MissingError) Is(target error) bool { return target == ErrNotCached }

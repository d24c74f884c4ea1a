// Command paw runs fuzzy functions compiled to weights, locally.
//
// Exit status: 0 success, 1 failure, 2 usage error (an unknown command or
// flag, a bad argument or flag value, flags that conflict or do nothing
// together), 130 interrupted (SIGINT or SIGTERM).
//
// Every --json output is JSON Lines: one compact object per line with
// snake_case keys. Per-item output (paw run's results, one per input in
// input order; paw ls and paw pull, one per cached or pulled item; paw test
// without a program, one per function of paw.yaml; paw discover, one per
// template) prints one line per item;
// every other command prints exactly one line, a summary.
//
// List-valued flags (--stop, --labels, --tag) are repeatable and take each
// value verbatim, commas included: --labels yes --labels "no, never".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // 128 + SIGINT, as shells report it
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "paw:", err)
	}
	code := exitCode(err)
	if err != nil && interrupted {
		code = exitInterrupted // whatever the error says, a signal stopped it
	}
	os.Exit(code)
}

// exitCode maps a command's error to the exit status.
func exitCode(err error) int {
	var usage *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &usage):
		return exitUsage
	}
	return exitFailure
}

// usageError is a command line that cannot run as given: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// asUsage marks err (if any) as a usage error.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

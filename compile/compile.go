// Package compile turns a spec (what a fuzzy function should do, in words)
// into a program. Compiler is the seam: compile/hosted asks the hosted PAW
// service, and a local trainer can implement the same interface.
package compile

import (
	"context"
	"errors"

	"github.com/paw-dev/paw/program"
)

// Sentinel errors.
var (
	// ErrFailed means the compiler ran but could not produce a program.
	ErrFailed = errors.New("compile: compilation failed")
	// ErrCancelled means the compile job was cancelled.
	ErrCancelled = errors.New("compile: cancelled")
	// ErrSpec means the request is not acceptable (e.g. an empty spec).
	ErrSpec = errors.New("compile: invalid request")
)

// Request is what to compile.
type Request struct {
	Spec     string   // what the function does, in words (required)
	Compiler string   // compiler name; "" means the service's default
	Slug     string   // publish as this slug ("name" or "user/name"); optional
	Name     string   // display name; optional
	Tags     []string // optional
	// Private keeps the program unlisted; the zero value publishes it, as
	// the service does by default.
	Private bool
	// Ephemeral asks the service not to keep the program long term.
	Ephemeral bool
}

// Result is a compiled program.
type Result struct {
	ProgramID        string
	Slug             string
	Version          int
	VersionAction    string // e.g. "created" or "unchanged"
	Status           string
	Compiler         string // compiler kind
	CompilerSnapshot string
	RuntimeID        string
	Timings          map[string]float64
	// Program is the compiled program when the compiler produced it
	// locally; hosted compilers leave it nil (fetch ProgramID with hub).
	Program *program.Program
}

// Compiler compiles specs into programs.
type Compiler interface {
	Compile(ctx context.Context, req Request) (*Result, error)
}

// Func adapts a function to Compiler (handy for fakes).
type Func func(ctx context.Context, req Request) (*Result, error)

// Compile calls f.
func (f Func) Compile(ctx context.Context, req Request) (*Result, error) { return f(ctx, req) }

var _ Compiler = Func(nil)

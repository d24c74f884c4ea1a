// Package library is a project's typed library of fuzzy functions: the
// manifest paw.yaml (each function's spec, output contract, owner, scope,
// expiry, test set and gates), the lock paw.lock that pins what each
// function compiled to, the build plan that recompiles only what changed,
// and the typed Go code generated for the functions.
//
// The manifest, decoded strictly (an unknown or repeated key is an error at
// its line and column):
//
//	version: 1                      # optional
//	functions:
//	  - name: pager_worthy          # lower case, digits, single underscores
//	    spec: |                     # what is compiled
//	      Return true only when this log line suggests user-facing impact.
//	    labels: [true, false]       # or schema: FILE.json | schema: {inline JSON Schema}
//	                                # or regex: 'RE2'; none of them = free text
//	    owner: sre@example.com      # required
//	    scope: {use: paging decisions, not_for: security alerts}
//	    expires: 2027-06-30         # YYYY-MM-DD; and/or
//	    retire_when: the services log user impact themselves
//	    cases: cases/pager_worthy.jsonl   # relative to paw.yaml
//	    gates: {min_accuracy: 0.9, min_accuracy_normalized: 0.9, max_invalid: 0, max_p95_ms: 250}
//	    compiler: paw-4b-qwen3-0.6b # DefaultCompiler when left out; local-lora trains here,
//	                                # local-mapper runs PAW's fast compiler here:
//	    # base: models/base.gguf    # local-lora only (required): a GGUF in the project or a runtime id
//	    # examples: ex.jsonl        # local-lora only: {"input", "output"} lines, besides spec and cases
//	    # mapper: paw-4b-gpt2       # local-mapper (PAW's fast compiler, here) only: paw-4b-qwen3-0.6b
//	                                # (the default), paw-4b-gpt2 or a compiler directory in the project;
//	                                # the interpreter follows an official one
//	    # pseudo_program: p.txt     # local-mapper only: the pseudo-program (default: the writer model's)
//	    # writer_model: w.gguf      # local-mapper only: the writer (default: the compiler's writer.gguf)
//	    # writer_max_tokens: 300    # local-mapper only: the most tokens it may write (default 512)
//	    interpreter: qwen3          # or gpt2; left out with local-lora = the base's own, with a
//	                                # local-mapper directory = its own
//	    baseline: {url: https://api.openai.com/v1, model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}
//	    fallback: calibrate         # or a confidence threshold in (0, 1]; needs a baseline
//
// Which functions a build compiles is decided by SpecHash; see it for
// exactly what the hash covers. A build compiles the functions whose
// compilers are BatchCompilers of one batch together (local-mapper's: one
// loading of each model for all of them).
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
